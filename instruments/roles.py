"""Role interfaces: what a test plan may ask of each kind of instrument.

A test plan talks to roles, never to vendor drivers, so a lab can swap a
Chroma for an AMETEK by editing its bench file. Every setpoint passes the
instrument's SafetyLimits before a byte is sent.

Signs (flexbench.core states the convention; each driver converts its
instrument's own to the one its role states here, and nothing above the
drivers flips a sign):

- power at the PCC, as a meter or a grid simulator sees it: import-positive
  (MeterReading, PhaseReading of a GridSimulator: the power it sources);
- a DER's own output: export-positive (DERMeasurement, set_active_power_w),
  as a generator states it; this is the device's terminal power, not the PCC's;
- an analyzer element: positive into the side wired as load; a bench wires
  the PCC element with the site as load (import-positive) and the DUT's
  element with the grid as load (the DUT's output, export-positive).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self


class InstrumentError(Exception):
    """An instrument refused, failed or reported an error; names the address and command."""

    def __init__(self, message: str, *, address: str = "", command: str = "") -> None:
        self.reason = message  # the message alone, without command and address
        self.address = address
        self.command = command
        parts = [message]
        if command:
            parts.append(f"command {command!r}")
        if address:
            parts.append(f"at {address}")
        super().__init__(", ".join(parts))


class InstrumentTimeout(InstrumentError):
    """The instrument did not answer in time (it may be hung or disconnected)."""


class SafetyLimitError(InstrumentError):
    """A setpoint beyond the bench's safety limits; refused before it was sent."""


@dataclass(frozen=True)
class SafetyLimits:
    """Bounds every setpoint is checked against before it is sent.

    `source` says where the limits were set (bench file and key) so a refusal
    tells the operator what to edit.
    """

    voltage_min_v: float | None = None
    voltage_max_v: float | None = None
    frequency_min_hz: float | None = None
    frequency_max_hz: float | None = None
    current_max_a: float | None = None
    power_max_w: float | None = None
    slew_max_v_per_s: float | None = None
    source: str = ""

    def check(self, quantity: str, value: float, unit: str, *, address: str = "") -> None:
        """Raise SafetyLimitError when `value` is outside the limits for `quantity`.

        quantity is one of: voltage, frequency, current, power, slew.
        """
        if not math.isfinite(value):
            raise SafetyLimitError(f"{quantity} setpoint {value} is not a finite number", address=address)
        lo = getattr(self, f"{quantity}_min_{unit}", None)
        hi = getattr(self, f"{quantity}_max_{unit}", None)
        where = f" (safety limits from {self.source})" if self.source else ""
        if lo is not None and value < lo:
            raise SafetyLimitError(
                f"{quantity} setpoint {value:g} {unit} is below {quantity}_min_{unit} = {lo:g}{where}",
                address=address,
            )
        if hi is not None and value > hi:
            raise SafetyLimitError(
                f"{quantity} setpoint {value:g} {unit} is above {quantity}_max_{unit} = {hi:g}{where}",
                address=address,
            )


@dataclass(frozen=True)
class Identity:
    manufacturer: str
    model: str
    serial: str
    firmware: str


@dataclass(frozen=True)
class PhaseReading:
    """One phase as an instrument measures it; power is what the grid side delivers (import-positive)."""

    voltage_v: float
    current_a: float
    power_w: float
    reactive_power_var: float
    frequency_hz: float


@dataclass(frozen=True)
class ElementReading:
    """One input element of a power analyzer (sign: positive = power flowing into the side wired as load)."""

    voltage_v: float
    current_a: float
    power_w: float
    reactive_power_var: float
    apparent_power_va: float
    power_factor: float
    frequency_hz: float
    voltage_thd_pct: float | None = None  # total harmonic distortion, where the driver reads harmonics
    current_thd_pct: float | None = None


@dataclass(frozen=True)
class AnalyzerReading:
    elements: dict[int, ElementReading]
    instrument_time_s: float | None = None  # the instrument's own timestamp where it gives one


@dataclass(frozen=True)
class Nameplate:
    """Ratings a DER reports about itself (SunSpec 702 / 120)."""

    max_power_w: float
    max_apparent_power_va: float
    max_reactive_power_var: float | None = None


@dataclass(frozen=True)
class DERMeasurement:
    """What a DER reports about its own output (SunSpec 701 / 103).

    Positive power = export: the device's terminal output, generator sign, by
    its nature (a battery charging is negative). The DER's channel
    ``<name>.p_w`` keeps this sign; the PCC's power is import-positive.
    ``extra`` holds further quantities the device reports, by its point names
    (SunSpec: VA, A, PF, ...); ``extra["PF"]`` is cos φ (-1..1) whatever unit
    the device's model uses.
    """

    power_w: float
    reactive_power_var: float
    voltage_v: float
    frequency_hz: float
    extra: Mapping[str, float] = field(default_factory=dict)


class Instrument(ABC):
    """Base of every driver: connect, identify, snapshot, and go to a safe state."""

    role: ClassVar[str]
    model: ClassVar[str]

    def __init__(
        self,
        address: str,
        *,
        safety: SafetyLimits | None = None,
        options: Mapping[str, Any] | None = None,
        timeout_s: float = 2.0,
    ) -> None:
        self.address = address
        self.safety = safety or SafetyLimits()
        self.options = dict(options or {})
        self.timeout_s = timeout_s

    @abstractmethod
    def connect(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def identity(self) -> Identity: ...

    @abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """Every setting worth saving with a run (station snapshot)."""

    @abstractmethod
    def safe_state(self) -> None:
        """Drive the instrument to the state in which the bench is safe to touch."""

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class ProfileStep:
    """One step of a grid simulator's list (profile) mode, for event replay.

    The output reaches `voltage_v` (one value for every phase, or one per
    phase) and `frequency_hz` either at once, holding them for `duration_s`
    (ramp False), or linearly over `duration_s` from the previous step's
    values (ramp True).
    """

    duration_s: float
    voltage_v: float | tuple[float, ...]
    frequency_hz: float
    ramp: bool = False

    def voltages_v(self, phases: int) -> tuple[float, ...]:
        """The voltage of each of `phases` phases."""
        if isinstance(self.voltage_v, (int, float)):
            return (float(self.voltage_v),) * phases
        if len(self.voltage_v) != phases:
            raise ValueError(f"profile step gives {len(self.voltage_v)} voltages for {phases} phases")
        return tuple(float(v) for v in self.voltage_v)


class GridSimulator(Instrument):
    """AC source that stands in for the utility grid. Safe state: output off.

    Beyond the abstract methods, a model may offer phase angles, slew rates and
    a list (profile) mode; the defaults raise NotImplementedError naming the
    model, so a test plan learns at once that the bench cannot do what it asks.
    """

    role = "grid_simulator"
    phases: int = 3

    @abstractmethod
    def set_voltage(self, voltage_v: float, phase: int | None = None) -> None:
        """Line-to-neutral RMS voltage; phase None sets every phase."""

    @abstractmethod
    def set_frequency(self, frequency_hz: float) -> None: ...

    @abstractmethod
    def set_output(self, enabled: bool) -> None: ...

    @abstractmethod
    def output_enabled(self) -> bool: ...

    @abstractmethod
    def measure(self) -> list[PhaseReading]: ...

    def _unsupported(self, what: str) -> NotImplementedError:
        return NotImplementedError(f"{self.model} driver has no {what}")

    def set_phase_angle(self, angle_deg: float, phase: int) -> None:
        """Phase angle of `phase` relative to phase 1, in degrees (phase 1 is the reference)."""
        raise self._unsupported("phase angle setting")

    def set_voltage_slew(self, slew_v_per_s: float) -> None:
        """Rate at which the output voltage moves to a new setpoint (checked against slew_max_v_per_s)."""
        raise self._unsupported("voltage slew setting")

    def set_frequency_slew(self, slew_hz_per_s: float) -> None:
        raise self._unsupported("frequency slew setting")

    def load_profile(self, steps: list[ProfileStep]) -> None:
        """Program a list of steps (checked against the safety limits first); start_profile() runs it."""
        raise self._unsupported("list (profile) mode")

    def start_profile(self) -> None:
        raise self._unsupported("list (profile) mode")

    def stop_profile(self) -> None:
        """Abort a running profile; the output stays on at the values the instrument holds."""
        raise self._unsupported("list (profile) mode")

    def profile_running(self) -> bool:
        raise self._unsupported("list (profile) mode")

    def check_profile(self, steps: list[ProfileStep], start_voltages_v: tuple[float, ...] | None = None) -> None:
        """Refuse a profile before anything is sent: durations, voltages, frequencies, and ramp rates.

        A ramp from the previous step (from `start_voltages_v` for the first) is
        checked against slew_max_v_per_s; step changes rely on the instrument's
        own programmed slew, which the bench's limit already bounds.
        """
        if not steps:
            raise ValueError("a profile needs at least one step")
        previous = start_voltages_v
        for k, step in enumerate(steps):
            if not step.duration_s > 0:
                raise ValueError(f"profile step {k}: duration_s must be positive, got {step.duration_s!r}")
            voltages = step.voltages_v(self.phases)
            for v in voltages:
                self.safety.check("voltage", v, "v", address=self.address)
            self.safety.check("frequency", step.frequency_hz, "hz", address=self.address)
            if step.ramp and previous is not None:
                rate = max(abs(a - b) for a, b in zip(voltages, previous)) / step.duration_s
                self.safety.check("slew", rate, "v_per_s", address=self.address)
            previous = voltages

    def safe_state(self) -> None:
        self.set_output(False)


class PowerAnalyzer(Instrument):
    """Measures V, I, P, Q at one or more elements (DUT terminals, PCC)."""

    role = "power_analyzer"

    @abstractmethod
    def read(self) -> AnalyzerReading:
        """The latest values; a driver set to stream waits for the instrument's next update."""

    def stream(self, count: int | None = None) -> Iterator[AnalyzerReading]:
        """Successive readings, one per read(): at the instrument's update rate where the driver
        synchronizes to it; `count` None streams until the caller stops iterating."""
        n = 0
        while count is None or n < count:
            yield self.read()
            n += 1

    def safe_state(self) -> None:
        """A power analyzer only measures: nothing to make safe."""


class DER(Instrument):
    """A distributed energy resource under test, reached over its own interface."""

    role = "der"

    @abstractmethod
    def nameplate(self) -> Nameplate: ...

    @abstractmethod
    def measure(self) -> DERMeasurement: ...

    @abstractmethod
    def set_active_power_limit_pct(self, limit_pct: float | None) -> None:
        """Limit maximum active power to a percent of rated power; None lifts the limit."""

    @abstractmethod
    def active_power_limit_pct(self) -> float | None: ...

    def set_active_power_w(self, power_w: float | None) -> None:
        """Active power setpoint (positive = export, e.g. battery discharge); None releases it."""
        raise NotImplementedError(f"{type(self).__name__} has no active power setpoint")

    def safe_state(self) -> None:
        """Lift test limits: the grid simulator's output off is what de-energizes the bench."""
        self.set_active_power_limit_pct(None)


@dataclass(frozen=True)
class DCReading:
    voltage_v: float
    current_a: float
    power_w: float


@dataclass(frozen=True)
class IVCurve:
    """Photovoltaic array curve parameters at the simulated conditions (solar array simulation mode)."""

    open_circuit_voltage_v: float
    short_circuit_current_a: float
    max_power_voltage_v: float
    max_power_current_a: float

    @property
    def max_power_w(self) -> float:
        return self.max_power_voltage_v * self.max_power_current_a


class PVSimulator(Instrument):
    """DC source in solar-array-simulation mode feeding a PV inverter. Safe state: output off."""

    role = "pv_simulator"

    @abstractmethod
    def set_curve(self, curve: IVCurve) -> None:
        """Program the I-V curve; voltage and power are checked against the safety limits first."""

    @abstractmethod
    def curve(self) -> IVCurve: ...

    @abstractmethod
    def set_output(self, enabled: bool) -> None: ...

    @abstractmethod
    def output_enabled(self) -> bool: ...

    @abstractmethod
    def measure(self) -> DCReading: ...

    def safe_state(self) -> None:
        self.set_output(False)


class ACLoad(Instrument):
    """AC electronic load (constant current, power or resistance). Safe state: input off."""

    role = "ac_load"
    MODES: ClassVar[tuple[str, ...]] = ("current", "power", "resistance")

    @abstractmethod
    def set_power_w(self, power_w: float) -> None:
        """Constant-power mode at `power_w` (checked against power_max_w first)."""

    @abstractmethod
    def set_current_a(self, current_a: float) -> None:
        """Constant-current mode at `current_a` RMS (checked against current_max_a first)."""

    @abstractmethod
    def set_resistance_ohm(self, resistance_ohm: float) -> None: ...

    @abstractmethod
    def set_input(self, enabled: bool) -> None: ...

    @abstractmethod
    def input_enabled(self) -> bool: ...

    @abstractmethod
    def measure(self) -> PhaseReading: ...

    def safe_state(self) -> None:
        self.set_input(False)


@dataclass(frozen=True)
class MeterReading:
    """What a revenue or site meter reports. Positive power = import (from the grid into the site).

    `phases` holds L1, L2, L3 (one entry on a single-phase meter); totals are
    the meter's own where it gives them, else the sum (power, current) or the
    mean (voltage) of the phases. NaN marks a quantity the meter does not report.
    """

    phases: tuple[PhaseReading, ...]
    power_w: float
    reactive_power_var: float
    voltage_v: float  # mean line-to-neutral
    current_a: float  # sum of the phase currents
    frequency_hz: float
    energy_import_wh: float
    energy_export_wh: float
    instrument_time_s: float | None = None


class Meter(Instrument):
    """A meter at the PCC or a branch: per-phase and total W, var, V, A, Hz and energy."""

    role = "meter"

    @abstractmethod
    def read(self) -> MeterReading: ...

    def safe_state(self) -> None:
        """A meter only measures: nothing to make safe."""


PCS_MODES: tuple[str, ...] = ("unrestricted", "export-only", "import-only", "no-exchange")


class SettingNotTaken(InstrumentError):
    """The device cannot take this setting at all (not a fault): a check that needs it is not applicable."""


@dataclass(frozen=True)
class PCSStatus:
    """What a power control system reports about its own settings and state."""

    mode: str
    export_limit_w: float | None
    import_limit_w: float | None
    current_limit_a: float | None
    fail_safe: bool | None  # None: the PCS has no way to tell (set up through its own configuration)


class PowerControlSystem(Instrument):
    """A power control system (UL 3141 / UL 1741 PCS) that limits a site's exchange at its PCC.

    Modes follow the UL 1741 PCS CRD: unrestricted, export-only (storage does not
    charge from the grid), import-only (no export), no-exchange.
    """

    role = "pcs"

    @abstractmethod
    def set_mode(self, mode: str) -> None: ...

    @abstractmethod
    def set_export_limit_w(self, limit_w: float | None) -> None:
        """Maximum export at the PCC; None lifts the limit."""

    @abstractmethod
    def set_import_limit_w(self, limit_w: float | None) -> None:
        """Maximum import at the PCC; None lifts the limit."""

    @abstractmethod
    def set_current_limit_a(self, limit_a: float | None) -> None:
        """Maximum current on the controlled busbar or conductor (NEC 705.13); None lifts it."""

    @abstractmethod
    def status(self) -> PCSStatus: ...

    def program(
        self, mode: str, export_limit_w: float | None, import_limit_w: float | None, current_limit_a: float | None
    ) -> None:
        """All settings at once: a PCS configured as a whole (a file and a restart) overrides this."""
        self.set_mode(mode)
        self.set_export_limit_w(export_limit_w)
        self.set_import_limit_w(import_limit_w)
        self.set_current_limit_a(current_limit_a)

    def load_schedule(self, path: Path, site: str | None = None) -> None:
        """Configure the PCS with a schedule file (core.schedule_files: static month x hour, or variable):
        it then holds the limits of its own clock's month and hour (or interval) with no communication,
        and the firm limits when a variable schedule runs out. A PCS that cannot: SettingNotTaken."""
        raise SettingNotTaken(f"{self.model}: cannot be configured with a schedule", address=self.address)

    def clear_schedule(self) -> None:
        """No schedule in the PCS's configuration any more (a PCS that cannot hold one has none to clear)."""

    def set_clock(self, t_s: float) -> None:
        """Set the PCS's own clock (what its schedule is read by) to this time, s since 1970."""
        raise SettingNotTaken(f"{self.model}: its clock cannot be set from the bench", address=self.address)

    def clock_s(self) -> float:
        """The PCS's own clock now, s since 1970."""
        raise SettingNotTaken(f"{self.model}: its clock cannot be read from the bench", address=self.address)

    def safe_state(self) -> None:
        """The PCS keeps its settings: de-energizing the bench is the grid simulator's job."""
