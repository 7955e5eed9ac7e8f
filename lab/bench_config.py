"""Bench files: TOML describing the instruments of a lab, validated before anything connects.

A bench file names each instrument's role, driver, address, safety limits and
driver options. Every mistake is reported with the file, the line and the key,
so an operator can fix it without reading code.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import tomllib
import typing
from dataclasses import MISSING, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, create_model

from flexbench.instruments.addresses import parse_address
from flexbench.instruments.registry import DRIVERS, driver_class, is_import_path
from flexbench.instruments.roles import SafetyLimits
from flexbench.lab.config_errors import Locator, Table, validate
from flexbench.lab.errors import UserError
from flexbench.lab.virtual.dut import DUTParameters
from flexbench.lab.virtual.pcs_site import PCSSiteParameters
from flexbench.lab.virtual.plant import PlantParameters

VIRTUAL_ADDRESS = "virtual"
VIRTUAL_PLANT_STEP_S = 0.01  # wall seconds between two states of the virtual plant, at any time scale
ROLES = tuple(sorted({cls.role for cls in DRIVERS.values()}))


class BenchError(UserError):
    """A bench file that cannot be used; the message names file, line and key."""


@dataclass(frozen=True)
class InstrumentConfig:
    name: str
    role: str
    driver: str
    address: str
    timeout_s: float
    safety: SafetyLimits
    options: dict[str, Any]
    measures: dict[str, int] = field(default_factory=dict)  # analyzer element per measurement point
    calibration_due: dt.date | None = None  # when its calibration runs out, for the report's equipment table


@dataclass(frozen=True)
class BenchConfig:
    path: Path
    name: str
    description: str
    virtual: dict[str, Any] | None  # parameters of the virtual lab, None for a real bench
    instruments: dict[str, InstrumentConfig]
    sample_period_s: float = 0.5
    csip: CsipConfig | None = None  # the bench's IEEE 2030.5 server, when it has one
    opcua: OpcuaConfig | None = (
        None  # the bench's OPC-UA envelope server, when it has one  # how often the recorder polls the instruments, bench time
    )
    controller: Any = None  # a site controller under test ([controller], lab.controller.config.ControllerConfig)
    cosim: Any = None  # the PHIL loop's settings ([cosim], lab.cosim.config.CosimSettings), when given

    def by_role(self, role: str) -> list[InstrumentConfig]:
        return [i for i in self.instruments.values() if i.role == role]


@dataclass(frozen=True)
class CsipDevice:
    name: str
    lfdi: str | None  # None on a virtual bench: a certificate is made for the virtual DUT
    limit_mode: str
    rated_w: float | None


@dataclass(frozen=True)
class CsipConfig:
    """The 2030.5 server the bench runs for its DUTs (state in the run folder)."""

    poll_rate_s: float
    ciphers: str
    certs: Path | None  # a test PKI folder; None makes a fresh one in the run folder
    devices: dict[str, CsipDevice]


@dataclass(frozen=True)
class OpcuaConfig:
    """The OPC-UA envelope server the bench runs for its sites (PKI and accounts in the run folder)."""

    heartbeat_interval_s: float
    comm_loss_s: float  # a site that sees no heartbeat change this long falls back to its firm limits
    sites: dict[str, dict[str, float]]
    devices: dict[str, OpcuaDevice] = field(default_factory=dict)


@dataclass(frozen=True)
class OpcuaDevice:
    """A device's own OPC-UA server: the bench writes a site's limits in force into it, mapped node by node."""

    name: str
    endpoint: str  # opc.tcp://host:port/path, or "virtual" (the virtual DUT serves it)
    site: str  # the envelope server's site whose limits in force are written
    security: str  # none | sign | sign-encrypt
    publishing_interval_ms: float
    setpoints: dict[
        str, Any
    ]  # import_limit_w / export_limit_w -> node ID, or {node, scale, offset, enable_node, enable_value}
    measurements: dict[str, Any]  # bench name (SI units) -> node ID or table, recorded as "<device>.<name>"


def default_bench_path() -> Path:
    """The embedded virtual bench shipped with the package."""
    return Path(str(resources.files("flexbench.lab") / "benches" / "virtual.toml"))


_TOP_KEYS = {"bench", "virtual", "instruments", "signals", "cosim"}
_TOP_KEYS |= {"controller"}  # a site controller under test (lab.controller)
_CSIP_KEYS = {"poll_rate_s": (int, float), "ciphers": str, "certs": str, "devices": dict}
_CSIP_DEVICE_KEYS = {"lfdi": str, "limit_mode": str, "rated_w": (int, float)}
CSIP_CIPHER_CHOICES = ("strict", "interop")
_OPCUA_KEYS = {"heartbeat_interval_s": (int, float), "comm_loss_s": (int, float), "sites": dict, "devices": dict}
_OPCUA_SITE_KEYS = {
    "rated_import_w": (int, float),
    "rated_export_w": (int, float),
    "firm_import_limit_w": (int, float),
    "firm_export_limit_w": (int, float),
}
_OPCUA_DEVICE_KEYS = {
    "endpoint": str,
    "site": str,
    "security": str,
    "publishing_interval_ms": (int, float),
    "setpoints": dict,
    "measurements": dict,
}
_OPCUA_POINT_KEYS = {
    "node": str,
    "scale": (int, float),
    "offset": (int, float),
    "enable_node": str,
    "enable_value": (bool, int, float),
}
OPCUA_DEVICE_SETPOINTS = ("import_limit_w", "export_limit_w")
OPCUA_DEVICE_SECURITY = ("none", "sign", "sign-encrypt")
_NODE_ID = re.compile(r"^(?:(?:ns=\d+|nsu=[^;]+);)?(?:i=\d+|s=.+|g=[0-9A-Fa-f-]{36}|b=.+)$")
_BENCH_KEYS = {"name": str, "description": str, "sample_period_s": (int, float)}
_INSTRUMENT_KEYS = {
    "role": str,
    "driver": str,
    "address": str,
    "timeout_s": (int, float),
    "safety": dict,
    "options": dict,
    "measures": dict,
    "without_safety_limits": bool,
    "calibration_due": dt.date,
}
ENERGY_SOURCES = ("grid_simulator", "pv_simulator", "ac_load")  # what a real bench may not run unbounded
_SAFETY_KEYS = {f.name for f in fields(SafetyLimits) if f.name != "source"}


class _Reader:
    """Validates one parsed file, knowing its text to point at the offending line."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.locator = Locator(path, self.lines)

    def error(self, table: str, key: str | None, reason: str) -> BenchError:
        where = self.locator.where(table, key)
        return BenchError(f"{where}: {table}.{key}: {reason}" if key else f"{where}: [{table}]: {reason}")

    def check_keys(self, table: str, data: dict[str, Any], allowed: dict[str, Any] | set[str]) -> None:
        for key in data:
            if key not in allowed:
                hint = difflib.get_close_matches(key, list(allowed), n=1)
                suggestion = f" (did you mean '{hint[0]}'?)" if hint else f" (allowed: {', '.join(sorted(allowed))})"
                raise self.error(table, key, f"unknown key{suggestion}")
        if isinstance(allowed, dict):
            for key, expected in allowed.items():
                if key in data and not _is_type(data[key], expected):
                    raise self.error(
                        table, key, f"expected {_type_name(expected)}, got {type(data[key]).__name__} {data[key]!r}"
                    )


def _is_type(value: Any, expected: Any) -> bool:
    if expected in (int, float, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, expected)


def _type_name(expected: Any) -> str:
    if expected == (int, float):
        return "a number"
    names = {str: "a string", dict: "a table", list: "a list", bool: "true or false", dt.date: "a date (2027-03-31)"}
    return names.get(expected, str(expected))


def load_bench(path: str | Path | None = None) -> BenchConfig:
    """Read and validate a bench file (the embedded virtual bench when `path` is None)."""
    path = Path(path) if path is not None else default_bench_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BenchError(f"{path}: bench file not found") from None
    except OSError as exc:
        raise BenchError(f"{path}: cannot read bench file: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"{path}: not valid TOML: {exc}") from None
    reader = _Reader(path, text)

    for key in data:
        if key not in _TOP_KEYS:
            hint = difflib.get_close_matches(key, list(_TOP_KEYS), n=1)
            raise reader.error(key, None, "unknown table" + (f" (did you mean [{hint[0]}]?)" if hint else ""))
    bench = data.get("bench", {})
    if not isinstance(bench, dict):
        raise reader.error("bench", None, "must be a table")
    reader.check_keys("bench", bench, _BENCH_KEYS)
    sample_period_s = float(bench.get("sample_period_s", 0.5))
    if sample_period_s <= 0:
        raise reader.error("bench", "sample_period_s", "must be positive")
    virtual = data.get("virtual")
    if virtual is not None and not isinstance(virtual, dict):
        raise reader.error("virtual", None, "must be a table")

    instruments_data = data.get("instruments")
    if not isinstance(instruments_data, dict) or not instruments_data:
        raise BenchError(f"{path}: no [instruments.NAME] tables: a bench needs at least one instrument")
    instruments = {
        name: _instrument(reader, name, entry, virtual is not None) for name, entry in instruments_data.items()
    }
    if virtual is not None:
        _virtual(reader, virtual, instruments)
    csip = _csip(reader, data.get("signals", {}), virtual is not None)
    opcua = _opcua(reader, data.get("signals", {}).get("opcua"), virtual is not None)
    cosim = None
    if "cosim" in data:
        from flexbench.lab.cosim.config import parse_cosim

        cosim = parse_cosim(reader, data["cosim"], instruments)
    controller = None
    if "controller" in data:
        from flexbench.lab.controller.config import parse_controller

        controller = parse_controller(reader, data["controller"], csip, virtual is not None)
    elif any(i.address == "controller" for i in instruments.values()):
        name = next(n for n, i in instruments.items() if i.address == "controller")
        raise reader.error(f"instruments.{name}", "address", "'controller' needs a [controller] table")
    return BenchConfig(
        path=path,
        name=bench.get("name", path.stem),
        description=bench.get("description", ""),
        virtual=virtual,
        instruments=instruments,
        sample_period_s=sample_period_s,
        csip=csip,
        opcua=opcua,
        controller=controller,
        cosim=cosim,
    )


VIRTUAL_SITES = ("inverter", "pcs", "controller", "aggregator")
_IDENTITY_KEYS = ("manufacturer", "model", "serial", "firmware")  # the virtual DUT's nameplate, as strings


class _Connections(Table):
    """[virtual.connections] of a PCS site: which instrument is which part of the site."""

    load: str = "load"
    ev: str = "ev"
    battery: str = "battery"


class _SiteDevice(Table):
    """[virtual.site_devices.NAME]: one device of the emulated site of a controller under test."""

    kind: Literal["pv", "battery", "meter"]
    family: str | None = None  # which families fit which kind: lab.virtual.controller_site.config
    rated_w: Annotated[float, Field(gt=0)] | None = None  # needed for an inverter
    unit_id: Annotated[int, Field(ge=1, le=247)] = 1
    listen: str = "127.0.0.1:0"
    transport: Literal["tcp", "rtu"] = "tcp"
    baud: Annotated[int, Field(gt=0)] = 115200
    model: int | None = None
    map: str | None = None


def _virtual(reader: _Reader, table: dict[str, Any], instruments: dict[str, InstrumentConfig]) -> None:
    """The [virtual] tables checked when the bench file is read, before anything starts.

    The virtual lab builds its site from the same tables when the bench
    starts; the tables' models are made from the parameters of each site's
    physics (lab.virtual), so a new parameter is known here at once.
    """
    site = table.get("site", "inverter")
    if site not in VIRTUAL_SITES:
        raise reader.error("virtual", "site", f"unknown site {site!r} (sites: {', '.join(VIRTUAL_SITES)})")
    checked: Any = validate(_virtual_model(site), table, reader.locator, BenchError, table="virtual")
    if site == "pcs":
        for part, name in checked.connections.model_dump().items():
            if name not in instruments:
                raise reader.error("virtual.connections", part, f"{name!r} names no instrument of the bench")
    if site == "controller":
        from flexbench.lab.virtual.controller_site.config import parse_devices, parse_plant

        for name, device in checked.site_devices.items():
            if device.kind != "meter" and device.rated_w is None:
                raise reader.error(f"virtual.site_devices.{name}", "rated_w", f"missing (the {device.kind}'s rating)")
        parse_plant(reader.path, table.get("plant", {}))  # the site's own checks of values
        parse_devices(reader.path, table["site_devices"])
    if site == "aggregator":
        from flexbench.lab.virtual.aggregator_site.config import parse_homes, parse_transformer

        parse_transformer(reader.error, table.get("transformer"))
        parse_homes(reader.error, table.get("homes"))


def _virtual_model(site: str) -> type[Table]:
    """The model of a [virtual] table whose `site` is this kind."""
    models: dict[str, Any]
    if site == "inverter":
        models = {"plant": (_table_of(PlantParameters), None), "dut": (_table_of(DUTParameters, _IDENTITY_KEYS), None)}
    elif site == "pcs":
        models = {"pcs": (_table_of(PCSSiteParameters, _IDENTITY_KEYS), None), "connections": (_Connections, None)}
    else:
        from flexbench.lab.virtual.controller_site.config import ControllerPlantParameters

        plant = (_table_of(ControllerPlantParameters), None)
        if site == "aggregator":  # its homes and transformer are checked by the site's own parsers
            models = {"plant": plant, "transformer": (dict[str, Any], None), "homes": (dict[str, Any], None)}
        else:
            models = {"plant": plant, "site_devices": (dict[str, _SiteDevice], ...)}
    return create_model(f"Virtual{site.title()}", __base__=Table, site=(str, site), **models)


def _table_of(cls: type, strings: tuple[str, ...] = ()) -> type[Table]:
    """The model of a table that sets the parameters dataclass `cls` (and the optional string keys `strings`)."""
    hints = typing.get_type_hints(cls)
    keys: dict[str, Any] = {f.name: (hints[f.name], ... if f.default is MISSING else f.default) for f in fields(cls)}
    keys.update({key: (str | None, None) for key in strings})
    return create_model(f"{cls.__name__}Table", __base__=Table, **keys)


def _opcua(reader: _Reader, table: Any, is_virtual: bool = False) -> OpcuaConfig | None:
    if table is None:
        return None
    reader.check_keys("signals.opcua", table, _OPCUA_KEYS)
    heartbeat_s = float(table.get("heartbeat_interval_s", 5.0))
    comm_loss_s = float(table.get("comm_loss_s", 3 * heartbeat_s))
    if heartbeat_s <= 0 or comm_loss_s <= heartbeat_s:
        raise reader.error("signals.opcua", "comm_loss_s", "must be longer than a positive heartbeat_interval_s")
    sites = {}
    for name, entry in table.get("sites", {}).items():
        where = f"signals.opcua.sites.{name}"
        if not isinstance(entry, dict):
            raise reader.error(where, None, "must be a table")
        reader.check_keys(where, entry, _OPCUA_SITE_KEYS)
        for key in ("rated_import_w", "rated_export_w"):
            if key not in entry:
                raise reader.error(where, None, f"missing key '{key}'")
        sites[name] = {k: float(v) for k, v in entry.items()}
    if not sites:
        raise reader.error("signals.opcua", None, "needs at least one [signals.opcua.sites.NAME]")
    devices = {
        name: _opcua_device(reader, name, entry, sites, is_virtual) for name, entry in table.get("devices", {}).items()
    }
    return OpcuaConfig(heartbeat_s, comm_loss_s, sites, devices)


def _opcua_device(reader: _Reader, name: str, entry: Any, sites: dict[str, Any], is_virtual: bool) -> OpcuaDevice:
    where = f"signals.opcua.devices.{name}"
    if not isinstance(entry, dict):
        raise reader.error(where, None, "must be a table")
    reader.check_keys(where, entry, _OPCUA_DEVICE_KEYS)
    for key in ("endpoint", "setpoints"):
        if key not in entry:
            raise reader.error(where, None, f"missing key '{key}'")
    endpoint = entry["endpoint"]
    if endpoint == VIRTUAL_ADDRESS:
        if not is_virtual:
            raise reader.error(where, "endpoint", "'virtual' needs a [virtual] table: this bench is a real one")
    elif not re.fullmatch(r"opc\.tcp://[^/\s:]+(:\d+)?(/\S*)?", endpoint):
        raise reader.error(where, "endpoint", f"expected opc.tcp://HOST:PORT/PATH or 'virtual', got {endpoint!r}")
    site = entry.get("site", name)
    if site not in sites:
        raise reader.error(where, "site", f"names no [signals.opcua.sites.{site}] (sites: {', '.join(sites)})")
    security = entry.get("security", "none")
    if security not in OPCUA_DEVICE_SECURITY:
        raise reader.error(where, "security", f"must be one of {', '.join(OPCUA_DEVICE_SECURITY)}")
    if security != "none" and endpoint != VIRTUAL_ADDRESS:
        raise reader.error(
            where,
            "security",
            "a real device is reached with 'none' (the bench's test PKI is made fresh in each run folder)",
        )
    interval_ms = float(entry.get("publishing_interval_ms", 100.0))
    if interval_ms <= 0:
        raise reader.error(where, "publishing_interval_ms", "must be positive")
    setpoints, measurements = entry["setpoints"], entry.get("measurements", {})
    for key, points in (("setpoints", setpoints), ("measurements", measurements)):
        for point, spec in points.items():
            if key == "setpoints" and point not in OPCUA_DEVICE_SETPOINTS:
                raise reader.error(
                    f"{where}.setpoints", point, f"unknown setpoint (known: {', '.join(OPCUA_DEVICE_SETPOINTS)})"
                )
            if key == "measurements" and not re.fullmatch(r"[a-z][a-z0-9_]*", point):
                raise reader.error(f"{where}.measurements", point, "use lower-case letters, digits and '_', unit last")
            _opcua_point(reader, f"{where}.{key}", point, spec)
    if not setpoints:
        raise reader.error(where, "setpoints", f"map at least one of {', '.join(OPCUA_DEVICE_SETPOINTS)}")
    return OpcuaDevice(name, endpoint, site, security, interval_ms, dict(setpoints), dict(measurements))


def _opcua_point(reader: _Reader, table: str, key: str, spec: Any) -> None:
    """A node ID string, or a table {node, scale, offset, enable_node, enable_value}."""
    if isinstance(spec, dict):
        for k in spec:
            if k not in _OPCUA_POINT_KEYS:
                raise reader.error(table, key, f"unknown key {k!r} (allowed: {', '.join(_OPCUA_POINT_KEYS)})")
            if not _is_type(spec[k], _OPCUA_POINT_KEYS[k]) and k != "enable_value":
                raise reader.error(table, key, f"{k}: expected {_type_name(_OPCUA_POINT_KEYS[k])}, got {spec[k]!r}")
        if "node" not in spec:
            raise reader.error(table, key, "missing 'node' (a node ID such as \"ns=2;s=PCS.ExportLimit\")")
        if spec.get("scale", 1.0) == 0:
            raise reader.error(table, key, "scale must not be zero")
        nodes = [spec["node"]] + ([spec["enable_node"]] if "enable_node" in spec else [])
    elif isinstance(spec, str):
        nodes = [spec]
    else:
        raise reader.error(table, key, f"expected a node ID string or a table with 'node', got {spec!r}")
    for node in nodes:
        if not _NODE_ID.match(node):
            raise reader.error(
                table, key, f'not an OPC-UA node ID: {node!r} (e.g. "ns=2;s=PCS.P", "nsu=urn:vendor;s=P", "i=2258")'
            )


def _csip(reader: _Reader, signals: Any, is_virtual: bool) -> CsipConfig | None:
    if not isinstance(signals, dict):
        raise reader.error("signals", None, "must be a table")
    reader.check_keys("signals", signals, {"csip": dict, "opcua": dict})
    table = signals.get("csip")
    if table is None:
        return None
    reader.check_keys("signals.csip", table, _CSIP_KEYS)
    ciphers = table.get("ciphers", "strict")
    if ciphers not in CSIP_CIPHER_CHOICES:
        raise reader.error("signals.csip", "ciphers", f"must be one of {', '.join(CSIP_CIPHER_CHOICES)}")
    poll_rate_s = float(table.get("poll_rate_s", 900))
    if poll_rate_s <= 0:
        raise reader.error("signals.csip", "poll_rate_s", "must be positive")
    devices = {}
    for name, entry in table.get("devices", {}).items():
        where = f"signals.csip.devices.{name}"
        if not isinstance(entry, dict):
            raise reader.error(where, None, "must be a table")
        reader.check_keys(where, entry, _CSIP_DEVICE_KEYS)
        if "lfdi" not in entry and not is_virtual:
            raise reader.error(where, None, "missing key 'lfdi' (the DUT's certificate LFDI, 40 hex digits)")
        lfdi = entry.get("lfdi")
        if lfdi is not None and not re.fullmatch(r"[0-9A-Fa-f]{40}", lfdi):
            raise reader.error(where, "lfdi", "must be 40 hexadecimal digits")
        mode = entry.get("limit_mode", "site")
        if mode not in ("site", "max_w"):
            raise reader.error(where, "limit_mode", "must be 'site' (CSIP-AUS limits) or 'max_w' (opModMaxLimW)")
        rated = entry.get("rated_w")
        devices[name] = CsipDevice(name, lfdi.upper() if lfdi else None, mode, float(rated) if rated else None)
    certs = table.get("certs")
    return CsipConfig(poll_rate_s, ciphers, reader.path.parent / certs if certs else None, devices)


def _instrument(reader: _Reader, name: str, entry: Any, is_virtual: bool) -> InstrumentConfig:
    table = f"instruments.{name}"
    if not isinstance(entry, dict):
        raise reader.error(table, None, "must be a table")
    reader.check_keys(table, entry, _INSTRUMENT_KEYS)
    named = entry.get("driver")
    own = isinstance(named, str) and is_import_path(named)  # a lab's own driver, named by where it lives
    for required in ("driver", "address") if own else ("role", "driver", "address"):
        if required not in entry:
            raise reader.error(table, None, f"missing key '{required}'")
    driver: str = entry["driver"]
    if own:
        try:
            cls = driver_class(driver, reader.path.parent)
        except ValueError as exc:
            raise reader.error(table, "driver", str(exc)) from None
        role = entry.get("role", cls.role)
        if role != cls.role:
            raise reader.error(table, "role", f"driver {driver!r} is a {cls.role}, not a {role}")
    else:
        role = entry["role"]
        if role not in ROLES:
            raise reader.error(table, "role", f"unknown role {role!r} (known roles: {', '.join(ROLES)})")
        if driver not in DRIVERS:
            hint = difflib.get_close_matches(driver, list(DRIVERS), n=1)
            known = f"did you mean {hint[0]!r}?" if hint else f"known drivers: {', '.join(sorted(DRIVERS))}"
            raise reader.error(table, "driver", f"unknown driver {driver!r} ({known})")
        if DRIVERS[driver].role != role:
            raise reader.error(table, "driver", f"driver {driver!r} is a {DRIVERS[driver].role}, not a {role}")
    address = entry["address"]
    if address == "controller":  # the local API of the controller under test ([controller])
        pass
    elif address == VIRTUAL_ADDRESS:
        if not is_virtual:
            raise reader.error(table, "address", "'virtual' needs a [virtual] table: this bench is a real one")
    else:
        try:
            parse_address(address)
        except ValueError as exc:
            raise reader.error(table, "address", f"invalid address {address!r}: {exc}") from None
    timeout_s = float(entry.get("timeout_s", 2.0))
    if timeout_s <= 0:
        raise reader.error(table, "timeout_s", "must be positive")

    safety_data = entry.get("safety", {})
    real = address not in (VIRTUAL_ADDRESS, "controller")
    if real and role in ENERGY_SOURCES and not safety_data and not entry.get("without_safety_limits", False):
        raise reader.error(
            table,
            None,
            f"a {role} on a real bench needs its safety limits: add an [{table}.safety] table "
            "(or without_safety_limits = true to run it without, stated on purpose)",
        )
    if safety_data and entry.get("without_safety_limits", False):
        raise reader.error(table, "without_safety_limits", f"contradicts the [{table}.safety] table: keep one")
    reader.check_keys(f"{table}.safety", safety_data, {k: (int, float) for k in _SAFETY_KEYS})
    safety = SafetyLimits(
        **{k: float(v) for k, v in safety_data.items()},
        source=f"{reader.path} [{table}.safety]",
    )
    measures = entry.get("measures", {})
    for point, element in measures.items():
        if not isinstance(element, int) or isinstance(element, bool) or element < 1:
            raise reader.error(table, "measures", f"element for {point!r} must be a positive integer, got {element!r}")
    return InstrumentConfig(
        name=name,
        role=role,
        driver=driver,
        address=address,
        timeout_s=timeout_s,
        safety=safety,
        options=dict(entry.get("options", {})),
        measures=dict(measures),
        calibration_due=entry.get("calibration_due"),
    )
