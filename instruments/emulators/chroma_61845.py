"""Emulated Chroma 61845 grid simulator: SCPI on a loopback socket.

It accepts the command set the driver documents (instruments.drivers.chroma_61845)
in long or short form, keeps the instrument's programmable ranges (0-300 V
line-to-neutral, 30-100 Hz, 0-360 degrees) and queues "-222,Data out of range"
beyond them, "-113,Undefined header" for anything it does not know, and
"-221,Settings conflict" for a list that cannot run (lists of different
lengths, output not in LIST mode or off, phase angles on a one-phase unit).

List mode runs on the emulator's clock: each point goes from its start to
its end values over its dwell time (LIST:BASE TIME, dwell in milliseconds).

As on the instrument, the output terminals carry voltage only with the power
stage on (OUTP ON) and the output relay closed (OUTP:RELAY ON); `output_on`,
what the virtual lab reads, is both. INST:PHAS SINGLE|THREE is the output's
phase mode: in single-phase mode there are no phase angles and no phase but
the first to select. INST:EDIT ALL programs all phases together (as
INST:COUP ALL). FETC queries read the last measurement like MEAS. Commands
of the manual the emulator does not model (SOUR:CURR:LIM, VOLT:RANG, ...)
are served from the spec (instruments/specs/chroma-61845.toml).

Hooks for the virtual lab (see grid_base.GridEmulator): ``output_on``,
``voltage_v`` (per phase), ``frequency_hz``, ``phase_angle_deg``,
``measurement_source``, ``on_change``, ``responding``.
"""

from __future__ import annotations

from .grid_base import GridEmulator, Segment
from .scpi_server import (
    Clock,
    ScpiError,
    bool_arg,
    choice_arg,
    format_number,
    in_range,
    int_arg,
    number_arg,
    scpi,
)

VOLTAGE_RANGE_V = (0.0, 300.0)
FREQUENCY_RANGE_HZ = (30.0, 100.0)
SLEW_RANGE_V_PER_S = (0.001, 1.0e6)
FREQUENCY_SLEW_RANGE_HZ_PER_S = (0.001, 1.0e4)
MAX_LIST_POINTS = 100


def _numbers(args: str, low: float, high: float) -> list[float]:
    parts = [p.strip() for p in args.split(",")]
    if not parts or parts == [""]:
        raise ScpiError(109)
    return [in_range(number_arg(p), low, high) for p in parts]


class ChromaGridEmulator(GridEmulator):
    """A Chroma 61845 as the driver sees it over TCPIP SOCKET."""

    spec_name = "chroma-61845"
    manufacturer = "Chroma ATE"
    model = "61845"

    def __init__(
        self, phases: int = 3, clock: Clock | None = None, *, serial: str = "618450000001", firmware: str = "1.00"
    ) -> None:
        super().__init__(phases, clock, serial=serial, firmware=firmware)

    # The output is live only with the power stage on and the relay closed.
    power_stage_on = False
    relay_closed = False

    @property
    def output_on(self) -> bool:
        return self.power_stage_on and self.relay_closed

    @output_on.setter
    def output_on(self, value: bool) -> None:
        """The virtual lab's switch: on closes the relay as well, off turns the power stage off."""
        self.power_stage_on = bool(value)
        if value:
            self.relay_closed = True

    def _reset_state(self) -> None:
        super()._reset_state()
        self.relay_closed = False
        self.phase_mode = "THREE" if self.phases == 3 else "SINGLE"
        self.coupled = True
        self.selected_phase = 1
        self.output_mode = "FIXED"
        self.list_coupled = True
        self.list_count = 1
        self.list_base = "TIME"
        self.list_dwell_ms: list[float] = []
        self.list_shape: list[str] = []
        self.list_voltage_start_v: dict[int, list[float]] = {}
        self.list_voltage_end_v: dict[int, list[float]] = {}
        self.list_frequency_start_hz: list[float] = []
        self.list_frequency_end_hz: list[float] = []

    # -- output -------------------------------------------------------------------
    def _switch(self, args: str, attr: str) -> None:
        """OUTP and OUTP:RELAY: opening either ends a running list."""
        state = bool_arg(args)
        with self.lock:
            setattr(self, attr, state)
            if not state:
                self.stop_profile()
            self._changed = True

    @scpi("OUTPut[:STATe]")
    def _output(self, args, sfx) -> None:
        self._switch(args, "power_stage_on")

    @scpi("OUTPut[:STATe]?")
    def _output_q(self, args, sfx) -> str:
        return "1" if self.power_stage_on else "0"

    @scpi("OUTPut:RELay")
    def _relay(self, args, sfx) -> None:
        self._switch(args, "relay_closed")

    @scpi("OUTPut:RELay?")
    def _relay_q(self, args, sfx) -> str:
        return "1" if self.relay_closed else "0"

    @scpi("OUTPut:SLEW:VOLTage[:AC]")
    def _slew(self, args, sfx) -> None:
        value = in_range(number_arg(args), *SLEW_RANGE_V_PER_S)
        with self.lock:
            self.voltage_slew_v_per_s = value
            self._changed = True

    @scpi("OUTPut:SLEW:VOLTage[:AC]?")
    def _slew_q(self, args, sfx) -> str:
        return format_number(self.voltage_slew_v_per_s)

    @scpi("OUTPut:SLEW:FREQuency")
    def _fslew(self, args, sfx) -> None:
        value = in_range(number_arg(args), *FREQUENCY_SLEW_RANGE_HZ_PER_S)
        with self.lock:
            self.frequency_slew_hz_per_s = value
            self._changed = True

    @scpi("OUTPut:SLEW:FREQuency?")
    def _fslew_q(self, args, sfx) -> str:
        return format_number(self.frequency_slew_hz_per_s)

    @scpi("OUTPut:MODE")
    def _mode(self, args, sfx) -> None:
        mode = choice_arg(args, {"FIXED": "FIXED", "FIX": "FIXED", "LIST": "LIST"})
        with self.lock:
            if self.profile_running:
                raise ScpiError(221)
            self.output_mode = mode

    @scpi("OUTPut:MODE?")
    def _mode_q(self, args, sfx) -> str:
        return self.output_mode

    # -- phase mode and selection -----------------------------------------------------------
    @scpi("INSTrument:PHASe")
    def _phase_mode(self, args, sfx) -> None:
        mode = choice_arg(args, {"SINGLE": "SINGLE", "SING": "SINGLE", "THREE": "THREE", "THRE": "THREE"})
        with self.lock:
            if mode == "THREE" and self.phases == 1:
                raise ScpiError(221)
            self.phase_mode = mode
            if mode == "SINGLE":
                self.selected_phase = 1
            self._changed = True

    @scpi("INSTrument:PHASe?")
    def _phase_mode_q(self, args, sfx) -> str:
        return self.phase_mode

    @property
    def output_phases(self) -> int:
        """Phases the output has in its present mode."""
        return 3 if self.phase_mode == "THREE" else 1

    @scpi("INSTrument:EDIT")
    def _edit(self, args, sfx) -> None:
        choice_arg(args, {"ALL": "ALL"})
        with self.lock:
            self.coupled = True

    @scpi("INSTrument:COUPle")
    def _couple(self, args, sfx) -> None:
        value = choice_arg(args, {"ALL": "ALL", "NONE": "NONE"})
        with self.lock:
            self.coupled = value == "ALL"

    @scpi("INSTrument:COUPle?")
    def _couple_q(self, args, sfx) -> str:
        return "ALL" if self.coupled else "NONE"

    @scpi("INSTrument:NSELect")
    def _nsel(self, args, sfx) -> None:
        phase = int_arg(args)
        if not 1 <= phase <= self.phases:
            raise ScpiError(222)
        if phase > self.output_phases:
            raise ScpiError(221)
        with self.lock:
            self.selected_phase = phase

    @scpi("INSTrument:NSELect?")
    def _nsel_q(self, args, sfx) -> str:
        return str(self.selected_phase)

    # -- setpoints ----------------------------------------------------------------------------
    @scpi("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]:AC")
    def _volt(self, args, sfx) -> None:
        value = in_range(number_arg(args), *VOLTAGE_RANGE_V)
        self.set_voltage_setpoint(value, None if self.coupled else self.selected_phase - 1)

    @scpi("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]:AC?")
    def _volt_q(self, args, sfx) -> str:
        return format_number(self.setpoint_v(self.selected_phase - 1))

    @scpi("[SOURce:]FREQuency[:IMMediate]")
    def _freq(self, args, sfx) -> None:
        self.set_frequency_setpoint(in_range(number_arg(args), *FREQUENCY_RANGE_HZ))

    @scpi("[SOURce:]FREQuency[:IMMediate]?")
    def _freq_q(self, args, sfx) -> str:
        return format_number(self.steady_values()[1])

    def _phase_angle(self, index: int, args: str) -> None:
        if self.output_phases == 1:
            raise ScpiError(221)
        value = in_range(number_arg(args), 0.0, 360.0)
        with self.lock:
            self.phase_angle_deg[index] = value
            self._changed = True

    @scpi("[SOURce:]PHASe:P12")
    def _p12(self, args, sfx) -> None:
        self._phase_angle(1, args)

    @scpi("[SOURce:]PHASe:P12?")
    def _p12_q(self, args, sfx) -> str:
        return format_number(self.phase_angle_deg[1]) if self.phases > 1 else "0"

    @scpi("[SOURce:]PHASe:P13")
    def _p13(self, args, sfx) -> None:
        self._phase_angle(2, args)

    @scpi("[SOURce:]PHASe:P13?")
    def _p13_q(self, args, sfx) -> str:
        return format_number(self.phase_angle_deg[2]) if self.phases > 1 else "0"

    # -- list mode ------------------------------------------------------------------------------
    @scpi("[SOURce:]LIST:COUPle")
    def _list_couple(self, args, sfx) -> None:
        self.list_coupled = choice_arg(args, {"ALL": "ALL", "NONE": "NONE"}) == "ALL"

    @scpi("[SOURce:]LIST:COUNt")
    def _list_count(self, args, sfx) -> None:
        self.list_count = int(in_range(int_arg(args), 1, 65535))

    @scpi("[SOURce:]LIST:BASE")
    def _list_base(self, args, sfx) -> None:
        self.list_base = choice_arg(args, {"TIME": "TIME", "CYCLE": "CYCLE", "CYCL": "CYCLE"})

    @scpi("[SOURce:]LIST:TRIGgered")
    def _list_trig(self, args, sfx) -> None:
        choice_arg(args, {"AUTO": "AUTO", "MANUAL": "MANUAL", "MAN": "MANUAL"})

    @scpi("[SOURce:]LIST:DWELl")
    def _list_dwell(self, args, sfx) -> None:
        values = _numbers(args, 0.1, 99_999_999.0)
        if len(values) > MAX_LIST_POINTS:
            raise ScpiError(222)
        self.list_dwell_ms = values

    @scpi("[SOURce:]LIST:SHAPe")
    def _list_shape(self, args, sfx) -> None:
        self.list_shape = [choice_arg(p, {"A": "A", "B": "B"}) for p in args.split(",")]

    def _list_voltage(self, args: str, target: dict[int, list[float]]) -> None:
        values = _numbers(args, *VOLTAGE_RANGE_V)
        with self.lock:
            if self.list_coupled:
                for k in range(self.phases):
                    target[k] = list(values)
            else:
                target[self.selected_phase - 1] = values

    @scpi("[SOURce:]LIST:VOLTage[:AC]:STARt")
    def _list_v_start(self, args, sfx) -> None:
        self._list_voltage(args, self.list_voltage_start_v)

    @scpi("[SOURce:]LIST:VOLTage[:AC]:END")
    def _list_v_end(self, args, sfx) -> None:
        self._list_voltage(args, self.list_voltage_end_v)

    @scpi("[SOURce:]LIST:FREQuency:STARt")
    def _list_f_start(self, args, sfx) -> None:
        self.list_frequency_start_hz = _numbers(args, *FREQUENCY_RANGE_HZ)

    @scpi("[SOURce:]LIST:FREQuency:END")
    def _list_f_end(self, args, sfx) -> None:
        self.list_frequency_end_hz = _numbers(args, *FREQUENCY_RANGE_HZ)

    def _build_segments(self) -> list[Segment]:
        n = len(self.list_dwell_ms)
        lists = [self.list_frequency_start_hz, self.list_frequency_end_hz]
        lists += [self.list_voltage_start_v.get(k, []) for k in range(self.phases)]
        lists += [self.list_voltage_end_v.get(k, []) for k in range(self.phases)]
        if n == 0 or any(len(values) != n for values in lists) or self.list_base != "TIME":
            raise ScpiError(221)
        segments = []
        for i in range(n):
            duration = self.list_dwell_ms[i] / 1000.0
            segments.append(
                Segment(
                    duration_s=duration,
                    voltage_from_v=tuple(self.list_voltage_start_v[k][i] for k in range(self.phases)),
                    voltage_to_v=tuple(self.list_voltage_end_v[k][i] for k in range(self.phases)),
                    voltage_ramp_s=duration,
                    frequency_from_hz=self.list_frequency_start_hz[i],
                    frequency_to_hz=self.list_frequency_end_hz[i],
                    frequency_ramp_s=duration,
                )
            )
        return segments * self.list_count

    @scpi("TRIGger[:STATe]")
    def _trig(self, args, sfx) -> None:
        run = choice_arg(args, {"ON": "ON", "OFF": "OFF"}) == "ON"
        with self.lock:
            if not run:
                self.stop_profile()
                return
            if self.output_mode != "LIST" or not self.output_on:
                raise ScpiError(221)
            self.segments = self._build_segments()
            self.start_profile()

    @scpi("TRIGger:STATe?")
    def _trig_q(self, args, sfx) -> str:
        return "RUNNING" if self.profile_running else "OFF"

    # -- measurements --------------------------------------------------------------------------
    def _selected_reading(self):
        return self.reading(self.selected_phase - 1)

    @scpi("MEASure[:SCALar]:VOLTage[:AC]?")
    @scpi("FETCh[:SCALar]:VOLTage[:AC]?")
    def _meas_v(self, args, sfx) -> str:
        return format_number(self._selected_reading().voltage_v)

    @scpi("MEASure[:SCALar]:CURRent[:AC]?")
    @scpi("FETCh[:SCALar]:CURRent[:AC]?")
    def _meas_i(self, args, sfx) -> str:
        return format_number(self._selected_reading().current_a)

    @scpi("MEASure[:SCALar]:POWer[:AC][:REAL]?")
    @scpi("FETCh[:SCALar]:POWer[:AC][:REAL]?")
    def _meas_p(self, args, sfx) -> str:
        return format_number(self._selected_reading().power_w)

    @scpi("MEASure[:SCALar]:POWer[:AC]:REACtive?")
    @scpi("FETCh[:SCALar]:POWer[:AC]:REACtive?")
    def _meas_q(self, args, sfx) -> str:
        return format_number(self._selected_reading().reactive_power_var)

    @scpi("MEASure[:SCALar]:FREQuency?")
    @scpi("FETCh[:SCALar]:FREQuency?")
    def _meas_f(self, args, sfx) -> str:
        return format_number(self._selected_reading().frequency_hz)
