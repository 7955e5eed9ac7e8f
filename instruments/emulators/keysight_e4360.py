"""Emulated Keysight E4360 solar array simulator (two E4361A outputs): SCPI with channel lists.

It accepts the commands of its spec (instruments/specs/keysight-e4360.toml, from
the user's guide): the ones below by hand, the rest (the SAS list, tables) as
the spec serves them, kept per channel list. It behaves as the instrument
does where a driver could get it wrong:

- the four SAS parameters are coupled and checked at the end of each program
  message: Vmp not below Voc queues the device error +320, Imp above Isc
  +321, and the previous curve stays;
- a value beyond the module's rating (E4361A: 65 V, 8.5 A) queues -222; a
  channel that does not exist -222; a missing channel list -109;
- a relative header continues the path of the previous one
  (``CURR:SAS:ISC 5,(@1);IMP 4,(@1)``).

Hooks for the virtual lab (per output, index 0 for channel 1): ``output_on``,
``curves`` (IVCurve as programmed), ``measurement_source`` (called with the
channel number, returning a DCReading; None reads Voc and no current while on),
``on_change``, ``responding``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..roles import DCReading, IVCurve
from .scpi_server import Clock, ScpiEmulator, ScpiError, bool_arg, choice_arg, format_number, in_range, number_arg, scpi

RATED_VOLTAGE_V = 65.0
RATED_CURRENT_A = 8.5
DEFAULT_CURVE = IVCurve(
    open_circuit_voltage_v=60.0, short_circuit_current_a=8.0, max_power_voltage_v=50.0, max_power_current_a=7.5
)
_CHANNELS = re.compile(r",?\s*\(@([12])\)\s*$")
_FIELDS = {
    "ISC": "short_circuit_current_a",
    "IMP": "max_power_current_a",
    "VOC": "open_circuit_voltage_v",
    "VMP": "max_power_voltage_v",
}


class KeysightE4360Emulator(ScpiEmulator):
    """A Keysight E4360A mainframe with two E4361A modules."""

    manufacturer = "Keysight Technologies"
    model = "E4360A"
    spec_name = "keysight-e4360"

    def __init__(self, clock: Clock | None = None, *, serial: str = "MY00000001", firmware: str = "A.01.04") -> None:
        self.serial = serial
        self.firmware = firmware
        self.measurement_source: Callable[[int], DCReading] | None = None
        self.on_change: Callable[[], None] | None = None
        self.output_on = [False, False]
        self.mode = ["FIX", "FIX"]
        self.curves = [DEFAULT_CURVE, DEFAULT_CURVE]
        self._staged: dict[int, dict[str, float]] = {}
        self._changed = False
        super().__init__(clock)

    def _format_error(self, code: int, message: str) -> str:
        # Device-specific errors (300 and up here) are positive in SCPI; the standard ones negative.
        signed = code if code >= 300 else -code if code else 0
        return f'{signed},"{message}"'

    def _channel(self, args: str) -> tuple[str, int]:
        match = _CHANNELS.search(args)
        if match is None:
            if "(@" in args:
                raise ScpiError(222)
            raise ScpiError(109)
        return args[: match.start()].strip(), int(match.group(1)) - 1

    def after_message(self) -> None:
        with self.lock:
            staged, self._staged = self._staged, {}
            for index, values in staged.items():
                fields = {f: getattr(self.curves[index], f) for f in _FIELDS.values()}
                fields.update(values)
                curve = IVCurve(**fields)
                if not curve.max_power_voltage_v < curve.open_circuit_voltage_v:
                    self.push_error(320, "Vmp must be less than Voc")
                elif not curve.max_power_current_a <= curve.short_circuit_current_a:
                    self.push_error(321, "Imp must be less than or equal to Isc")
                else:
                    self.curves[index] = curve
                    self._changed = True
            changed, self._changed = self._changed, False
        if changed and self.on_change is not None:
            self.on_change()

    @scpi("*IDN?")
    def _idn(self, args, sfx) -> str:
        return f"{self.manufacturer},{self.model},{self.serial},{self.firmware}"

    @scpi("OUTPut[:STATe]")
    def _output(self, args, sfx) -> None:
        params, index = self._channel(args)
        state = bool_arg(params)
        with self.lock:
            self.output_on[index] = state
            self._changed = True

    @scpi("OUTPut[:STATe]?", takes_args=True)
    def _output_q(self, args, sfx) -> str:
        _, index = self._channel(args)
        return "1" if self.output_on[index] else "0"

    @scpi("[SOURce:]CURRent:MODE")
    def _mode(self, args, sfx) -> None:
        params, index = self._channel(args)
        self.mode[index] = choice_arg(
            params, {"FIX": "FIX", "FIXED": "FIX", "SAS": "SAS", "TABL": "TABL", "TABLE": "TABL"}
        )

    @scpi("[SOURce:]CURRent:MODE?", takes_args=True)
    def _mode_q(self, args, sfx) -> str:
        return self.mode[self._channel(args)[1]]

    def _stage(self, key: str, args: str, limit: float) -> None:
        params, index = self._channel(args)
        value = in_range(number_arg(params), 0.0, limit)
        with self.lock:
            self._staged.setdefault(index, {})[_FIELDS[key]] = value

    def _programmed(self, key: str, args: str) -> str:
        index = self._channel(args)[1]
        with self.lock:
            field = _FIELDS[key]
            return format_number(self._staged.get(index, {}).get(field, getattr(self.curves[index], field)))

    @scpi("[SOURce:]CURRent:SAS:ISC")
    def _isc(self, args, sfx) -> None:
        self._stage("ISC", args, RATED_CURRENT_A)

    @scpi("[SOURce:]CURRent:SAS:ISC?", takes_args=True)
    def _isc_q(self, args, sfx) -> str:
        return self._programmed("ISC", args)

    @scpi("[SOURce:]CURRent:SAS:IMP")
    def _imp(self, args, sfx) -> None:
        self._stage("IMP", args, RATED_CURRENT_A)

    @scpi("[SOURce:]CURRent:SAS:IMP?", takes_args=True)
    def _imp_q(self, args, sfx) -> str:
        return self._programmed("IMP", args)

    @scpi("[SOURce:]VOLTage:SAS:VOC")
    def _voc(self, args, sfx) -> None:
        self._stage("VOC", args, RATED_VOLTAGE_V)

    @scpi("[SOURce:]VOLTage:SAS:VOC?", takes_args=True)
    def _voc_q(self, args, sfx) -> str:
        return self._programmed("VOC", args)

    @scpi("[SOURce:]VOLTage:SAS:VMP")
    def _vmp(self, args, sfx) -> None:
        self._stage("VMP", args, RATED_VOLTAGE_V)

    @scpi("[SOURce:]VOLTage:SAS:VMP?", takes_args=True)
    def _vmp_q(self, args, sfx) -> str:
        return self._programmed("VMP", args)

    def _reading(self, index: int) -> DCReading:
        source = self.measurement_source
        if source is not None:
            return source(index + 1)
        with self.lock:
            if not self.output_on[index]:
                return DCReading(0.0, 0.0, 0.0)
            return DCReading(self.curves[index].open_circuit_voltage_v, 0.0, 0.0)

    @scpi("MEASure[:SCALar]:VOLTage[:DC]?", takes_args=True)
    def _meas_v(self, args, sfx) -> str:
        return format_number(self._reading(self._channel(args)[1]).voltage_v)

    @scpi("MEASure[:SCALar]:CURRent[:DC]?", takes_args=True)
    def _meas_i(self, args, sfx) -> str:
        return format_number(self._reading(self._channel(args)[1]).current_a)
