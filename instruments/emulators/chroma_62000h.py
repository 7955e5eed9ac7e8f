"""Emulated Chroma 62000H solar array simulator: SCPI on a loopback socket.

It accepts the command set the driver documents (instruments.drivers.chroma_62000h)
in long or short form and behaves as the instrument does where a driver could
get it wrong:

- the four SAS parameters are coupled: they are checked together at the end
  of each program message (VOC > VMPP > 0, ISC > IMPP > 0); an inconsistent
  curve queues -221 "Settings conflict" and leaves the previous curve in place;
- values beyond the model's rating queue -222 "Data out of range";
- changing the output mode while the output is on queues -221;
- unknown headers queue -113, and an unknown query gets no reply.

Hooks for the virtual lab:

- ``output_on``, ``curve`` (the IVCurve as programmed; a 10 kW string by default),
  ``mode`` ("SAS" or "FIXED");
- ``measurement_source``: called on each MEAS query, returning a DCReading;
  None reports open-circuit voltage and zero current while the output is on;
- ``on_change``: called (without the lock held) after any change of curve or output;
- ``responding``: False makes it hang like a dead instrument.
"""

from __future__ import annotations

from collections.abc import Callable

from ..roles import DCReading, IVCurve
from .scpi_server import Clock, ScpiEmulator, ScpiError, bool_arg, choice_arg, format_number, in_range, number_arg, scpi

# model: (rated voltage V, rated current A, rated power W)
RATINGS: dict[str, tuple[float, float, float]] = {
    "62050H-600S": (600.0, 8.5, 5000.0),
    "62100H-600S": (600.0, 17.0, 10000.0),
    "62150H-600S": (600.0, 25.0, 15000.0),
    "62150H-1000S": (1000.0, 15.0, 15000.0),
}
DEFAULT_CURVE = IVCurve(
    open_circuit_voltage_v=900.0, short_circuit_current_a=14.0, max_power_voltage_v=760.0, max_power_current_a=13.5
)
_FIELDS = {
    "VOC": "open_circuit_voltage_v",
    "ISC": "short_circuit_current_a",
    "VMP": "max_power_voltage_v",
    "IMP": "max_power_current_a",
}


class Chroma62000HEmulator(ScpiEmulator):
    """A Chroma 62000H in SAS mode as the driver sees it over TCPIP SOCKET."""

    spec_name = "chroma-62000h"
    manufacturer = "Chroma ATE"

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        model: str = "62150H-1000S",
        serial: str = "621500000001",
        firmware: str = "1.20",
    ) -> None:
        if model not in RATINGS:
            raise ValueError(f"unknown 62000H model {model!r}; known: {', '.join(sorted(RATINGS))}")
        self.model = model
        self.rated_voltage_v, self.rated_current_a, self.rated_power_w = RATINGS[model]
        self.serial = serial
        self.firmware = firmware
        self.measurement_source: Callable[[], DCReading] | None = None
        self.on_change: Callable[[], None] | None = None
        self._staged: dict[str, float] = {}
        self._changed = False
        self._reset_state()
        super().__init__(clock)

    def _reset_state(self) -> None:
        self.output_on = False
        self.mode = "SAS"
        self.curve: IVCurve = DEFAULT_CURVE
        self.triggers = 0
        self._staged = {}

    def after_message(self) -> None:
        with self.lock:
            staged, self._staged = self._staged, {}
            if staged:
                values = {field: getattr(self.curve, field) for field in _FIELDS.values()}
                values.update(staged)
                candidate = IVCurve(**values)
                if (
                    0.0 < candidate.max_power_voltage_v < candidate.open_circuit_voltage_v
                    and 0.0 < candidate.max_power_current_a < candidate.short_circuit_current_a
                    and candidate.max_power_w <= self.rated_power_w
                ):
                    self.curve = candidate
                    self._changed = True
                else:
                    self.push_error(221)
            changed, self._changed = self._changed, False
        if changed and self.on_change is not None:
            self.on_change()

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
    @scpi("CONFigure:OUTPut")
    def _output(self, args, sfx) -> None:
        state = bool_arg(args)
        with self.lock:
            self.output_on = state
            self._changed = True

    @scpi("CONFigure:OUTPut?")
    def _output_q(self, args, sfx) -> str:
        return "ON" if self.output_on else "OFF"

    @scpi("OUTPut:MODE")
    def _mode(self, args, sfx) -> None:
        mode = choice_arg(args, {"SAS": "SAS", "FIXED": "FIXED", "FIX": "FIXED"})
        with self.lock:
            if self.output_on and mode != self.mode:
                raise ScpiError(221)
            self.mode = mode

    @scpi("OUTPut:MODE?")
    def _mode_q(self, args, sfx) -> str:
        return self.mode

    @scpi("TRIGger")
    def _trigger(self, args, sfx) -> None:
        with self.lock:
            self.triggers += 1

    # -- SAS curve (staged, checked at the message terminator) -------------------------
    def _stage(self, key: str, args: str, limit: float) -> None:
        value = in_range(number_arg(args), 0.0, limit)
        with self.lock:
            self._staged[_FIELDS[key]] = value

    def _staged_or_programmed(self, key: str) -> str:
        with self.lock:
            field = _FIELDS[key]
            return format(self._staged.get(field, getattr(self.curve, field)), ".6e")

    @scpi("[SOURce:]SAS:VOC")
    def _voc(self, args, sfx) -> None:
        self._stage("VOC", args, self.rated_voltage_v)

    @scpi("[SOURce:]SAS:VOC?")
    def _voc_q(self, args, sfx) -> str:
        return self._staged_or_programmed("VOC")

    @scpi("[SOURce:]SAS:ISC")
    def _isc(self, args, sfx) -> None:
        self._stage("ISC", args, self.rated_current_a)

    @scpi("[SOURce:]SAS:ISC?")
    def _isc_q(self, args, sfx) -> str:
        return self._staged_or_programmed("ISC")

    @scpi("[SOURce:]SAS:VMPp")
    def _vmp(self, args, sfx) -> None:
        self._stage("VMP", args, self.rated_voltage_v)

    @scpi("[SOURce:]SAS:VMPp?")
    def _vmp_q(self, args, sfx) -> str:
        return self._staged_or_programmed("VMP")

    @scpi("[SOURce:]SAS:IMPp")
    def _imp(self, args, sfx) -> None:
        self._stage("IMP", args, self.rated_current_a)

    @scpi("[SOURce:]SAS:IMPp?")
    def _imp_q(self, args, sfx) -> str:
        return self._staged_or_programmed("IMP")

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
    def _meas_v(self, args, sfx) -> str:
        return format_number(self._reading().voltage_v)

    @scpi("MEASure[:SCALar]:CURRent[:DC]?")
    def _meas_i(self, args, sfx) -> str:
        return format_number(self._reading().current_a)

    @scpi("MEASure[:SCALar]:POWer[:DC]?")
    def _meas_p(self, args, sfx) -> str:
        return format_number(self._reading().power_w)
