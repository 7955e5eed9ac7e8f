"""Emulated Keysight N8957APV (N8900 series, photovoltaic model): SCPI on a loopback socket.

Every command of its spec (instruments/specs/keysight-n8900.toml) is accepted,
the ones without a handler here served from the spec; the handlers model what
a driver could get wrong:

- programming the SAS curve is refused in FIXed mode with -221 "Settings
  conflict", as the guide says of SAS commands outside the SAS modes (queries
  answer with the programmed curve: whether the instrument answers them in
  FIXed mode was not found, and the driver does not ask);
- the four curve parameters are coupled and checked at the end of each program
  message (sas_base); values beyond 102 % of the rating queue -222 "Data out of range";
- ``*RST`` returns to FIXed mode, output off, and the reset curve (1 % / 0.8 % of rating).

Hooks for the virtual lab: those of sas_base.SasEmulator, and ``mode``
("FIX", "CURV", "TABL").
"""

from __future__ import annotations

from ..roles import IVCurve
from .sas_base import SasEmulator
from .scpi_server import Clock, ScpiError, bool_arg, choice_arg, format_number, in_range, number_arg, scpi

RATED_VOLTAGE_V = 1500.0
RATED_CURRENT_A = 30.0
PROGRAMMABLE = 1.02  # SAS curve parameters: 0 to 102 % of the rating
_FIELDS = {
    "VOC": ("open_circuit_voltage_v", RATED_VOLTAGE_V),
    "VMP": ("max_power_voltage_v", RATED_VOLTAGE_V),
    "ISC": ("short_circuit_current_a", RATED_CURRENT_A),
    "IMP": ("max_power_current_a", RATED_CURRENT_A),
}
_MODES = {"FIX": "FIX", "FIXED": "FIX", "CURV": "CURV", "CURVE": "CURV", "TABL": "TABL", "TABLE": "TABL"}


class KeysightN8900Emulator(SasEmulator):
    """A Keysight N8957APV (1500 V, 30 A, 15 kW) as a driver sees it over TCPIP SOCKET."""

    spec_name = "keysight-n8900"
    manufacturer = "Keysight Technologies"
    model = "N8957APV"
    reset_curve = IVCurve(
        open_circuit_voltage_v=0.01 * RATED_VOLTAGE_V,
        short_circuit_current_a=0.01 * RATED_CURRENT_A,
        max_power_voltage_v=0.008 * RATED_VOLTAGE_V,
        max_power_current_a=0.008 * RATED_CURRENT_A,
    )

    def __init__(self, clock: Clock | None = None, *, serial: str = "MY00000957", firmware: str = "B.01.02") -> None:
        self.serial = serial
        self.firmware = firmware
        super().__init__(clock)

    def _reset_state(self) -> None:
        super()._reset_state()
        self.mode = "FIX"

    # -- output ---------------------------------------------------------------------
    @scpi("OUTPut[:STATe]")
    def _output(self, args, sfx) -> None:
        self.set_output(bool_arg(args))

    @scpi("OUTPut[:STATe]?")
    def _output_q(self, args, sfx) -> str:
        return "1" if self.output_on else "0"

    # -- SASimulator ------------------------------------------------------------------
    @scpi("[SOURce:]SASimulator:MODE")
    def _mode(self, args, sfx) -> None:
        mode = choice_arg(args, _MODES)
        with self.lock:
            self.mode = mode

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
            self.stage(field, value)

    def _programmed(self, key: str) -> str:
        return format_number(self.programmed(_FIELDS[key][0]))

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

    @scpi("[SOURce:]SASimulator:ACTive:MPP:CURRent?")
    def _mpp_i(self, args, sfx) -> str:
        return format_number(self.curve.max_power_current_a)

    @scpi("[SOURce:]SASimulator:ACTive:MPP:VOLTage?")
    def _mpp_v(self, args, sfx) -> str:
        return format_number(self.curve.max_power_voltage_v)

    @scpi("[SOURce:]SASimulator:ACTive:MPP:POWer?")
    def _mpp_p(self, args, sfx) -> str:
        return format_number(self.curve.max_power_w)

    # -- FETCh: the last measurement, which here is a new one ---------------------------
    @scpi("FETCh[:SCALar]:VOLTage[:DC]?")
    def _fetch_v(self, args, sfx) -> str:
        return format_number(self.reading().voltage_v)

    @scpi("FETCh[:SCALar]:CURRent[:DC]?")
    def _fetch_i(self, args, sfx) -> str:
        return format_number(self.reading().current_a)

    @scpi("FETCh[:SCALar]:POWer[:DC]?")
    def _fetch_p(self, args, sfx) -> str:
        return format_number(self.reading().power_w)
