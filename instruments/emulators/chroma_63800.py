"""Emulated Chroma 63800 AC electronic load: SCPI on a loopback socket.

It accepts the command set the driver documents (instruments.drivers.chroma_63800),
with or without the optional ``LOAD:`` root, in long or short form. It keeps
the model's ratings (63803: 36 A, 3600 W, resistance 1-2500 ohm) and queues
-222 "Data out of range" beyond them, -224 for a mode its spec does not list,
-113 for an unknown header; an unknown query gets no reply. Every load mode of
the manual (CURR, POW, VOLT, RES, RLC, RLCP, INRUSH, RECT) is accepted and read
back by ``MODE?``; the plant models constant current, power and resistance
only, so in the other modes the load draws the last programmed power.

Hooks for the virtual lab:

- ``input_on``; ``mode`` ("current", "power" or "resistance": what the load
  draws); ``mode_token``, the manual's mode as ``MODE?`` reads it; ``setpoint``, the
  level of the active mode (A, W or ohm); the levels of every mode in
  ``current_a``, ``power_w``, ``resistance_ohm``;
- ``measurement_source``: called on each MEAS query, returning a PhaseReading
  (positive power = absorbed by the load); None reads zeros, as a load with
  nothing connected does;
- ``on_change``: called (without the lock held) after any change of mode, level or input;
- ``responding``: False makes it hang like a dead instrument.
"""

from __future__ import annotations

from collections.abc import Callable

from ..roles import PhaseReading
from ..specs import BadParameter
from .scpi_server import Clock, ScpiEmulator, ScpiError, bool_arg, format_number, in_range, number_arg, scpi

# model: (current A rms, power W, peak current A)
RATINGS: dict[str, tuple[float, float, float]] = {
    "63802": (18.0, 1800.0, 54.0),
    "63803": (36.0, 3600.0, 108.0),
    "63804": (45.0, 4500.0, 135.0),
}
RESISTANCE_RANGE_OHM = (1.0, 2500.0)
# The manual's modes (the spec's tokens; the numbers are their places in the manual's list) -> what the
# load draws. The plant models constant current, power and resistance; in the voltage, RLC, inrush and
# rectified-load modes it is not modelled, and the load draws the last programmed power instead.
_MODE_NUMBERS = ("CURR", "POW", "VOLT", "RES", "RLC", "RLCP", "INRUSH", "RECT")
_DRAWN = {"CURR": "current", "RES": "resistance"}  # every other mode draws power
_MODE_REPLIES = {"RLCP": "RLCPOW"}  # as MODE? reads it


class Chroma63800Emulator(ScpiEmulator):
    """A Chroma 63800 as the driver sees it over TCPIP SOCKET."""

    spec_name = "chroma-63800"
    manufacturer = "Chroma ATE"

    def __init__(
        self, clock: Clock | None = None, *, model: str = "63803", serial: str = "638030000001", firmware: str = "2.10"
    ) -> None:
        if model not in RATINGS:
            raise ValueError(f"unknown 63800 model {model!r}; known: {', '.join(sorted(RATINGS))}")
        self.model = model
        self.rated_current_a, self.rated_power_w, self.rated_peak_current_a = RATINGS[model]
        self.serial = serial
        self.firmware = firmware
        self.measurement_source: Callable[[], PhaseReading] | None = None
        self.on_change: Callable[[], None] | None = None
        self._changed = False
        self._reset_state()
        super().__init__(clock)

    def _reset_state(self) -> None:
        self.input_on = False
        self.mode_token = "CURR"
        self.current_a = 0.0
        self.power_w = 0.0
        self.resistance_ohm = RESISTANCE_RANGE_OHM[1]
        self.peak_current_max_a = self.rated_peak_current_a

    @property
    def mode(self) -> str:
        """What the load draws: "current", "power" or "resistance" (power in the modes the plant does not model)."""
        return _DRAWN.get(self.mode_token, "power")

    @mode.setter
    def mode(self, value: str) -> None:
        self.mode_token = {"current": "CURR", "power": "POW", "resistance": "RES"}[value]

    @property
    def setpoint(self) -> float:
        """Level of the active mode: A, W or ohm."""
        return {"current": self.current_a, "power": self.power_w, "resistance": self.resistance_ohm}[self.mode]

    @setpoint.setter
    def setpoint(self, value: float) -> None:
        setattr(
            self, {"current": "current_a", "power": "power_w", "resistance": "resistance_ohm"}[self.mode], float(value)
        )

    def after_message(self) -> None:
        if self._changed:
            self._changed = False
            callback = self.on_change
            if callback is not None:
                callback()

    def _set(self, name: str, value: object) -> None:
        with self.lock:
            setattr(self, name, value)
            self._changed = True

    # -- common -------------------------------------------------------------------
    @scpi("*IDN?")
    def _idn(self, args, sfx) -> str:
        return f"{self.manufacturer},{self.model},{self.serial},{self.firmware}"

    @scpi("*RST")
    def _rst(self, args, sfx) -> None:
        with self.lock:
            self._reset_state()
            self._changed = True

    # -- input and mode ---------------------------------------------------------------
    @scpi("LOAD[:STATe]")
    def _load(self, args, sfx) -> None:
        self._set("input_on", bool_arg(args))

    @scpi("LOAD[:STATe]?")
    def _load_q(self, args, sfx) -> str:
        return "1" if self.input_on else "0"

    @scpi("[LOAD:]MODE")
    def _mode(self, args, sfx) -> None:
        assert self.spec is not None
        found = self.spec.find("MODE")
        assert found is not None
        try:
            token = found.command.parse(args, query=False)[0]
        except BadParameter as exc:  # a mode the manual does not list: its error (-224)
            raise ScpiError(exc.code) from None
        self._set("mode_token", _MODE_NUMBERS[int(token)] if token.isdigit() else token)

    @scpi("[LOAD:]MODE?")
    def _mode_q(self, args, sfx) -> str:
        return _MODE_REPLIES.get(self.mode_token, self.mode_token)

    # -- levels -------------------------------------------------------------------------
    @scpi("[LOAD:]CURRent")
    def _curr(self, args, sfx) -> None:
        self._set("current_a", in_range(number_arg(args), 0.0, self.rated_current_a))

    @scpi("[LOAD:]CURRent?")
    def _curr_q(self, args, sfx) -> str:
        return format_number(self.current_a)

    @scpi("[LOAD:]CURRent:PEAK:MAXimum")
    def _peak(self, args, sfx) -> None:
        self._set("peak_current_max_a", in_range(number_arg(args), 0.0, self.rated_peak_current_a))

    @scpi("[LOAD:]CURRent:PEAK:MAXimum?")
    def _peak_q(self, args, sfx) -> str:
        return format_number(self.peak_current_max_a)

    @scpi("[LOAD:]POWer")
    def _pow(self, args, sfx) -> None:
        self._set("power_w", in_range(number_arg(args), 0.0, self.rated_power_w))

    @scpi("[LOAD:]POWer?")
    def _pow_q(self, args, sfx) -> str:
        return format_number(self.power_w)

    @scpi("[LOAD:]RESistance")
    def _res(self, args, sfx) -> None:
        self._set("resistance_ohm", in_range(number_arg(args), *RESISTANCE_RANGE_OHM))

    @scpi("[LOAD:]RESistance?")
    def _res_q(self, args, sfx) -> str:
        return format_number(self.resistance_ohm)

    # -- measurements ---------------------------------------------------------------------
    def _reading(self) -> PhaseReading:
        source = self.measurement_source
        if source is not None:
            return source()
        return PhaseReading(voltage_v=0.0, current_a=0.0, power_w=0.0, reactive_power_var=0.0, frequency_hz=0.0)

    @scpi("MEASure[:SCALar]:VOLTage[:RMS]?")
    @scpi("FETCh[:SCALar]:VOLTage[:RMS]?")
    def _meas_v(self, args, sfx) -> str:
        return format_number(self._reading().voltage_v)

    @scpi("MEASure[:SCALar]:CURRent[:RMS]?")
    @scpi("FETCh[:SCALar]:CURRent[:RMS]?")
    def _meas_i(self, args, sfx) -> str:
        return format_number(self._reading().current_a)

    @scpi("MEASure[:SCALar]:POWer[:REAL]?")
    @scpi("FETCh[:SCALar]:POWer[:REAL]?")
    def _meas_p(self, args, sfx) -> str:
        return format_number(self._reading().power_w)

    @scpi("MEASure[:SCALar]:POWer:REACtive?")
    @scpi("FETCh[:SCALar]:POWer:REACtive?")
    def _meas_q(self, args, sfx) -> str:
        return format_number(self._reading().reactive_power_var)

    @scpi("MEASure[:SCALar]:FREQuency?")
    @scpi("FETCh[:SCALar]:FREQuency?")
    def _meas_f(self, args, sfx) -> str:
        return format_number(self._reading().frequency_hz)
