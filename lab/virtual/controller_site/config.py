"""The emulated site's part of a bench file: [virtual.plant] and [virtual.site_devices.NAME].

Every mistake names the table and key, so an operator can fix the file
without reading code.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from flexbench.lab.bench_config import BenchError

KINDS = ("pv", "battery", "meter")
INVERTER_FAMILIES = ("sunspec-7xx", "sunspec-legacy")
METER_FAMILIES = ("sunspec", "regmap")
TRANSPORTS = ("tcp", "rtu")
SUNSPEC_METER_MODELS = (201, 202, 203, 204)
DEFAULT_LISTEN = "127.0.0.1:0"


@dataclass(frozen=True)
class DeviceSpec:
    """One device of the site as the bench file declares it."""

    name: str
    kind: str
    family: str
    rated_w: float
    unit_id: int = 1
    listen: tuple[str, int] = ("127.0.0.1", 0)
    transport: str = "tcp"
    baud: int = 115200
    model: int = 203  # SunSpec meter model (201-204)
    register_map: str = "eastron-sdm630"  # register-map meter


@dataclass
class ControllerPlantParameters:
    """Site-wide physics; profiles are [[bench seconds since start, value], ...], held between points."""

    nominal_voltage_v: float = 240.0
    nominal_frequency_hz: float = 60.0
    phases: int = 3
    inverter_efficiency: float = 0.97
    device_time_constant_s: float = 0.3  # first-order lag of every inverter's output
    irradiance_pu: float | list[list[float]] = 1.0  # PV available per unit of rating, when no PV simulator
    load_w: float | list[list[float]] = 0.0  # uncontrolled load, when no AC load instrument
    battery_soc_pct: float = 50.0  # reported state of charge (the battery is never empty or full)


_DEVICE_KEYS = {"kind", "family", "rated_w", "unit_id", "listen", "transport", "baud", "model", "map"}


def _where(path: Any, name: str, key: str | None = None) -> str:
    return f"{path} [virtual.site_devices.{name}]" + (f": {key}" if key else "")


def parse_listen(text: Any, where: str) -> tuple[str, int]:
    if not isinstance(text, str) or text.count(":") != 1:
        raise BenchError(
            f'{where}: expected "host:port" (e.g. "127.0.0.1:0" for a port chosen at run time), got {text!r}'
        )
    host, port = text.rsplit(":", 1)
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise BenchError(f'{where}: expected "host:port" with a port 0-65535, got {text!r}')
    return host, int(port)


def parse_device(path: Any, name: str, table: Any) -> DeviceSpec:
    if not isinstance(table, dict):
        raise BenchError(f"{_where(path, name)}: must be a table")
    unknown = set(table) - _DEVICE_KEYS
    if unknown:
        raise BenchError(
            f"{_where(path, name)}: unknown key(s) {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(_DEVICE_KEYS))})"
        )
    kind = table.get("kind")
    if kind not in KINDS:
        raise BenchError(f"{_where(path, name, 'kind')} must be one of {', '.join(KINDS)}, got {kind!r}")
    families = METER_FAMILIES if kind == "meter" else INVERTER_FAMILIES
    family = table.get("family", families[0])
    if family not in families:
        raise BenchError(
            f"{_where(path, name, 'family')} for a {kind} must be one of {', '.join(families)}, got {family!r}"
        )
    rated = table.get("rated_w", 20000.0 if kind == "meter" else None)
    if isinstance(rated, bool) or not isinstance(rated, (int, float)) or rated <= 0:
        raise BenchError(f"{_where(path, name, 'rated_w')} must be a positive number of watts, got {rated!r}")
    unit_id = table.get("unit_id", 1)
    if isinstance(unit_id, bool) or not isinstance(unit_id, int) or not 1 <= unit_id <= 247:
        raise BenchError(f"{_where(path, name, 'unit_id')} must be an integer 1-247, got {unit_id!r}")
    transport = table.get("transport", "tcp")
    if transport not in TRANSPORTS:
        raise BenchError(f"{_where(path, name, 'transport')} must be one of {', '.join(TRANSPORTS)}, got {transport!r}")
    baud = table.get("baud", 115200)
    if isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0:
        raise BenchError(f"{_where(path, name, 'baud')} must be a positive integer, got {baud!r}")
    model = table.get("model", 203)
    if kind != "meter" or family != "sunspec":
        if "model" in table:
            raise BenchError(f"{_where(path, name, 'model')} applies to a SunSpec meter only")
    elif model not in SUNSPEC_METER_MODELS:
        raise BenchError(
            f"{_where(path, name, 'model')} must be one of {', '.join(map(str, SUNSPEC_METER_MODELS))}, got {model!r}"
        )
    if "map" in table and (kind != "meter" or family != "regmap"):
        raise BenchError(f"{_where(path, name, 'map')} applies to a register-map meter only")
    register_map = table.get("map", "eastron-sdm630")
    if not isinstance(register_map, str):
        raise BenchError(f"{_where(path, name, 'map')} must be a register-map name or file, got {register_map!r}")
    listen = parse_listen(table.get("listen", DEFAULT_LISTEN), _where(path, name, "listen"))
    return DeviceSpec(name, kind, family, float(rated), unit_id, listen, transport, baud, int(model), register_map)


def parse_devices(path: Any, tables: Any) -> dict[str, DeviceSpec]:
    if not isinstance(tables, dict) or not tables:
        raise BenchError(
            f"{path} [virtual.site_devices]: the controller site needs devices: "
            '[virtual.site_devices.NAME] with kind = "pv" | "battery" | "meter"'
        )
    devices = {name: parse_device(path, name, table) for name, table in tables.items()}
    meters = [d.name for d in devices.values() if d.kind == "meter"]
    if len(meters) != 1:
        raise BenchError(
            f"{path} [virtual.site_devices]: the site needs exactly one meter at the PCC "
            f"(found {len(meters)}: {', '.join(meters) or 'none'})"
        )
    if not any(d.kind != "meter" for d in devices.values()):
        raise BenchError(
            f'{path} [virtual.site_devices]: the site needs at least one inverter (kind = "pv" or "battery")'
        )
    fixed: dict[tuple[str, int], str] = {}
    for d in devices.values():
        if d.transport == "tcp" and d.listen[1] != 0:
            other = fixed.setdefault(d.listen, d.name)
            if other != d.name:
                raise BenchError(f"{_where(path, d.name, 'listen')}: {d.listen[0]}:{d.listen[1]} is also {other}'s")
    return devices


def profile_value(profile: float | list[list[float]], t_s: float) -> float:
    """A constant, or the last point of a [[t_s, value], ...] profile at or before t_s."""
    if isinstance(profile, (int, float)):
        return float(profile)
    value = float(profile[0][1])
    for point_t_s, point_value in profile:
        if point_t_s > t_s:
            break
        value = float(point_value)
    return value


def parse_plant(path: Any, table: Any) -> ControllerPlantParameters:
    if not isinstance(table, dict):
        raise BenchError(f"{path} [virtual.plant]: must be a table")
    known = {f.name for f in fields(ControllerPlantParameters)}
    unknown = set(table) - known
    if unknown:
        raise BenchError(
            f"{path} [virtual.plant]: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})"
        )
    for key in ("irradiance_pu", "load_w"):
        value = table.get(key)
        if value is None or isinstance(value, (int, float)) and not isinstance(value, bool):
            continue
        ok = (
            isinstance(value, list)
            and value
            and all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, (int, float)) for x in p) for p in value)
        )
        if not ok or any(b[0] < a[0] for a, b in zip(value, value[1:])):
            raise BenchError(
                f"{path} [virtual.plant]: {key} must be a number or [[t_s, value], ...] with t_s increasing"
            )
    for key in known - {"irradiance_pu", "load_w"}:
        value = table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise BenchError(f"{path} [virtual.plant]: {key} must be a positive number, got {value!r}")
    params = ControllerPlantParameters(**table)
    if params.phases not in (1, 2, 3):
        raise BenchError(f"{path} [virtual.plant]: phases must be 1, 2 or 3, got {params.phases!r}")
    params.phases = int(params.phases)
    return params


__all__ = ["ControllerPlantParameters", "DeviceSpec", "parse_devices", "parse_plant", "profile_value"]
