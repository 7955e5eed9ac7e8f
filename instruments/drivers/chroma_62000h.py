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

from ..roles import DCReading, Instrument, IVCurve, PVSimulator
from ..scpi import ScpiInstrument, parse_bool, scpi_control, scpi_measurement


def check_curve(curve: IVCurve) -> None:
    """Raise ValueError unless VOC > VMP > 0 and ISC > IMP > 0 (what an SAS curve model needs)."""
    c = curve
    if not 0.0 < c.max_power_voltage_v < c.open_circuit_voltage_v:
        raise ValueError(
            f"I-V curve needs 0 < Vmp < Voc, got Vmp = {c.max_power_voltage_v:g} V, Voc = {c.open_circuit_voltage_v:g} V"
        )
    if not 0.0 < c.max_power_current_a < c.short_circuit_current_a:
        raise ValueError(
            f"I-V curve needs 0 < Imp < Isc, got Imp = {c.max_power_current_a:g} A, Isc = {c.short_circuit_current_a:g} A"
        )


def check_curve_limits(driver: Instrument, curve: IVCurve) -> None:
    """check_curve, then Voc, Isc and Vmp x Imp against the driver's safety limits: before anything is sent."""
    check_curve(curve)
    for quantity, value, unit in (
        ("voltage", curve.open_circuit_voltage_v, "v"),
        ("current", curve.short_circuit_current_a, "a"),
        ("power", curve.max_power_w, "w"),
    ):
        driver.safety.check(quantity, value, unit, address=driver.address)


class Chroma62000H(ScpiInstrument, PVSimulator):
    """Chroma 62000H solar array simulator."""

    model = "Chroma 62000H (SAS)"
    error_query = "SYST:ERR?"

    output_on = scpi_control("CONF:OUTP?", "CONF:OUTP {}", parse=parse_bool, mapping={True: "ON", False: "OFF"})
    output_mode = scpi_control("OUTP:MODE?", "OUTP:MODE {}", parse=lambda r: r.strip().upper(), values={"SAS"})
    open_circuit_voltage_v = scpi_measurement("SAS:VOC?")
    short_circuit_current_a = scpi_measurement("SAS:ISC?")
    max_power_voltage_v = scpi_measurement("SAS:VMPP?")
    max_power_current_a = scpi_measurement("SAS:IMPP?")

    measured_voltage_v = scpi_measurement("MEAS:VOLT?")
    measured_current_a = scpi_measurement("MEAS:CURR?")
    measured_power_w = scpi_measurement("MEAS:POW?")

    def on_connect(self) -> None:
        self.write("*CLS")

    def curve_message(self, curve: IVCurve) -> str:
        """The one program message that programs `curve`; checked (consistency, safety) but not sent."""
        check_curve(curve)
        self.check_safety("voltage", curve.open_circuit_voltage_v, "v")
        self.check_safety("current", curve.short_circuit_current_a, "a")
        self.check_safety("power", curve.max_power_w, "w")
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

    def set_output(self, enabled: bool) -> None:
        with self.lock:
            if enabled:
                self._ensure_sas_mode()
            self.output_on = bool(enabled)

    def output_enabled(self) -> bool:
        return self.output_on

    def measure(self) -> DCReading:
        with self.lock:
            return DCReading(
                voltage_v=self.measured_voltage_v, current_a=self.measured_current_a, power_w=self.measured_power_w
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
