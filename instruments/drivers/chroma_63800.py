"""Chroma 63800 programmable AC electronic load over SCPI.

Role: ACLoad. Address: a VISA resource string (GPIB, RS-232 as ``ASRL...::INSTR``,
or a LAN socket). No options.

Commands used (63800 Operation & Programming Manual, short forms; the
``LOAD:`` root of the setting commands is optional and left out):

===============================  =================================================
``*IDN?``                        identity: ``Chroma ATE,63803,<serial>,<fw>``
``MODE CURR|POW|RES`` / ``?``    constant current, power or resistance
``CURR <A>`` / ``?``             RMS current level of the CC mode
``POW <W>`` / ``?``              real power level of the CP mode
``RES <ohm>`` / ``?``            resistance level of the CR mode
``LOAD ON|OFF`` / ``LOAD?``      input on or off
``MEAS:VOLT?`` ``MEAS:CURR?``    RMS voltage and current, real and reactive power,
``MEAS:POW?`` ``MEAS:POW:REAC?`` frequency at the input
``MEAS:FREQ?``
``SYST:ERR?``                    error queue, read after every command
===============================  =================================================

A mode change writes the new level first, then the mode, so the load never
draws the old level of the new mode. Readings are those of the load: positive
power is power the load absorbs.

Safety, before anything is sent: a current level against current_max_a, a
power level against power_max_w; a resistance against both at the bench's
voltage_max_v (the current and power it would draw there). Safe state: input
off. Timeouts, lost connections and threads: see transports.visa.
"""

from __future__ import annotations

from typing import Any

from ..roles import ACLoad, PhaseReading, SafetyLimitError
from ..scpi import ScpiInstrument, parse_bool, scpi_control, scpi_measurement

MODE_TOKENS = {"current": "CURR", "power": "POW", "resistance": "RES"}
_MODE_NAMES = {
    "CURR": "current",
    "CURRENT": "current",
    "POW": "power",
    "POWER": "power",
    "RES": "resistance",
    "RESISTANCE": "resistance",
    "0": "current",
    "1": "power",
    "3": "resistance",
}


def _parse_mode(reply: str) -> str:
    token = reply.strip().upper()
    try:
        return _MODE_NAMES[token]
    except KeyError:
        raise ValueError(f"not a load mode: {reply!r}") from None


class Chroma63800(ScpiInstrument, ACLoad):
    """Chroma 63800 AC electronic load."""

    model = "Chroma 63800"
    error_query = "SYST:ERR?"

    input_on = scpi_control("LOAD?", "LOAD {}", parse=parse_bool, mapping={True: "ON", False: "OFF"})
    mode = scpi_control("MODE?", "MODE {}", parse=_parse_mode, values=set(MODE_TOKENS), mapping=MODE_TOKENS)
    current_setpoint_a = scpi_control("CURR?", "CURR {:.3f}", safety=("current", "a"))
    power_setpoint_w = scpi_control("POW?", "POW {:.1f}", safety=("power", "w"))
    resistance_setpoint_ohm = scpi_control("RES?", "RES {:.3f}", check=lambda self, v: self.check_resistance(v))

    measured_voltage_v = scpi_measurement("MEAS:VOLT?")
    measured_current_a = scpi_measurement("MEAS:CURR?")
    measured_power_w = scpi_measurement("MEAS:POW?")
    measured_reactive_power_var = scpi_measurement("MEAS:POW:REAC?")
    measured_frequency_hz = scpi_measurement("MEAS:FREQ?")

    def on_connect(self) -> None:
        self.write("*CLS")

    def check_resistance(self, resistance_ohm: float) -> None:
        """Refuse a resistance that would draw more than the current or power limit at voltage_max_v."""
        if not resistance_ohm > 0.0:
            raise ValueError(f"resistance must be positive, got {resistance_ohm!r} ohm")
        voltage_v = self.safety.voltage_max_v
        if voltage_v is None:
            return
        for quantity, value, unit in (
            ("current", voltage_v / resistance_ohm, "a"),
            ("power", voltage_v**2 / resistance_ohm, "w"),
        ):
            try:
                self.check_safety(quantity, value, unit)
            except SafetyLimitError as exc:
                raise SafetyLimitError(
                    f"resistance {resistance_ohm:g} ohm at voltage_max_v = {voltage_v:g} V: {exc.reason}",
                    address=self.address,
                ) from None

    def _set_level(self, setting: str, value: float, mode: str) -> None:
        command = self.command_for(setting, value)  # checked before the first byte
        with self.lock:
            self.write(command)
            self.mode = mode

    # -- ACLoad ----------------------------------------------------------------------
    def set_current_a(self, current_a: float) -> None:
        self._set_level("current_setpoint_a", current_a, "current")

    def set_power_w(self, power_w: float) -> None:
        self._set_level("power_setpoint_w", power_w, "power")

    def set_resistance_ohm(self, resistance_ohm: float) -> None:
        self._set_level("resistance_setpoint_ohm", resistance_ohm, "resistance")

    def set_input(self, enabled: bool) -> None:
        self.input_on = bool(enabled)

    def input_enabled(self) -> bool:
        return self.input_on

    def measure(self) -> PhaseReading:
        with self.lock:
            return PhaseReading(
                voltage_v=self.measured_voltage_v,
                current_a=self.measured_current_a,
                power_w=self.measured_power_w,
                reactive_power_var=self.measured_reactive_power_var,
                frequency_hz=self.measured_frequency_hz,
            )

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            ident = self.identity()
            return {
                "driver": "chroma-63800",
                "address": self.address,
                "manufacturer": ident.manufacturer,
                "model": ident.model,
                "serial": ident.serial,
                "firmware": ident.firmware,
                "mode": self.mode,
                "current_setpoint_a": self.current_setpoint_a,
                "power_setpoint_w": self.power_setpoint_w,
                "resistance_setpoint_ohm": self.resistance_setpoint_ohm,
                "input_enabled": self.input_enabled(),
            }
