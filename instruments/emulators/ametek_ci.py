"""Emulated AMETEK / California Instruments RS and MX grid simulators: SCPI on a loopback socket.

It accepts the commands of its spec (instruments/specs/ametek-rs.toml and
ametek-mx.toml, from programming manual 7003-961; those without behaviour
here are served from the spec) in long or short form and keeps the family's
ranges (RS: 0-300 V, 16-500 Hz; MX: 0-300 V, 16-1000 Hz), queueing -222 beyond them, -113 for unknown
headers, -224 for bad tokens, and -221 for a list that cannot run (lists of
different lengths, VOLT:MODE or FREQ:MODE not LIST, output off).

List mode runs on the emulator's clock: each point moves to its voltage and
frequency at its slews (``MAX``: at once) and holds until its dwell has passed.
As on Series II controllers (programming manual 7003-961, TRIG:STATe?), the
trigger state turns IDLE once the last list point has been executed, that is
when its slew has reached the end value, not when its dwell has passed: a list
whose last point is a step reads IDLE for all of that point's dwell.

The output voltage range (``VOLT:RANG`` 150 or 300) and the current limit
(``CURR``) are coupled as the manual describes: a current limit above the
range's maximum queues -222, and changing the range lowers a current limit
above the new range's maximum to that maximum.

Hooks for the virtual lab: see grid_base.GridEmulator.
"""

from __future__ import annotations

import math

from .grid_base import GridEmulator, Segment, slewed_segments
from .scpi_server import Clock, ScpiError, choice_arg, format_number, in_range, int_arg, number_arg, scpi

MAX_LIST_POINTS = 32  # programming manual 7003-961, 6.4.3 List Transients: up to 32 points


def _values(args: str, low: float, high: float, *, allow_max: bool = False) -> list[float]:
    parts = [p.strip() for p in args.split(",")]
    if parts == [""]:
        raise ScpiError(109)
    out = []
    for part in parts:
        if allow_max and part.upper() in ("MAX", "MAXIMUM"):
            out.append(math.inf)
        else:
            out.append(in_range(number_arg(part), low, high))
    if len(out) > MAX_LIST_POINTS:
        raise ScpiError(222)
    return out


class _CIEmulator(GridEmulator):
    """California Instruments SCPI, shared by the RS and MX emulators."""

    manufacturer = "AMETEK Programmable Power"
    voltage_range_v = (0.0, 300.0)
    frequency_range_hz = (16.0, 500.0)
    current_limit_max_a = {150.0: 125.0, 300.0: 62.5}  # per phase, by voltage range (the manual's example)

    def __init__(
        self, phases: int = 3, clock: Clock | None = None, *, serial: str = "CI0000001", firmware: str = "4.20"
    ) -> None:
        super().__init__(phases, clock, serial=serial, firmware=firmware)

    def _reset_state(self) -> None:
        super()._reset_state()
        self.coupled = True
        self.selected_phase = 1
        self.voltage_mode = "FIXED"
        self.frequency_mode = "FIXED"
        self.list_count = 1
        self.list_dwell_s: list[float] = []
        self.list_voltage_v: dict[int, list[float]] = {}
        self.list_voltage_slew: dict[int, list[float]] = {}
        self.list_frequency_hz: list[float] = []
        self.list_frequency_slew: list[float] = []
        self.voltage_range_max_v = max(self.current_limit_max_a)
        self.current_limit_a = self.current_limit_max_a[self.voltage_range_max_v]

    def _indexes(self) -> list[int]:
        return list(range(self.phases)) if self.coupled or self.phases == 1 else [self.selected_phase - 1]

    @scpi("INSTrument:COUPle")
    def _couple(self, args, sfx) -> None:
        self.coupled = choice_arg(args, {"ALL": "ALL", "NONE": "NONE"}) == "ALL"

    @scpi("INSTrument:COUPle?")
    def _couple_q(self, args, sfx) -> str:
        return "ALL" if self.coupled else "NONE"

    @scpi("INSTrument:NSELect")
    def _nsel(self, args, sfx) -> None:
        phase = int_arg(args)
        if not 1 <= phase <= self.phases:
            raise ScpiError(222)
        self.selected_phase = phase

    @scpi("INSTrument:NSELect?")
    def _nsel_q(self, args, sfx) -> str:
        return str(self.selected_phase)

    @scpi("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude][:AC]")
    def _volt(self, args, sfx) -> None:
        value = in_range(number_arg(args), 0.0, self.voltage_range_max_v)
        with self.lock:
            for index in self._indexes():
                self.set_voltage_setpoint(value, index)

    @scpi("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude][:AC]?")
    def _volt_q(self, args, sfx) -> str:
        return format_number(self.setpoint_v(self.selected_phase - 1))

    @scpi("[SOURce:]VOLTage:RANGe")
    def _volt_range(self, args, sfx) -> None:
        value = number_arg(args)
        if value not in self.current_limit_max_a:
            raise ScpiError(222)
        with self.lock:
            self.voltage_range_max_v = value
            self.current_limit_a = min(self.current_limit_a, self.current_limit_max_a[value])
            self._changed = True

    @scpi("[SOURce:]VOLTage:RANGe?")
    def _volt_range_q(self, args, sfx) -> str:
        return format_number(self.voltage_range_max_v)

    @scpi("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]")
    def _curr(self, args, sfx) -> None:
        value = in_range(number_arg(args), 0.0, self.current_limit_max_a[self.voltage_range_max_v])
        with self.lock:
            self.current_limit_a = value
            self._changed = True

    @scpi("[SOURce:]CURRent[:LEVel][:IMMediate][:AMPLitude]?")
    def _curr_q(self, args, sfx) -> str:
        return format_number(self.current_limit_a)

    @scpi("[SOURce:]FREQuency[:IMMediate]")
    def _freq(self, args, sfx) -> None:
        self.set_frequency_setpoint(in_range(number_arg(args), *self.frequency_range_hz))

    @scpi("[SOURce:]FREQuency[:IMMediate]?")
    def _freq_q(self, args, sfx) -> str:
        return format_number(self.steady_values()[1])

    @scpi("[SOURce:]PHASe[:IMMediate]")
    def _phase(self, args, sfx) -> None:
        value = in_range(number_arg(args), 0.0, 360.0)
        with self.lock:
            for index in self._indexes():
                self.phase_angle_deg[index] = value
            self._changed = True

    @scpi("[SOURce:]PHASe[:IMMediate]?")
    def _phase_q(self, args, sfx) -> str:
        return format_number(self.phase_angle_deg[self.selected_phase - 1])

    @scpi("[SOURce:]VOLTage:SLEW[:IMMediate]")
    def _vslew(self, args, sfx) -> None:
        self.voltage_slew_v_per_s = in_range(number_arg(args), 0.001, 1.0e6)
        self._changed = True

    @scpi("[SOURce:]VOLTage:SLEW[:IMMediate]?")
    def _vslew_q(self, args, sfx) -> str:
        return format_number(self.voltage_slew_v_per_s)

    @scpi("[SOURce:]FREQuency:SLEW[:IMMediate]")
    def _fslew(self, args, sfx) -> None:
        self.frequency_slew_hz_per_s = in_range(number_arg(args), 0.001, 1.0e4)
        self._changed = True

    @scpi("[SOURce:]FREQuency:SLEW[:IMMediate]?")
    def _fslew_q(self, args, sfx) -> str:
        return format_number(self.frequency_slew_hz_per_s)

    # -- list (transient) mode ---------------------------------------------------------------
    @scpi("[SOURce:]VOLTage:MODE")
    def _vmode(self, args, sfx) -> None:
        self.voltage_mode = choice_arg(
            args, {"FIXED": "FIXED", "FIX": "FIXED", "LIST": "LIST", "STEP": "STEP", "PULSE": "PULSE", "PULS": "PULSE"}
        )

    @scpi("[SOURce:]FREQuency:MODE")
    def _fmode(self, args, sfx) -> None:
        self.frequency_mode = choice_arg(
            args, {"FIXED": "FIXED", "FIX": "FIXED", "LIST": "LIST", "STEP": "STEP", "PULSE": "PULSE", "PULS": "PULSE"}
        )

    @scpi("TRIGger:TRANsient:SOURce")
    def _trig_source(self, args, sfx) -> None:
        choice_arg(args, {"IMM": "IMM", "IMMEDIATE": "IMM", "BUS": "BUS", "EXT": "EXT", "EXTERNAL": "EXT"})

    @scpi("[SOURce:]LIST:STEP")
    def _list_step(self, args, sfx) -> None:
        choice_arg(args, {"AUTO": "AUTO", "ONCE": "ONCE"})

    @scpi("[SOURce:]LIST:COUNt")
    def _list_count(self, args, sfx) -> None:
        self.list_count = int(in_range(int_arg(args), 1, 65535))

    @scpi("[SOURce:]LIST:DWELl")
    def _list_dwell(self, args, sfx) -> None:
        self.list_dwell_s = _values(args, 0.0001, 1.0e6)

    @scpi("[SOURce:]LIST:FREQuency[:LEVel]")
    def _list_freq(self, args, sfx) -> None:
        self.list_frequency_hz = _values(args, *self.frequency_range_hz)

    @scpi("[SOURce:]LIST:FREQuency:SLEW")
    def _list_fslew(self, args, sfx) -> None:
        self.list_frequency_slew = _values(args, 0.001, 1.0e4, allow_max=True)

    @scpi("[SOURce:]LIST:VOLTage[:LEVel]")
    def _list_volt(self, args, sfx) -> None:
        values = _values(args, *self.voltage_range_v)
        with self.lock:
            for index in self._indexes():
                self.list_voltage_v[index] = list(values)

    @scpi("[SOURce:]LIST:VOLTage:SLEW")
    def _list_vslew(self, args, sfx) -> None:
        values = _values(args, 0.001, 1.0e6, allow_max=True)
        with self.lock:
            for index in self._indexes():
                self.list_voltage_slew[index] = list(values)

    def _build_segments(self) -> list[Segment]:
        volts, freq = self.steady_values()
        try:
            segments = slewed_segments(
                self.list_dwell_s,
                [self.list_voltage_v.get(k, []) for k in range(self.phases)],
                self.list_voltage_slew.get(0, []),
                self.list_frequency_hz,
                self.list_frequency_slew,
                volts,
                freq,
            )
        except ValueError:
            raise ScpiError(221) from None
        return segments * self.list_count

    @scpi("INITiate[:IMMediate]")
    def _init(self, args, sfx) -> None:
        with self.lock:
            if self.voltage_mode != "LIST" or self.frequency_mode != "LIST" or not self.output_on:
                raise ScpiError(221)
            self.segments = self._build_segments()
            self.start_profile()

    @scpi("ABORt")
    def _abort(self, args, sfx) -> None:
        self.stop_profile()

    @scpi("TRIGger:STATe?")
    def _trig_state(self, args, sfx) -> str:
        return "BUSY" if self._last_point_pending() else "IDLE"

    def _last_point_pending(self) -> bool:
        """True until the last list point has been executed: its slews have reached their end values."""
        with self.lock:
            if not self.profile_running:
                return False
            last = self.segments[-1]
            executed_s = self._total_s() - last.duration_s + max(last.voltage_ramp_s, last.frequency_ramp_s)
            return self.clock.now() - (self._profile_start_s or 0.0) < executed_s

    # -- measurements ----------------------------------------------------------------------------
    def _selected(self):
        return self.reading(self.selected_phase - 1)

    @scpi("MEASure[:SCALar]:VOLTage[:AC]?")
    def _meas_v(self, args, sfx) -> str:
        return format_number(self._selected().voltage_v)

    @scpi("MEASure[:SCALar]:CURRent[:AC]?")
    def _meas_i(self, args, sfx) -> str:
        return format_number(self._selected().current_a)

    @scpi("MEASure[:SCALar]:POWer[:AC][:REAL]?")
    def _meas_p(self, args, sfx) -> str:
        return format_number(self._selected().power_w)

    @scpi("MEASure[:SCALar]:POWer[:AC]:APParent?")
    def _meas_s(self, args, sfx) -> str:
        reading = self._selected()
        return format_number(reading.voltage_v * reading.current_a)

    @scpi("MEASure[:SCALar]:POWer[:AC]:REACtive?")
    def _meas_q(self, args, sfx) -> str:
        return format_number(self._selected().reactive_power_var)

    @scpi("MEASure[:SCALar]:FREQuency?")
    def _meas_f(self, args, sfx) -> str:
        return format_number(self._selected().frequency_hz)


class AmetekRSEmulator(_CIEmulator):
    """An AMETEK RS90-3Pi."""

    model = "RS90-3Pi"
    spec_name = "ametek-rs"
    frequency_range_hz = (16.0, 500.0)


class AmetekMXEmulator(_CIEmulator):
    """An AMETEK MX45-3Pi."""

    model = "MX45-3Pi"
    spec_name = "ametek-mx"
    frequency_range_hz = (16.0, 1000.0)
