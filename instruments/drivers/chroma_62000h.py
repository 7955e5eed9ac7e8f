"""Chroma 62000H DC source in solar array simulation (SAS) mode over SCPI.

Role: PVSimulator. Address: a VISA resource string (``TCPIP0::<host>::<port>::SOCKET``
on the LAN option, ``USB0::...::INSTR``, ``GPIB0::<n>::INSTR``). No options.

Commands used (62000H Operating & Programming Manual, SAS subsystem, short forms):

===============================  =================================================
``*IDN?``                        identity: ``Chroma ATE,62150H-1000S,<serial>,<fw>``
``OUTP:MODE SAS`` / ``?``        solar array simulation (the curve drives the output)
``SAS:VOC`` ``SAS:ISC``          open-circuit voltage, short-circuit current
``SAS:VMPP`` ``SAS:IMPP``        voltage and current at the maximum power point
``TRIG``                         apply the programmed curve while the output runs
``CONF:OUTP ON|OFF`` / ``?``     output on or off
``MEAS:VOLT?`` ``MEAS:CURR?``    DC voltage, current and power at the output
``MEAS:POW?``
``SYST:ERR?``                    error queue, read after every command
===============================  =================================================

The four curve parameters are coupled (the instrument needs VOC > VMPP > 0 and
ISC > IMPP > 0), so set_curve() sends them in one program message, each
header rooted with ':', and the instrument checks the whole curve at the
message terminator; then ``TRIG`` applies it.

Safety, before anything is sent: VOC against voltage_max_v, ISC against
current_max_a, Vmp x Imp against power_max_w; an inconsistent curve is a
ValueError. Safe state: output off. Timeouts, lost connections and threads:
see transports.visa.
"""

from __future__ import annotations

from typing import Any

from ..roles import IVCurve
from ..scpi import parse_bool, scpi_control, scpi_measurement
from .sas import ScpiSasSimulator, check_curve, check_curve_limits

__all__ = ["Chroma62000H", "check_curve"]  # check_curve stays importable from here


class Chroma62000H(ScpiSasSimulator):
    """Chroma 62000H solar array simulator."""

    model = "Chroma 62000H (SAS)"
    error_query = "SYST:ERR?"

    output_on = scpi_control("CONF:OUTP?", "CONF:OUTP {}", parse=parse_bool, mapping={True: "ON", False: "OFF"})
    output_mode = scpi_control("OUTP:MODE?", "OUTP:MODE {}", parse=lambda r: r.strip().upper(), values={"SAS"})
    open_circuit_voltage_v = scpi_measurement("SAS:VOC?")
    short_circuit_current_a = scpi_measurement("SAS:ISC?")
    max_power_voltage_v = scpi_measurement("SAS:VMPP?")
    max_power_current_a = scpi_measurement("SAS:IMPP?")

    def on_connect(self) -> None:
        self.write("*CLS")

    def curve_message(self, curve: IVCurve) -> str:
        """The one program message that programs `curve`; checked (consistency, safety) but not sent."""
        check_curve_limits(self, curve)
        return (
            f"SAS:VOC {curve.open_circuit_voltage_v:.3f};:SAS:ISC {curve.short_circuit_current_a:.4f};"
            f":SAS:VMPP {curve.max_power_voltage_v:.3f};:SAS:IMPP {curve.max_power_current_a:.4f}"
        )

    def _ensure_sas_mode(self) -> None:
        if self.output_mode != "SAS":
            self.output_mode = "SAS"

    # -- PVSimulator -----------------------------------------------------------
    def set_curve(self, curve: IVCurve) -> None:
        message = self.curve_message(curve)  # refused curves send nothing
        with self.lock:
            self._ensure_sas_mode()
            self.write(message)
            self.write("TRIG")

    def curve(self) -> IVCurve:
        with self.lock:
            return IVCurve(
                open_circuit_voltage_v=self.open_circuit_voltage_v,
                short_circuit_current_a=self.short_circuit_current_a,
                max_power_voltage_v=self.max_power_voltage_v,
                max_power_current_a=self.max_power_current_a,
            )

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            ident = self.identity()
            curve = self.curve()
            return {
                "driver": "chroma-62000h",
                "address": self.address,
                "manufacturer": ident.manufacturer,
                "model": ident.model,
                "serial": ident.serial,
                "firmware": ident.firmware,
                "output_mode": self.output_mode,
                "output_enabled": self.output_enabled(),
                "open_circuit_voltage_v": curve.open_circuit_voltage_v,
                "short_circuit_current_a": curve.short_circuit_current_a,
                "max_power_voltage_v": curve.max_power_voltage_v,
                "max_power_current_a": curve.max_power_current_a,
            }
