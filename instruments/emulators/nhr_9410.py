"""Emulated NH Research 9410 grid simulator: SCPI with channel lists on a loopback socket.

It accepts the commands of its spec (instruments/specs/nhr-9410.toml: the
programming manual was not found, so these are the driver's forms) and
behaves as the instrument does where a driver could get it wrong: a
channel list names the phases a command applies to (none: every phase for a
setting, phase 1 for a query); a channel outside the output queues -222;
``FETC`` before any ``MEAS`` queues -230 "Data corrupt or stale", and
``FETC`` returns the values of the last ``MEAS`` acquisition, not fresh ones.
Ranges: 0-350 V, 30-90 Hz, 0-360 degrees; -113 for unknown headers.

Hooks for the virtual lab: see grid_base.GridEmulator.
"""

from __future__ import annotations

import math
import re

from ..roles import PhaseReading
from .grid_base import GridEmulator, slewed_segments
from .scpi_server import Clock, ScpiError, choice_arg, format_number, in_range, int_arg, number_arg, scpi

VOLTAGE_RANGE_V = (0.0, 350.0)
FREQUENCY_RANGE_HZ = (30.0, 90.0)
MAX_LIST_POINTS = 100
_CHANNELS = re.compile(r",?\s*\(@([^)]*)\)\s*$")


class NHR9410Emulator(GridEmulator):
    """An NHR 9410 as the driver sees it over TCPIP SOCKET."""

    manufacturer = "NH Research"
    model = "9410-480-3"
    spec_name = "nhr-9410"

    def __init__(
        self, phases: int = 3, clock: Clock | None = None, *, serial: str = "94100001", firmware: str = "3.2.1"
    ) -> None:
        super().__init__(phases, clock, serial=serial, firmware=firmware)

    def _reset_state(self) -> None:
        super()._reset_state()
        self.voltage_mode = "FIXED"
        self.frequency_mode = "FIXED"
        self.list_count = 1
        self.list_dwell_s: list[float] = []
        self.list_voltage_v: dict[int, list[float]] = {}
        self.list_voltage_slew: dict[int, list[float]] = {}
        self.list_frequency_hz: list[float] = []
        self.list_frequency_slew: list[float] = []
        self._acquired: list[PhaseReading] | None = None

    def _split(self, args: str, *, query: bool = False) -> tuple[str, list[int]]:
        """Parameters and the phase indexes of a trailing channel list."""
        text = args.strip()
        match = _CHANNELS.search(text)
        if match is None:
            return text, ([0] if query else list(range(self.phases)))
        indexes: list[int] = []
        for part in match.group(1).split(","):
            bounds = part.split(":")
            try:
                lo, hi = int(bounds[0]), int(bounds[-1])
            except ValueError:
                raise ScpiError(104) from None
            if len(bounds) > 2 or not 1 <= lo <= hi <= self.phases:
                raise ScpiError(222)
            indexes += range(lo - 1, hi)
        return text[: match.start()].strip(), indexes

    def _one(self, args: str) -> int:
        _, indexes = self._split(args, query=True)
        if len(indexes) != 1:
            raise ScpiError(108)
        return indexes[0]

    @scpi("[SOURce:]VOLTage[:LEVel][:AC]")
    def _volt(self, args, sfx) -> None:
        params, indexes = self._split(args)
        value = in_range(number_arg(params), *VOLTAGE_RANGE_V)
        with self.lock:
            for index in indexes:
                self.set_voltage_setpoint(value, index)

    @scpi("[SOURce:]VOLTage[:LEVel][:AC]?", takes_args=True)
    def _volt_q(self, args, sfx) -> str:
        return format_number(self.setpoint_v(self._one(args)))

    @scpi("[SOURce:]FREQuency")
    def _freq(self, args, sfx) -> None:
        self.set_frequency_setpoint(in_range(number_arg(args), *FREQUENCY_RANGE_HZ))

    @scpi("[SOURce:]FREQuency?")
    def _freq_q(self, args, sfx) -> str:
        return format_number(self.steady_values()[1])

    @scpi("[SOURce:]PHASe")
    def _phase(self, args, sfx) -> None:
        params, indexes = self._split(args)
        value = in_range(number_arg(params), 0.0, 360.0)
        with self.lock:
            for index in indexes:
                self.phase_angle_deg[index] = value
            self._changed = True

    @scpi("[SOURce:]PHASe?", takes_args=True)
    def _phase_q(self, args, sfx) -> str:
        return format_number(self.phase_angle_deg[self._one(args)])

    @scpi("[SOURce:]VOLTage:SLEW")
    def _vslew(self, args, sfx) -> None:
        self.voltage_slew_v_per_s = in_range(number_arg(args), 0.001, 1.0e6)
        self._changed = True

    @scpi("[SOURce:]VOLTage:SLEW?")
    def _vslew_q(self, args, sfx) -> str:
        return format_number(self.voltage_slew_v_per_s)

    @scpi("[SOURce:]FREQuency:SLEW")
    def _fslew(self, args, sfx) -> None:
        self.frequency_slew_hz_per_s = in_range(number_arg(args), 0.001, 1.0e4)
        self._changed = True

    @scpi("[SOURce:]FREQuency:SLEW?")
    def _fslew_q(self, args, sfx) -> str:
        return format_number(self.frequency_slew_hz_per_s)

    # -- measurements: one acquisition, then fetches from it --------------------------------------
    @scpi("MEASure[:SCALar]:VOLTage[:AC]?", takes_args=True)
    def _meas_v(self, args, sfx) -> str:
        index = self._one(args)
        acquired = [self.reading(k) for k in range(self.phases)]
        with self.lock:
            self._acquired = acquired
        return format_number(acquired[index].voltage_v)

    def _fetched(self, args: str, field: str) -> str:
        index = self._one(args)
        with self.lock:
            if self._acquired is None:
                raise ScpiError(230)
            return format_number(getattr(self._acquired[index], field))

    @scpi("FETCh[:SCALar]:VOLTage[:AC]?", takes_args=True)
    def _fetch_v(self, args, sfx) -> str:
        return self._fetched(args, "voltage_v")

    @scpi("FETCh[:SCALar]:CURRent[:AC]?", takes_args=True)
    def _fetch_i(self, args, sfx) -> str:
        return self._fetched(args, "current_a")

    @scpi("FETCh[:SCALar]:POWer[:AC][:REAL]?", takes_args=True)
    def _fetch_p(self, args, sfx) -> str:
        return self._fetched(args, "power_w")

    @scpi("FETCh[:SCALar]:POWer[:AC]:REACtive?", takes_args=True)
    def _fetch_q(self, args, sfx) -> str:
        return self._fetched(args, "reactive_power_var")

    @scpi("FETCh[:SCALar]:FREQuency?")
    def _fetch_f(self, args, sfx) -> str:
        return self._fetched("", "frequency_hz")

    # -- list mode ----------------------------------------------------------------------------------
    def _values(self, params: str, low: float, high: float, *, allow_max: bool = False) -> list[float]:
        parts = [p.strip() for p in params.split(",")]
        if parts == [""]:
            raise ScpiError(109)
        out = [
            math.inf if allow_max and p.upper() in ("MAX", "MAXIMUM") else in_range(number_arg(p), low, high)
            for p in parts
        ]
        if len(out) > MAX_LIST_POINTS:
            raise ScpiError(222)
        return out

    @scpi("[SOURce:]VOLTage:MODE")
    def _vmode(self, args, sfx) -> None:
        self.voltage_mode = choice_arg(args, {"FIXED": "FIXED", "FIX": "FIXED", "LIST": "LIST"})

    @scpi("[SOURce:]FREQuency:MODE")
    def _fmode(self, args, sfx) -> None:
        self.frequency_mode = choice_arg(args, {"FIXED": "FIXED", "FIX": "FIXED", "LIST": "LIST"})

    @scpi("[SOURce:]LIST:COUNt")
    def _list_count(self, args, sfx) -> None:
        self.list_count = int(in_range(int_arg(args), 1, 65535))

    @scpi("[SOURce:]LIST:DWELl")
    def _list_dwell(self, args, sfx) -> None:
        self.list_dwell_s = self._values(args, 0.0001, 1.0e6)

    @scpi("[SOURce:]LIST:FREQuency[:LEVel]")
    def _list_freq(self, args, sfx) -> None:
        self.list_frequency_hz = self._values(args, *FREQUENCY_RANGE_HZ)

    @scpi("[SOURce:]LIST:FREQuency:SLEW")
    def _list_fslew(self, args, sfx) -> None:
        self.list_frequency_slew = self._values(args, 0.001, 1.0e4, allow_max=True)

    @scpi("[SOURce:]LIST:VOLTage[:LEVel]")
    def _list_volt(self, args, sfx) -> None:
        params, indexes = self._split(args)
        values = self._values(params, *VOLTAGE_RANGE_V)
        with self.lock:
            for index in indexes:
                self.list_voltage_v[index] = list(values)

    @scpi("[SOURce:]LIST:VOLTage:SLEW")
    def _list_vslew(self, args, sfx) -> None:
        params, indexes = self._split(args)
        values = self._values(params, 0.001, 1.0e6, allow_max=True)
        with self.lock:
            for index in indexes:
                self.list_voltage_slew[index] = list(values)

    @scpi("INITiate[:IMMediate]")
    def _init(self, args, sfx) -> None:
        with self.lock:
            if self.voltage_mode != "LIST" or self.frequency_mode != "LIST" or not self.output_on:
                raise ScpiError(221)
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
            self.segments = segments * self.list_count
            self.start_profile()

    @scpi("ABORt")
    def _abort(self, args, sfx) -> None:
        self.stop_profile()

    @scpi("TRIGger:STATe?")
    def _trig_state(self, args, sfx) -> str:
        return "BUSY" if self.profile_running else "IDLE"
