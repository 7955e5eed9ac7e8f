"""Emulated Chroma 61845 grid simulator: SCPI on a loopback socket.

It accepts the command set the driver documents (instruments.drivers.chroma_61845)
in long or short form, keeps the instrument's programmable ranges (0-300 V
line-to-neutral, 30-100 Hz) and queues "-222,Data out of range" beyond them,
"-113,Undefined header" for anything it does not know.

Hooks for the virtual lab, which couples it to a plant in-process:

- ``output_on``, ``voltage_v`` (per phase), ``frequency_hz``: the state the
  client programmed; the plant may read them at any time (hold ``lock`` to
  read several consistently).
- ``measurement_source``: called on each MEAS query and returning one
  PhaseReading per phase; None reports the setpoints and zero current.
- ``on_change``: called (without the lock held) after any setpoint or output change.
- ``responding``: False makes it hang like a dead instrument.
"""
from __future__ import annotations

from typing import Callable

from ..roles import PhaseReading
from .scpi_server import (
    Clock,
    ScpiEmulator,
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
DEFAULT_FREQUENCY_HZ = 60.0
DEFAULT_SLEW_V_PER_S = 1000.0


class ChromaGridEmulator(ScpiEmulator):
    """A Chroma 61845 as the driver sees it over TCPIP SOCKET."""

    manufacturer = "Chroma ATE"
    model = "61845"

    def __init__(self, phases: int = 3, clock: Clock | None = None, *, serial: str = "618450000001", firmware: str = "1.00") -> None:
        if phases not in (1, 3):
            raise ValueError(f"phases must be 1 or 3, got {phases!r}")
        self.phases = phases
        self.serial = serial
        self.firmware = firmware
        self.measurement_source: Callable[[], list[PhaseReading]] | None = None
        self.on_change: Callable[[], None] | None = None
        self._changed = False
        self._reset_state()
        super().__init__(clock)

    def _reset_state(self) -> None:
        self.output_on = False
        self.voltage_v: list[float] = [0.0] * self.phases
        self.frequency_hz = DEFAULT_FREQUENCY_HZ
        self.voltage_slew_v_per_s = DEFAULT_SLEW_V_PER_S
        self.coupled = True
        self.selected_phase = 1

    def after_message(self) -> None:
        if self._changed:
            self._changed = False
            callback = self.on_change
            if callback is not None:
                callback()

    # -- common -------------------------------------------------------------------
    @scpi("*IDN?")
    def _idn(self, args, sfx) -> str:
        return f"{self.manufacturer},{self.model},{self.serial},{self.firmware}"

    @scpi("*RST")
    def _rst(self, args, sfx) -> None:
        with self.lock:
            self._reset_state()
            self._changed = True

    # -- output ---------------------------------------------------------------------
    @scpi("OUTPut[:STATe]")
    def _output(self, args, sfx) -> None:
        state = bool_arg(args)
        with self.lock:
            self.output_on = state
            self._changed = True

    @scpi("OUTPut[:STATe]?")
    def _output_q(self, args, sfx) -> str:
        return "1" if self.output_on else "0"

    @scpi("OUTPut:SLEW:VOLTage[:AC]")
    def _slew(self, args, sfx) -> None:
        value = in_range(number_arg(args), *SLEW_RANGE_V_PER_S)
        with self.lock:
            self.voltage_slew_v_per_s = value
            self._changed = True

    @scpi("OUTPut:SLEW:VOLTage[:AC]?")
    def _slew_q(self, args, sfx) -> str:
        return format_number(self.voltage_slew_v_per_s)

    # -- phase selection ------------------------------------------------------------------
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
        with self.lock:
            self.selected_phase = phase

    @scpi("INSTrument:NSELect?")
    def _nsel_q(self, args, sfx) -> str:
        return str(self.selected_phase)

    # -- setpoints ----------------------------------------------------------------------------
    @scpi("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]:AC")
    def _volt(self, args, sfx) -> None:
        value = in_range(number_arg(args), *VOLTAGE_RANGE_V)
        with self.lock:
            if self.coupled:
                self.voltage_v = [value] * self.phases
            else:
                self.voltage_v[self.selected_phase - 1] = value
            self._changed = True

    @scpi("[SOURce:]VOLTage[:LEVel][:IMMediate][:AMPLitude]:AC?")
    def _volt_q(self, args, sfx) -> str:
        with self.lock:
            return format_number(self.voltage_v[self.selected_phase - 1])

    @scpi("[SOURce:]FREQuency[:IMMediate]")
    def _freq(self, args, sfx) -> None:
        value = in_range(number_arg(args), *FREQUENCY_RANGE_HZ)
        with self.lock:
            self.frequency_hz = value
            self._changed = True

    @scpi("[SOURce:]FREQuency[:IMMediate]?")
    def _freq_q(self, args, sfx) -> str:
        return format_number(self.frequency_hz)

    # -- measurements --------------------------------------------------------------------------
    def _reading(self) -> PhaseReading:
        with self.lock:
            index = self.selected_phase - 1
            output_on = self.output_on
            voltage = self.voltage_v[index]
            frequency = self.frequency_hz
        source = self.measurement_source
        if source is not None:
            readings = source()
            if readings:
                return readings[min(index, len(readings) - 1)]
        return PhaseReading(
            voltage_v=voltage if output_on else 0.0,
            current_a=0.0,
            power_w=0.0,
            reactive_power_var=0.0,
            frequency_hz=frequency,
        )

    @scpi("MEASure[:SCALar]:VOLTage[:AC]?")
    def _meas_v(self, args, sfx) -> str:
        return format_number(self._reading().voltage_v)

    @scpi("MEASure[:SCALar]:CURRent[:AC]?")
    def _meas_i(self, args, sfx) -> str:
        return format_number(self._reading().current_a)

    @scpi("MEASure[:SCALar]:POWer[:AC][:REAL]?")
    def _meas_p(self, args, sfx) -> str:
        return format_number(self._reading().power_w)

    @scpi("MEASure[:SCALar]:POWer[:AC]:REACtive?")
    def _meas_q(self, args, sfx) -> str:
        return format_number(self._reading().reactive_power_var)

    @scpi("MEASure[:SCALar]:FREQuency?")
    def _meas_f(self, args, sfx) -> str:
        return format_number(self._reading().frequency_hz)
