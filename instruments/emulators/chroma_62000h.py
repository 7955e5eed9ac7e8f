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

Hooks for the virtual lab: those of sas_base.SasEmulator (the curve is a
10 kW string by default), and ``mode`` ("SAS" or "FIXED").
"""

from __future__ import annotations

from ..roles import IVCurve
from .sas_base import SasEmulator
from .scpi_server import Clock, ScpiError, bool_arg, choice_arg, in_range, number_arg, scpi

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


class Chroma62000HEmulator(SasEmulator):
    """A Chroma 62000H in SAS mode as the driver sees it over TCPIP SOCKET."""

    spec_name = "chroma-62000h"
    manufacturer = "Chroma ATE"
    reset_curve = DEFAULT_CURVE

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
        super().__init__(clock)

    def _reset_state(self) -> None:
        super()._reset_state()
        self.mode = "SAS"
        self.triggers = 0

    def curve_accepted(self, curve: IVCurve) -> bool:
        return super().curve_accepted(curve) and curve.max_power_w <= self.rated_power_w

    # -- output ---------------------------------------------------------------------
    @scpi("CONFigure:OUTPut")
    def _output(self, args, sfx) -> None:
        self.set_output(bool_arg(args))

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
        self.stage(_FIELDS[key], in_range(number_arg(args), 0.0, limit))

    def _staged_or_programmed(self, key: str) -> str:
        return format(self.programmed(_FIELDS[key]), ".6e")

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
