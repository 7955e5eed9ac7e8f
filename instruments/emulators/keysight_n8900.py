"""Emulated Keysight N8957APV (N8900 series, photovoltaic model): SCPI on a loopback socket.

Every command of its spec (instruments/specs/keysight-n8900.toml) is accepted,
the ones without a handler here served from the spec; the handlers model what
a driver could get wrong:

- the SAS curve and its maximum power point are refused in FIXed mode with -221
  "Settings conflict", as the guide says of SAS commands outside the SAS modes;
- the four curve parameters are coupled: they are checked together at the end
  of each program message (VOC > VMP > 0, ISC > IMP > 0); an inconsistent curve
  queues -221 and leaves the previous one in place;
- values beyond 102 % of the rating queue -222 "Data out of range";
- ``*RST`` returns to FIXed mode, output off, and the reset curve (1 % / 0.8 % of rating).

Hooks for the virtual lab (the same as the other PV simulators' emulators):
``output_on``, ``curve`` (the IVCurve as programmed), ``mode`` ("FIX", "CURV",
"TABL"), ``measurement_source`` (called on each MEAS query, returning a
DCReading; None reads Voc and no current while the output is on),
``on_change``, ``responding``.
"""

from __future__ import annotations

from collections.abc import Callable

from ..roles import DCReading, IVCurve
from .scpi_server import Clock, ScpiEmulator, ScpiError, bool_arg, choice_arg, format_number, in_range, number_arg, scpi

RATED_VOLTAGE_V = 1500.0
RATED_CURRENT_A = 30.0
PROGRAMMABLE = 1.02  # SAS curve parameters: 0 to 102 % of the rating
RESET_CURVE = IVCurve(
    open_circuit_voltage_v=0.01 * RATED_VOLTAGE_V,
    short_circuit_current_a=0.01 * RATED_CURRENT_A,
    max_power_voltage_v=0.008 * RATED_VOLTAGE_V,
    max_power_current_a=0.008 * RATED_CURRENT_A,
)
_FIELDS = {
    "VOC": ("open_circuit_voltage_v", RATED_VOLTAGE_V),
    "VMP": ("max_power_voltage_v", RATED_VOLTAGE_V),
    "ISC": ("short_circuit_current_a", RATED_CURRENT_A),
    "IMP": ("max_power_current_a", RATED_CURRENT_A),
}


class KeysightN8900Emulator(ScpiEmulator):
    """A Keysight N8957APV (1500 V, 30 A, 15 kW) as a driver sees it over TCPIP SOCKET."""

    spec_name = "keysight-n8900"
    manufacturer = "Keysight Technologies"
    model = "N8957APV"

    def __init__(self, clock: Clock | None = None, *, serial: str = "MY00000957", firmware: str = "B.01.02") -> None:
        self.serial = serial
        self.firmware = firmware
        self.measurement_source: Callable[[], DCReading] | None = None
        self.on_change: Callable[[], None] | None = None
        self._changed = False
        self._reset_state()
        super().__init__(clock)

    def _reset_state(self) -> None:
        self.output_on = False
        self.mode = "FIX"
        self.curve: IVCurve = RESET_CURVE
        self._staged: dict[str, float] = {}

    def after_message(self) -> None:
        with self.lock:
            staged, self._staged = self._staged, {}
            if staged:
                values = {field: getattr(self.curve, field) for field, _ in _FIELDS.values()}
                values.update(staged)
                candidate = IVCurve(**values)
                if (
                    0.0 < candidate.max_power_voltage_v < candidate.open_circuit_voltage_v
                    and 0.0 < candidate.max_power_current_a < candidate.short_circuit_current_a
                ):
                    self.curve = candidate
                    self._changed = True
                else:
                    self.push_error(221)
            changed, self._changed = self._changed, False
        if changed and self.on_change is not None:
            self.on_change()

    # -- common -------------------------------------------------------------------
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

    # -- SASimulator ------------------------------------------------------------------
    @scpi("[SOURce:]SASimulator:MODE")
    def _mode(self, args, sfx) -> None:
        mode = choice_arg(
            args, {"FIX": "FIX", "FIXED": "FIX", "CURV": "CURV", "CURVE": "CURV", "TABL": "TABL", "TABLE": "TABL"}
        )
        with self.lock:
            self.mode = mode
            self._changed = True

    @scpi("[SOURce:]SASimulator:MODE?")
    def _mode_q(self, args, sfx) -> str:
        return self.mode

    def _in_sas_mode(self) -> None:
        if self.mode == "FIX":
            raise ScpiError(221)

    def _stage(self, key: str, args: str) -> None:
        field, rating = _FIELDS[key]
        value = in_range(number_arg(args), 0.0, PROGRAMMABLE * rating)
        with self.lock:
            self._in_sas_mode()
            self._staged[field] = value

    def _programmed(self, key: str) -> str:
        field, _ = _FIELDS[key]
        with self.lock:
            self._in_sas_mode()
            return format_number(self._staged.get(field, getattr(self.curve, field)))

    @scpi("[SOURce:]SASimulator:CURVe:IMP")
    def _imp(self, args, sfx) -> None:
        self._stage("IMP", args)

    @scpi("[SOURce:]SASimulator:CURVe:IMP?")
    def _imp_q(self, args, sfx) -> str:
        return self._programmed("IMP")

    @scpi("[SOURce:]SASimulator:CURVe:ISC")
    def _isc(self, args, sfx) -> None:
        self._stage("ISC", args)

    @scpi("[SOURce:]SASimulator:CURVe:ISC?")
    def _isc_q(self, args, sfx) -> str:
        return self._programmed("ISC")

    @scpi("[SOURce:]SASimulator:CURVe:VMP")
    def _vmp(self, args, sfx) -> None:
        self._stage("VMP", args)

    @scpi("[SOURce:]SASimulator:CURVe:VMP?")
    def _vmp_q(self, args, sfx) -> str:
        return self._programmed("VMP")

    @scpi("[SOURce:]SASimulator:CURVe:VOC")
    def _voc(self, args, sfx) -> None:
        self._stage("VOC", args)

    @scpi("[SOURce:]SASimulator:CURVe:VOC?")
    def _voc_q(self, args, sfx) -> str:
        return self._programmed("VOC")

    def _active_curve(self) -> IVCurve:
        with self.lock:
            self._in_sas_mode()
            return self.curve

    @scpi("[SOURce:]SASimulator:ACTive:MPP:CURRent?")
    def _mpp_i(self, args, sfx) -> str:
        return format_number(self._active_curve().max_power_current_a)

    @scpi("[SOURce:]SASimulator:ACTive:MPP:VOLTage?")
    def _mpp_v(self, args, sfx) -> str:
        return format_number(self._active_curve().max_power_voltage_v)

    @scpi("[SOURce:]SASimulator:ACTive:MPP:POWer?")
    def _mpp_p(self, args, sfx) -> str:
        return format_number(self._active_curve().max_power_w)

    # -- measurements -------------------------------------------------------------------
    def _reading(self) -> DCReading:
        source = self.measurement_source
        if source is not None:
            return source()
        with self.lock:
            if not self.output_on:
                return DCReading(0.0, 0.0, 0.0)
            return DCReading(self.curve.open_circuit_voltage_v, 0.0, 0.0)

    @scpi("MEASure[:SCALar]:VOLTage[:DC]?")
    @scpi("FETCh[:SCALar]:VOLTage[:DC]?")
    def _meas_v(self, args, sfx) -> str:
        return format_number(self._reading().voltage_v)

    @scpi("MEASure[:SCALar]:CURRent[:DC]?")
    @scpi("FETCh[:SCALar]:CURRent[:DC]?")
    def _meas_i(self, args, sfx) -> str:
        return format_number(self._reading().current_a)

    @scpi("MEASure[:SCALar]:POWer[:DC]?")
    @scpi("FETCh[:SCALar]:POWer[:DC]?")
    def _meas_p(self, args, sfx) -> str:
        return format_number(self._reading().power_w)
