"""What grid-simulator emulators share: per-phase state, a list (profile) engine, measurements, hooks.

Each model's emulator (Chroma 61845, AMETEK RS/MX, NHR 9410, Pacific AFX)
adds only its SCPI command set on top of GridEmulator. State and hooks, the
same for all (the virtual lab codes against them):

- ``output_on``; ``voltage_v`` (one line-to-neutral value per phase),
  ``frequency_hz``: what the output is at now, following a running profile;
  assigning them sets the steady-state setpoints;
- ``phase_angle_deg`` (per phase, phase 1 = 0), ``voltage_slew_v_per_s``,
  ``frequency_slew_hz_per_s``;
- ``measurement_source``: called on each MEAS query, returning one
  PhaseReading per phase; None reports the present voltage and frequency
  with zero current while the output is on;
- ``on_change``: called (without the lock held) after any setpoint, output or profile change;
- ``responding``: False makes it hang like a dead instrument.

The profile engine runs on the emulator's injectable clock: segments move
voltage and frequency linearly from their start to their end values over a
ramp time, then hold until the segment's duration has passed. When the last
segment ends the output holds its values (or, where the instrument restores
its steady state after a transient, returns to the setpoints).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..roles import PhaseReading
from .scpi_server import Clock, ScpiEmulator, bool_arg, scpi

DEFAULT_FREQUENCY_HZ = 60.0
DEFAULT_SLEW_V_PER_S = 1000.0
DEFAULT_FREQUENCY_SLEW_HZ_PER_S = 100.0


@dataclass(frozen=True)
class Segment:
    """One list point: from start to end values over a ramp, held until `duration_s` has passed."""

    duration_s: float
    voltage_from_v: tuple[float, ...]
    voltage_to_v: tuple[float, ...]
    voltage_ramp_s: float
    frequency_from_hz: float
    frequency_to_hz: float
    frequency_ramp_s: float

    def at(self, t_s: float) -> tuple[tuple[float, ...], float]:
        def lerp(a: float, b: float, ramp_s: float) -> float:
            if ramp_s <= 0 or t_s >= ramp_s:
                return b
            return a + (b - a) * t_s / ramp_s

        volts = tuple(lerp(a, b, self.voltage_ramp_s) for a, b in zip(self.voltage_from_v, self.voltage_to_v))
        return volts, lerp(self.frequency_from_hz, self.frequency_to_hz, self.frequency_ramp_s)


def slewed_segments(
    dwell_s: Sequence[float],
    voltages_v: Sequence[Sequence[float]],
    voltage_slews: Sequence[float],
    frequencies_hz: Sequence[float],
    frequency_slews: Sequence[float],
    start_v: tuple[float, ...],
    start_hz: float,
) -> list[Segment]:
    """Segments of a SCPI LIST: per point a target per phase reached at a slew (inf = at once), held for the dwell.

    `voltages_v` holds one list per phase. ValueError when the lists differ in length.
    """
    n = len(dwell_s)
    if n == 0 or any(len(v) != n for v in (*voltages_v, voltage_slews, frequencies_hz, frequency_slews)):
        raise ValueError("list lengths differ")
    segments = []
    volts, freq = start_v, start_hz
    for i in range(n):
        target = tuple(v[i] for v in voltages_v)
        dv = max(abs(a - b) for a, b in zip(volts, target))
        v_ramp = 0.0 if math.isinf(voltage_slews[i]) else dv / voltage_slews[i]
        f_ramp = 0.0 if math.isinf(frequency_slews[i]) else abs(frequencies_hz[i] - freq) / frequency_slews[i]
        segments.append(
            Segment(
                dwell_s[i], volts, target, min(v_ramp, dwell_s[i]), freq, frequencies_hz[i], min(f_ramp, dwell_s[i])
            )
        )
        volts, freq = target, frequencies_hz[i]
    return segments


class GridEmulator(ScpiEmulator):
    """Per-phase grid-simulator state with a clock-driven list engine."""

    manufacturer = ""
    model = ""
    default_phase_angles_deg = (0.0, 120.0, 240.0)
    restores_after_profile = False  # True: the output returns to the setpoints when a profile ends

    def __init__(
        self, phases: int = 3, clock: Clock | None = None, *, serial: str = "", firmware: str = "1.00"
    ) -> None:
        if phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, got {phases!r}")
        self.phases = phases
        self.serial = serial
        self.firmware = firmware
        self.measurement_source: Callable[[], list[PhaseReading]] | None = None
        self.on_change: Callable[[], None] | None = None
        self._changed = False
        super().__init__(clock)
        self._reset_state()

    # -- commands every grid simulator answers alike ------------------------------------
    @scpi("*IDN?")
    def _idn(self, args, sfx) -> str:
        return self.identity()

    @scpi("*RST")
    def _rst(self, args, sfx) -> None:
        with self.lock:
            self._reset_state()
            self._changed = True

    @scpi("OUTPut[:STATe]")
    def _output(self, args, sfx) -> None:
        state = bool_arg(args)
        with self.lock:
            self.output_on = state
            if not state:
                self.stop_profile()
            self._changed = True

    @scpi("OUTPut[:STATe]?")
    def _output_q(self, args, sfx) -> str:
        return "1" if self.output_on else "0"

    def _reset_state(self) -> None:
        self.output_on = False
        self._voltage_v = [0.0] * self.phases
        self._frequency_hz = DEFAULT_FREQUENCY_HZ
        self.phase_angle_deg = list(self.default_phase_angles_deg[: self.phases])
        self.voltage_slew_v_per_s = DEFAULT_SLEW_V_PER_S
        self.frequency_slew_hz_per_s = DEFAULT_FREQUENCY_SLEW_HZ_PER_S
        self.segments: list[Segment] = []
        self._profile_start_s: float | None = None

    # -- setpoints that follow a running profile ---------------------------------------
    @property
    def voltage_v(self) -> list[float]:
        with self.lock:
            self._advance()
            if self._profile_start_s is not None:
                return list(self._profile_values(self.clock.now())[0])
            return list(self._voltage_v)

    @voltage_v.setter
    def voltage_v(self, values: Sequence[float]) -> None:
        with self.lock:
            self._voltage_v = [float(v) for v in values]

    @property
    def frequency_hz(self) -> float:
        with self.lock:
            self._advance()
            if self._profile_start_s is not None:
                return self._profile_values(self.clock.now())[1]
            return self._frequency_hz

    @frequency_hz.setter
    def frequency_hz(self, value: float) -> None:
        with self.lock:
            self._frequency_hz = float(value)

    def set_voltage_setpoint(self, value_v: float, phase_index: int | None) -> None:
        with self.lock:
            if phase_index is None:
                self._voltage_v = [value_v] * self.phases
            else:
                self._voltage_v[phase_index] = value_v
            self._changed = True

    def setpoint_v(self, phase_index: int) -> float:
        with self.lock:
            return self._voltage_v[phase_index]

    def set_frequency_setpoint(self, value_hz: float) -> None:
        with self.lock:
            self._frequency_hz = value_hz
            self._changed = True

    # -- the profile engine ---------------------------------------------------------------------
    @property
    def profile_running(self) -> bool:
        with self.lock:
            self._advance()
            return self._profile_start_s is not None

    def start_profile(self) -> None:
        with self.lock:
            if not self.segments:
                return
            self._profile_start_s = self.clock.now()
            self._changed = True

    def stop_profile(self) -> None:
        """Abort: the output holds the values it has reached."""
        with self.lock:
            if self._profile_start_s is None:
                return
            volts, freq = self._profile_values(self.clock.now())
            self._profile_start_s = None
            if not self.restores_after_profile:
                self._voltage_v, self._frequency_hz = list(volts), freq
            self._changed = True

    def _total_s(self) -> float:
        return sum(s.duration_s for s in self.segments)

    def _advance(self) -> None:
        """End a profile whose time is up (called with the lock held)."""
        if self._profile_start_s is None:
            return
        if self.clock.now() - self._profile_start_s >= self._total_s():
            last = self.segments[-1]
            self._profile_start_s = None
            if not self.restores_after_profile:
                self._voltage_v, self._frequency_hz = list(last.voltage_to_v), last.frequency_to_hz
            self._changed = True

    def _profile_values(self, now_s: float) -> tuple[tuple[float, ...], float]:
        t = now_s - (self._profile_start_s or now_s)
        for segment in self.segments:
            if t < segment.duration_s:
                return segment.at(t)
            t -= segment.duration_s
        last = self.segments[-1]
        return last.voltage_to_v, last.frequency_to_hz

    def steady_values(self) -> tuple[tuple[float, ...], float]:
        """The values a profile starts from: the setpoints."""
        with self.lock:
            return tuple(self._voltage_v), self._frequency_hz

    # -- hooks -------------------------------------------------------------------------------------
    def after_message(self) -> None:
        if self._changed:
            self._changed = False
            callback = self.on_change
            if callback is not None:
                callback()

    def reading(self, index: int) -> PhaseReading:
        """What phase `index` measures now (measurement_source, or the present setpoints)."""
        source = self.measurement_source
        if source is not None:
            readings = source()
            if readings:
                return readings[min(index, len(readings) - 1)]
        with self.lock:
            on = self.output_on
        return PhaseReading(
            voltage_v=self.voltage_v[index] if on else 0.0,
            current_a=0.0,
            power_w=0.0,
            reactive_power_var=0.0,
            frequency_hz=self.frequency_hz,
        )

    def identity(self) -> str:
        return f"{self.manufacturer},{self.model},{self.serial},{self.firmware}"
