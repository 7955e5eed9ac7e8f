"""What the one-output SCPI solar array simulators share: curve checks, output and readings.

A driver on this base gets the output state (``OUTP``, a model with another
form overrides ``output_on``) and the readings (``MEAS:VOLT?``, ``MEAS:CURR?``,
``MEAS:POW?``), and says in ``_ensure_sas_mode()`` how the mode that runs the
curve is selected: the output is only turned on in it.
"""

from __future__ import annotations

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


class ScpiSasSimulator(ScpiInstrument, PVSimulator):
    """Base of SCPI PV simulators with one output and a declared output state and readings."""

    output_on = scpi_control("OUTP?", "OUTP {}", parse=parse_bool, mapping={True: "ON", False: "OFF"})
    measured_voltage_v = scpi_measurement("MEAS:VOLT?")
    measured_current_a = scpi_measurement("MEAS:CURR?")
    measured_power_w = scpi_measurement("MEAS:POW?")

    def _ensure_sas_mode(self) -> None:
        raise NotImplementedError

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
