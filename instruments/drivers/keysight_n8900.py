"""Keysight N8900 autoranging system DC power supply (N89xxAPV photovoltaic models) as a PV simulator over SCPI.

Role: PVSimulator. Address: a VISA resource string (``TCPIP0::<host>::5025::SOCKET``,
``TCPIP0::<host>::inst0::INSTR``, ``USB0::...::INSTR``, GPIB). No options.

The regenerative N8900 models (N8937A/N8957A, and the PV models N8937APV/N8957APV)
source and sink; in a PV bench they feed the inverter under test from a solar
array curve (the SASimulator subsystem, present on the APV models). Commands
used (N8900 Series Operating and Service Guide, SCPI reference; its spec is
``instruments/specs/keysight-n8900.toml``):

=====================================================  ================================================
``*IDN?``                                              ``Keysight Technologies,N8957APV,<serial>,<fw>``
``*CLS``                                               on connect: clear the error queue
``VOLT:PROT <V>``                                      on connect, when the bench sets voltage_max_v:
                                                       the over-voltage protection trips at that limit
``SAS:MODE CURV`` / ``SAS:MODE?``                      solar array simulation from the curve (not FIX, TABL)
``SAS:CURV:IMP <A>;ISC <A>;VMP <V>;VOC <V>``           the curve in one message, as the guides show it
``SAS:CURV:IMP?;ISC?;VMP?;VOC?``                       the programmed curve, one reply ``a;b;c;d``
``OUTP ON|OFF`` / ``OUTP?``                            output on or off
``MEAS:VOLT?`` ``MEAS:CURR?`` ``MEAS:POW?``            DC voltage, current and power at the output
``SYST:ERR?``                                          error queue, read after every command
=====================================================  ================================================

The four curve parameters are coupled, so set_curve() sends them in one
program message and the instrument checks the whole curve at its terminator.
The SASimulator commands are refused in FIXed mode (a query gets no reply), so
set_curve() sets CURVe mode first, and curve() and the snapshot ask the mode
before they ask for the curve.

Safety, before anything is sent: VOC against voltage_max_v, ISC against
current_max_a, Vmp x Imp against power_max_w; an inconsistent curve is a
ValueError. Safe state: output off. Timeouts, lost connections and threads:
see transports.visa.
"""

from __future__ import annotations

from typing import Any

from ..roles import InstrumentError, IVCurve
from ..scpi import parse_float, scpi_control
from .sas import ScpiSasSimulator, check_curve_limits


def _mode(reply: str) -> str:
    return reply.strip().upper()


class KeysightN8900(ScpiSasSimulator):
    """Keysight N8900 APS (N89xxAPV) in solar array simulation mode."""

    model = "Keysight N8900 (SAS)"
    error_query = "SYST:ERR?"

    sas_mode = scpi_control("SAS:MODE?", "SAS:MODE {}", parse=_mode, values={"FIX", "CURV", "TABL"})
    over_voltage_protection_v = scpi_control("VOLT:PROT?", "VOLT:PROT {:.3f}", safety=("voltage", "v"))

    def on_connect(self) -> None:
        self.write("*CLS")
        if self.safety.voltage_max_v is not None:
            self.over_voltage_protection_v = self.safety.voltage_max_v

    def curve_message(self, curve: IVCurve) -> str:
        """The one program message that programs `curve`; checked (consistency, safety) but not sent."""
        check_curve_limits(self, curve)
        return (
            f"SAS:CURV:IMP {curve.max_power_current_a:.4f};ISC {curve.short_circuit_current_a:.4f};"
            f"VMP {curve.max_power_voltage_v:.3f};VOC {curve.open_circuit_voltage_v:.3f}"
        )

    def _ensure_sas_mode(self) -> None:
        if self.sas_mode != "CURV":
            self.sas_mode = "CURV"

    # -- PVSimulator -----------------------------------------------------------
    def set_curve(self, curve: IVCurve) -> None:
        message = self.curve_message(curve)  # refused curves send nothing
        with self.lock:
            self._ensure_sas_mode()
            self.write(message)

    def curve(self) -> IVCurve:
        command = "SAS:CURV:IMP?;ISC?;VMP?;VOC?"
        with self.lock:
            mode = self.sas_mode
            if mode == "FIX":  # the instrument refuses SAS queries in FIXed mode: it would not answer
                raise InstrumentError("no curve: SAS:MODE? is FIX", address=self.address, command=command)
            reply = self.query(command)
        try:
            imp, isc, vmp, voc = (parse_float(part) for part in reply.split(";"))
        except ValueError:
            raise InstrumentError(f"unreadable reply {reply!r}", address=self.address, command=command) from None
        return IVCurve(
            open_circuit_voltage_v=voc, short_circuit_current_a=isc, max_power_voltage_v=vmp, max_power_current_a=imp
        )

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            ident = self.identity()
            mode = self.sas_mode
            settings = {
                "sas_mode": mode,
                "output_enabled": self.output_on,
                "over_voltage_protection_v": self.over_voltage_protection_v,
                **(vars(self.curve()) if mode != "FIX" else {}),
            }
            return {
                "driver": "keysight-n8900",
                "address": self.address,
                "manufacturer": ident.manufacturer,
                "model": ident.model,
                "serial": ident.serial,
                "firmware": ident.firmware,
                **settings,
            }
