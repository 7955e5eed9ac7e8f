"""Settings of the PHIL loop: the bench file's [cosim] table, or command-line flags.

A [cosim] table names the feeder and the device's bus on it; every other key
has the default shown. An unknown key, a wrong type or a missing key is one
line naming the file, line and key, found when the bench file is read.

```toml
[cosim]
feeder = "ieee123"            # embedded feeder or an OpenDSS master file (relative to the bench file)
bus = "48"                    # the device's bus on the feeder
rate_hz = 50.0                # loop rate, bench time
nominal_voltage_v = 240.0     # bench line-to-neutral voltage that 1.0 pu at the bus maps to
measure = "pcc"               # analyzer point(s) (`measures` of the analyzer): one for the total,
                              # or one per phase, e.g. ["pcc_a", "pcc_b", "pcc_c"]
measure_sign = "import"       # what positive power at that point means: "import" or "export"
power_scale = 1.0             # twin watts per measured watt (a lab device standing for a larger site)
controls = false              # let regulators and capacitors act every step
realtime = false              # loop thread at real-time priority (SCHED_FIFO; needs CAP_SYS_NICE):
                              # keeps the period on a busy host

[cosim.guard]
filter_time_constant_s = 0.1  # first-order filter on the measured power
max_step_v = 5.0              # largest voltage setpoint change in one step
max_ramp_v_per_s = 100.0      # and per second
voltage_min_pu = 0.8          # setpoint bounds (also bounded by the grid simulator's safety limits)
voltage_max_pu = 1.2
diverge_steps = 5             # twin outside the bounds or not converging this many steps in a row: stop

[cosim.helics]                # when twin and lab run as HELICS federates
broker = "127.0.0.1:23404"    # broker address (host:port)
core = "zmq"                  # HELICS core type: zmq, tcp, tcp_ss, ...
lab_name = "flexbench-lab"
twin_name = "flexbench-twin"
timeout_s = 30.0              # how long a federate waits for the other before giving up
interface = ""                # this host's address as the other hosts reach it (separate hosts)
```
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from flexbench.lab.bench_config import BenchError
from flexbench.lab.config_errors import Table, validate
from flexbench.lab.errors import UserError

HELICS_CORES = ("zmq", "zmq_ss", "tcp", "tcp_ss", "udp", "ipc", "inproc", "test")


class CosimError(UserError):
    """A [cosim] table or flag that cannot be used; names the file, line and key (or the flag)."""


@dataclass(frozen=True)
class GuardSettings:
    filter_time_constant_s: float = 0.1
    max_step_v: float = 5.0
    max_ramp_v_per_s: float = 100.0
    voltage_min_pu: float = 0.8
    voltage_max_pu: float = 1.2
    diverge_steps: int = 5


@dataclass(frozen=True)
class HelicsSettings:
    broker: str = "127.0.0.1:23404"
    core: str = "zmq"
    lab_name: str = "flexbench-lab"
    twin_name: str = "flexbench-twin"
    timeout_s: float = 30.0
    interface: str = ""  # this host's address the other federates reach it at; "" = HELICS's choice


@dataclass(frozen=True)
class CosimSettings:
    feeder: str = "ieee123"
    bus: str = "48"
    rate_hz: float = 50.0
    nominal_voltage_v: float = 240.0
    measure: tuple[str, ...] = ("pcc",)
    measure_sign: str = "import"
    power_scale: float = 1.0
    controls: bool = False
    realtime: bool = False  # run the loop thread at real-time priority (SCHED_FIFO) where the host allows
    guard: GuardSettings = field(default_factory=GuardSettings)
    helics: HelicsSettings = field(default_factory=HelicsSettings)
    # where each key was set ("file:line"), so errors found later (an unknown bus) name it
    where: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def period_s(self) -> float:
        return 1.0 / self.rate_hz

    def located(self, key: str, reason: str) -> CosimError:
        """An error about `key`, naming where it was set."""
        place = self.where.get(key, "")
        if place.startswith("--"):
            return CosimError(f"{place}: {reason}")
        return CosimError(f"{place}: cosim.{key}: {reason}" if place else f"cosim.{key}: {reason}")


class _GuardTable(Table):
    filter_time_constant_s: float = GuardSettings.filter_time_constant_s
    max_step_v: float = GuardSettings.max_step_v
    max_ramp_v_per_s: float = GuardSettings.max_ramp_v_per_s
    voltage_min_pu: float = GuardSettings.voltage_min_pu
    voltage_max_pu: float = GuardSettings.voltage_max_pu
    diverge_steps: float = GuardSettings.diverge_steps  # a whole number, checked with the other values


class _HelicsTable(Table):
    broker: str = HelicsSettings.broker
    core: str = HelicsSettings.core
    lab_name: str = HelicsSettings.lab_name
    twin_name: str = HelicsSettings.twin_name
    timeout_s: float = HelicsSettings.timeout_s
    interface: str = HelicsSettings.interface


class _CosimTable(Table):
    """A bench file's [cosim] table: the feeder and the device's bus on it must be said; the rest has defaults."""

    feeder: str
    bus: str
    rate_hz: float = CosimSettings.rate_hz
    nominal_voltage_v: float = CosimSettings.nominal_voltage_v
    measure: str | list[str] = CosimSettings.measure[0]
    measure_sign: str = CosimSettings.measure_sign
    power_scale: float = CosimSettings.power_scale
    controls: bool = CosimSettings.controls
    realtime: bool = CosimSettings.realtime
    guard: _GuardTable = _GuardTable()
    helics: _HelicsTable = _HelicsTable()


_GUARD = {f.name for f in fields(GuardSettings)}
_HELICS = {f.name for f in fields(HelicsSettings)}


def problem(settings: CosimSettings) -> tuple[str, str] | None:
    """The first (key, reason) that makes these settings unusable, or None.

    Keys are dotted as in the bench file ("guard.max_step_v"), so the table
    reader and the command line can each say where the value came from.
    """
    s, g, h = settings, settings.guard, settings.helics
    positive = {
        "rate_hz": s.rate_hz,
        "nominal_voltage_v": s.nominal_voltage_v,
        "guard.max_step_v": g.max_step_v,
        "guard.max_ramp_v_per_s": g.max_ramp_v_per_s,
        "guard.voltage_max_pu": g.voltage_max_pu,
        "helics.timeout_s": h.timeout_s,
    }
    for key, value in positive.items():
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            return key, f"must be a positive number, got {value!r}"
    if s.rate_hz > 1000:
        return "rate_hz", f"must be at most 1000 Hz, got {s.rate_hz:g}"
    if not math.isfinite(s.power_scale) or s.power_scale == 0:
        return "power_scale", f"must be a non-zero number, got {s.power_scale!r}"
    if not (math.isfinite(g.filter_time_constant_s) and g.filter_time_constant_s >= 0):
        return "guard.filter_time_constant_s", f"must be zero or positive, got {g.filter_time_constant_s!r}"
    if not 0 <= g.voltage_min_pu < g.voltage_max_pu:
        return "guard.voltage_min_pu", (
            f"must satisfy 0 <= voltage_min_pu < voltage_max_pu, got {g.voltage_min_pu:g} and {g.voltage_max_pu:g}"
        )
    if g.diverge_steps != int(g.diverge_steps) or g.diverge_steps < 1:
        return "guard.diverge_steps", f"must be a whole number of steps, at least 1, got {g.diverge_steps!r}"
    if s.measure_sign not in ("import", "export"):
        return "measure_sign", f"must be 'import' or 'export', got {s.measure_sign!r}"
    if not s.measure or len(s.measure) not in (1, 2, 3) or not all(isinstance(m, str) and m for m in s.measure):
        return "measure", "must be one analyzer point, or a list of one per phase (2 or 3)"
    if len(set(s.measure)) != len(s.measure):
        return "measure", "lists a point twice"
    if not s.feeder.strip():
        return "feeder", "must name a feeder"
    if not s.bus.strip():
        return "bus", "must name a bus"
    if h.core not in HELICS_CORES:
        return "helics.core", f"unknown core type {h.core!r} (known: {', '.join(HELICS_CORES)})"
    if not h.lab_name or not h.twin_name or h.lab_name == h.twin_name:
        return "helics.lab_name", "lab_name and twin_name must be two different non-empty names"
    try:
        broker_host_port(h.broker)
    except ValueError as exc:
        return "helics.broker", str(exc)
    return None


def broker_host_port(address: str) -> tuple[str, int | None]:
    """Split 'host[:port]'; ValueError naming what is wrong."""
    host, sep, port = address.strip().rpartition(":")
    if not sep:
        host, port = address.strip(), ""
    if not host:
        raise ValueError(f"broker address {address!r} has no host")
    if not port:
        return host, None
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"broker address {address!r}: port must be 0..65535 (0: a free one, where the broker starts)")
    return host, int(port)


def parse_cosim(reader: Any, table: Any, instruments: Mapping[str, Any]) -> CosimSettings:
    """Validate a bench file's [cosim] table (reader: bench_config's, for file and line)."""
    if not isinstance(table, dict):
        raise reader.error("cosim", None, "must be a table")
    checked = validate(_CosimTable, table, reader.locator, BenchError, table="cosim")

    where: dict[str, str] = {}
    for key in table:
        where[key] = reader.locator.where("cosim", key)
    for sub in ("guard", "helics"):
        for key in table.get(sub, {}):
            where[f"{sub}.{key}"] = reader.locator.where(f"cosim.{sub}", key)

    feeder = checked.feeder
    if feeder.lower().endswith(".dss") and not Path(feeder).is_absolute():
        feeder = str(Path(reader.path).parent / feeder)
    guard = checked.guard.model_dump()
    if guard["diverge_steps"] == int(guard["diverge_steps"]):
        guard["diverge_steps"] = int(guard["diverge_steps"])
    settings = CosimSettings(
        feeder=feeder,
        bus=checked.bus,
        rate_hz=checked.rate_hz,
        nominal_voltage_v=checked.nominal_voltage_v,
        measure=(checked.measure,) if isinstance(checked.measure, str) else tuple(checked.measure),
        measure_sign=checked.measure_sign,
        power_scale=checked.power_scale,
        controls=checked.controls,
        realtime=checked.realtime,
        guard=GuardSettings(**guard),
        helics=HelicsSettings(**checked.helics.model_dump()),
        where=where,
    )

    found = problem(settings)
    if found is not None:
        key, reason = found
        sub, _, leaf = key.rpartition(".")
        raise reader.error(f"cosim.{sub}" if sub else "cosim", leaf, reason)
    _check_bench(reader, settings, instruments)
    _check_feeder(reader, settings)
    return settings


def _check_bench(reader: Any, settings: CosimSettings, instruments: Mapping[str, Any]) -> None:
    """The bench must have a grid simulator and an analyzer measuring the named points."""
    roles = {inst.role for inst in instruments.values()}
    if "grid_simulator" not in roles:
        raise reader.error(
            "cosim", None, 'the PHIL loop needs a grid simulator: add an instrument with role = "grid_simulator"'
        )
    analyzers = [inst for inst in instruments.values() if inst.role == "power_analyzer"]
    points = {p for inst in analyzers for p in inst.measures}
    for point in settings.measure:
        if point not in points:
            known = ", ".join(sorted(points)) or "none (set measures = { pcc = N } on the analyzer)"
            raise reader.error("cosim", "measure", f"no power analyzer measures {point!r} (points: {known})")
    owners = {inst.name for inst in analyzers for p in settings.measure if p in inst.measures}
    if len(owners) > 1:
        raise reader.error("cosim", "measure", f"the points are on different analyzers ({', '.join(sorted(owners))})")


def _check_feeder(reader: Any, settings: CosimSettings) -> None:
    from flexbench.twin import FeederError, resolve_feeder

    try:
        resolve_feeder(settings.feeder)
    except FeederError as exc:
        raise reader.error("cosim", "feeder", str(exc)) from None


def with_flags(settings: CosimSettings, **flags: Any) -> CosimSettings:
    """Settings with command-line values (None: keep) laid over them; errors name the flag."""
    top = {k: v for k, v in flags.items() if v is not None and k in {f.name for f in fields(CosimSettings)}}
    guard = {k: v for k, v in flags.items() if v is not None and k in _GUARD}
    helics = {k: v for k, v in flags.items() if v is not None and k in _HELICS}
    unknown = set(k for k, v in flags.items() if v is not None) - set(top) - set(guard) - set(helics)
    if unknown:
        raise TypeError(f"unknown settings {sorted(unknown)}")
    if "measure" in top and isinstance(top["measure"], str):
        top["measure"] = tuple(p.strip() for p in top["measure"].split(",") if p.strip())
    where = dict(settings.where)
    for key in top:
        where[key] = f"--{key.replace('_', '-')}"
    for key in guard:
        where[f"guard.{key}"] = f"--{key.replace('_', '-')}"
    for key in helics:
        where[f"helics.{key}"] = f"--{key.replace('_', '-')}"
    out = replace(
        settings, **top, guard=replace(settings.guard, **guard), helics=replace(settings.helics, **helics), where=where
    )
    found = problem(out)
    if found is not None:
        raise out.located(*found)
    return out


class _FlagReader:
    """Stands in for the bench file reader when the settings did not come from a [cosim] table."""

    def __init__(self, path: Any) -> None:
        self.path = path

    def error(self, table: str, key: str | None, reason: str) -> CosimError:
        return CosimError(f"{self.path}: {reason}" if key is None else f"{self.path}: {table}.{key}: {reason}")


def settings_for_bench(config: Any) -> CosimSettings:
    """The bench file's [cosim] settings, or the defaults checked against the bench's instruments."""
    if config.cosim is not None:
        return config.cosim
    settings = CosimSettings()
    _check_bench(_FlagReader(config.path), settings, config.instruments)
    return settings


def check_for_bench(settings: CosimSettings, config: Any) -> None:
    """Settings changed by flags must still fit the bench (analyzer points, a grid simulator)."""
    _check_bench(_FlagReader(config.path), settings, config.instruments)
