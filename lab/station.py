"""The bench as a station of components: each part the bench holds answers the same five questions.

Every part (an instrument, the 2030.5 head-end, the OPC-UA server, the
virtual lab, a controller under test) is a `Component`: the bench starts
them in order, makes them safe, closes them in reverse, saves their
snapshots with a run (station.json) and lets the recorder poll the channels
they name. The bench knows no kind of component by name: factories, one per
kind and listed in `FACTORIES` in start order, build the components from the
bench file. A new kind of component is one more factory (`register`), with
no change to the bench or to any other component.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from flexbench.core import channels
from flexbench.instruments.registry import driver_class
from flexbench.instruments.roles import DER, GridSimulator, Instrument, InstrumentError, PowerAnalyzer

if TYPE_CHECKING:
    from flexbench.lab.bench import Bench
    from flexbench.lab.bench_config import InstrumentConfig

# The order in which the bench makes its parts safe (lower first): a controller under test stops
# writing to the site, then the grid simulator's output goes off, then every other instrument.
SAFE_FIRST = 0
SAFE_SOURCE = 10
SAFE_INSTRUMENT = 20
SAFE_LAST = 30  # servers and the virtual lab: nothing to make safe, but they are asked all the same


@dataclass(frozen=True)
class Channels:
    """A group of channels a component records: one poll of `read` gives channel -> value."""

    source: str  # the recorder's name for the poll (its thread, its errors)
    read: Callable[[], dict[str, float]]
    period_s: float  # bench seconds between polls
    min_wall_s: float = 0.0  # wall seconds before a poll can show anything new (a virtual plant's step)


@runtime_checkable
class Component(Protocol):
    """What the bench asks of each of its parts."""

    name: str  # the bench file's name for it (an instrument's NAME, "csip", "virtual_lab")
    kind: str  # the factory that made it (a key of FACTORIES)
    safe_rank: int  # SAFE_FIRST .. SAFE_LAST: lower is made safe first

    def start(self) -> None:
        """Connect or serve; the bench closes whatever started when a later part fails to."""

    def close(self) -> None:
        """Stop and disconnect; called once, after safe_state, in reverse start order."""

    def safe_state(self) -> None:
        """Leave the bench safe to touch; raises when it cannot be confirmed."""

    def snapshot(self) -> dict[str, Any]:
        """Identity, firmware and settings, saved with the run; "error" when they could not be read.

        A "report_sections" list of "module:function" names adds sections to the
        report: each function takes the run folder and returns HTML.
        """

    def channels(self) -> list[Channels]:
        """What the recorder polls from this part (none is fine)."""


Factory = Callable[["Bench"], Iterable[Component]]

# Every kind of component, in start order, as "module:function" (imported only when a bench is opened).
FACTORIES: dict[str, Factory | str] = {
    "csip": "flexbench.lab.csip_bench:components",
    "opcua": "flexbench.lab.opcua_bench:components",
    "virtual_lab": "flexbench.lab.virtual.lab:components",
    "controller": "flexbench.lab.controller.bench:components",
    "instrument": "flexbench.lab.station:instrument_components",
    "opcua_devices": "flexbench.lab.opcua_bench:device_components",
    "guardian": "flexbench.lab.guardian:components",
}


def register(kind: str, factory: Factory | str, *, before: str | None = None) -> None:
    """Add a kind of component (at the end of the start order, or before another kind)."""
    if kind in FACTORIES:
        raise ValueError(f"a component kind {kind!r} is registered already")
    if before is None:
        FACTORIES[kind] = factory
        return
    if before not in FACTORIES:
        raise ValueError(f"no component kind {before!r} to register {kind!r} before")
    items = list(FACTORIES.items())
    at = next(k for k, (name, _) in enumerate(items) if name == before)
    items.insert(at, (kind, factory))
    FACTORIES.clear()
    FACTORIES.update(items)


def unregister(kind: str) -> None:
    FACTORIES.pop(kind, None)


def resolve(target: str) -> Any:
    """The object a "package.module:name" string names."""
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


def factories() -> list[tuple[str, Factory]]:
    """The registered factories in start order, resolved."""
    return [(kind, resolve(f) if isinstance(f, str) else f) for kind, f in list(FACTORIES.items())]


SWITCH_INTERVAL_S = 0.0005  # GIL hand-off while a bench runs (Python's default: 5 ms)


def keep_servers_responsive() -> float:
    """A bench's emulators and servers answer from threads of this process, beside the recorder.

    A device under test times them out after a fraction of a second of wall time at a high time
    scale: keep the collector from walking the long-lived heap (tens of milliseconds per full
    pass) and a waking server thread from waiting the default 5 ms for the GIL at each hand-off.
    Returns the switch interval to restore when the bench closes.
    """
    gc.collect()
    gc.freeze()
    previous_s = sys.getswitchinterval()
    sys.setswitchinterval(min(previous_s, SWITCH_INTERVAL_S))
    return previous_s


# -- instruments ------------------------------------------------------------------------------


class InstrumentComponent:
    """One instrument of the bench file: its driver, connected, with what the bench records from it."""

    kind = "instrument"

    def __init__(
        self,
        config: InstrumentConfig,
        driver: Instrument,
        sample_period_s: float,
        config_path: Any,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        time_scale: float = 1.0,
        line_use: dict[str, dict[str, float]] | None = None,
    ) -> None:
        self.name = config.name
        self.config_path = config_path  # the bench file, for errors
        self.config = config
        self.driver = driver
        self.sample_period_s = sample_period_s
        self.on_event = on_event or (lambda kind, data: None)
        self.time_scale = time_scale  # bench seconds per wall second
        self.line_use = {} if line_use is None else line_use  # shared by the bench's instruments: serial_timing
        self.safe_rank = SAFE_SOURCE if isinstance(driver, GridSimulator) else SAFE_INSTRUMENT

    def start(self) -> None:
        """Connect, then check that a serial line can carry the recorder's polls (lab.serial_timing)."""
        from flexbench.lab.bench_config import BenchError
        from flexbench.lab.serial_timing import check_sample_period

        where = f"{self.config_path} [instruments.{self.name}]"
        try:
            self.driver.connect()
        except InstrumentError as exc:
            raise BenchError(f"{where}: cannot connect: {exc}") from None
        try:
            for group in self.channels():
                period_s = group.period_s / self.time_scale
                check_sample_period(self.name, where, self.driver, group.read, period_s, self.on_event, self.line_use)
        except BaseException:
            self.driver.close()  # the bench closes only the parts that started
            raise

    def close(self) -> None:
        self.driver.close()

    def safe_state(self) -> None:
        self.driver.safe_state()

    def snapshot(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "role": self.config.role,
            "driver": self.config.driver,
            "address": self.driver.address,
            "safety": {k: v for k, v in asdict(self.config.safety).items() if v is not None},
        }
        if self.config.calibration_due is not None:
            entry["calibration_due"] = self.config.calibration_due.isoformat()
        try:
            entry["identity"] = asdict(self.driver.identity())
            entry["settings"] = self.driver.snapshot()
        except InstrumentError as exc:
            entry["error"] = str(exc)
        return entry

    def channels(self) -> list[Channels]:
        read = _reader(self.driver, self.name, self.config.measures)
        if read is None:
            return []
        from flexbench.lab.bench_config import VIRTUAL_ADDRESS, VIRTUAL_PLANT_STEP_S

        period_s = self.sample_period_s * (10 if isinstance(self.driver, GridSimulator) else 1)
        emulated = self.config.address == VIRTUAL_ADDRESS
        return [Channels(self.name, read, period_s, VIRTUAL_PLANT_STEP_S if emulated else 0.0)]


def _reader(driver: Instrument, name: str, measures: Mapping[str, int]) -> Callable[[], dict[str, float]] | None:
    """How an instrument's readings become channels: by its role, or by the driver's own `record()`."""
    own = getattr(driver, "record", None)
    if callable(own):  # a driver (of a role flexbench does not know) that names what to record

        def read_own() -> dict[str, float]:
            return {channels.element(name, quantity): float(v) for quantity, v in own().items()}

        return read_own
    if isinstance(driver, PowerAnalyzer):
        if not measures:
            return None
        points = dict(measures)
        analyzer = driver

        def read_analyzer() -> dict[str, float]:
            reading = analyzer.read()
            values: dict[str, float] = {}
            for point, element in points.items():
                e = reading.elements[element]
                values[channels.element(point, channels.P_W)] = e.power_w
                values[channels.element(point, channels.Q_VAR)] = e.reactive_power_var
                values[channels.element(point, channels.V_V)] = e.voltage_v
                values[channels.element(point, channels.I_A)] = e.current_a
                values[channels.element(point, channels.F_HZ)] = e.frequency_hz
                if e.voltage_thd_pct is not None:
                    values[channels.element(point, channels.THD_V_PCT)] = e.voltage_thd_pct
                if e.current_thd_pct is not None:
                    values[channels.element(point, channels.THD_I_PCT)] = e.current_thd_pct
            if reading.instrument_time_s is not None:
                values[channels.element(name, channels.INSTRUMENT_TIME_S)] = reading.instrument_time_s
            return values

        return read_analyzer
    if isinstance(driver, DER):
        der = driver

        def read_der() -> dict[str, float]:
            m = der.measure()
            return {
                channels.element(name, channels.P_W): m.power_w,
                channels.element(name, channels.Q_VAR): m.reactive_power_var,
            }

        return read_der
    if isinstance(driver, GridSimulator):
        grid = driver

        def read_grid() -> dict[str, float]:
            phases = grid.measure()
            values = {channels.element(name, channels.phase_voltage(k + 1)): p.voltage_v for k, p in enumerate(phases)}
            values[channels.element(name, channels.F_HZ)] = phases[0].frequency_hz if phases else float("nan")
            return values

        return read_grid
    return None


def _driver(bench: Bench, name: str, inst: Any, address: str) -> Any:
    """The driver of [instruments.NAME] at `address`; BenchError naming the table when it cannot be made."""
    from flexbench.lab.bench_config import VIRTUAL_ADDRESS, BenchError

    if address in (VIRTUAL_ADDRESS, "controller"):
        raise BenchError(f"{bench.config.path} [instruments.{name}]: nothing on this bench serves address {address!r}")
    options = dict(inst.options)
    if inst.measures and "elements" not in options and inst.role == PowerAnalyzer.role:
        options["elements"] = sorted(inst.measures.values())
    cls = driver_class(inst.driver, bench.config.path.parent)
    try:
        return cls(address, safety=inst.safety, options=options, timeout_s=inst.timeout_s)
    except (InstrumentError, ValueError) as exc:
        raise BenchError(f"{bench.config.path} [instruments.{name}]: {exc}") from None


def instrument_components(bench: Bench) -> list[Component]:
    """A component per [instruments.NAME]: its driver at the address the bench file gives, or the one a
    component that serves it (the virtual lab, the controller's local API) reports, or the driver a
    component makes itself (a controller set up through its own configuration command)."""
    served: dict[str, str] = {}
    for component in bench.components:
        served.update(getattr(component, "addresses", None) or {})
    made: list[Component] = []
    line_use: dict[str, dict[str, float]] = {}  # serial device -> instrument -> share of its time
    makers = [make for c in bench.components if (make := getattr(c, "make_driver", None)) is not None]
    for name, inst in bench.config.instruments.items():
        driver = next((d for make in makers if (d := make(name, inst)) is not None), None)
        if driver is None:
            driver = _driver(bench, name, inst, served.get(name, inst.address))
        made.append(
            InstrumentComponent(
                inst,
                driver,
                bench.config.sample_period_s,
                bench.config.path,
                bench.on_event,
                bench.clock.time_scale,
                line_use,
            )
        )
    return made
