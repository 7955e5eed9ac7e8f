"""Chroma 61845 regenerative grid simulator (three-phase AC source) over SCPI.

Role: GridSimulator. Address: a VISA resource string, usually
``TCPIP0::<host>::<port>::SOCKET`` on the LAN option. Options: ``phases``
(1 or 3, default 3).

Commands used (Chroma 61800-series SCPI, short forms):

==========================  ===================================================
``*IDN?``                   identity: ``Chroma ATE,61845,<serial>,<firmware>``
``INST:COUP ALL|NONE``      program all phases together, or one at a time
``INST:NSEL <n>``           select phase n for settings and measurements
``VOLT:AC <v>`` / ``?``     line-to-neutral RMS voltage of the selection
``FREQ <f>`` / ``?``        output frequency (common to all phases)
``OUTP ON|OFF`` / ``?``     output relay and power stage
``OUTP:SLEW:VOLT:AC <v/s>`` voltage slew rate
``MEAS:VOLT:AC?`` etc.      per-phase V, I, P, Q and frequency
``SYST:ERR?``               error queue, read after every command
==========================  ===================================================

Safety: every voltage, frequency and slew setpoint is checked against the
bench's SafetyLimits before anything is sent. Where the bench sets
``slew_max_v_per_s`` the driver programs that slew on connect, so the
instrument itself never steps the voltage faster. Safe state: output off.
Timeouts, lost connections and threads: see transports.visa.
"""
from __future__ import annotations

from typing import Any

from ..roles import GridSimulator, PhaseReading
from ..scpi import ScpiInstrument, parse_bool, scpi_control, scpi_measurement


def _parse_coupling(reply: str) -> str:
    return reply.strip().upper()


class Chroma61845(ScpiInstrument, GridSimulator):
    """Chroma 61845 grid simulator."""

    model = "Chroma 61845"
    error_query = "SYST:ERR?"

    output_on = scpi_control("OUTP?", "OUTP {}", parse=parse_bool, mapping={True: "ON", False: "OFF"})
    coupling = scpi_control("INST:COUP?", "INST:COUP {}", parse=_parse_coupling, values={"ALL", "NONE"})
    selected_phase = scpi_control("INST:NSEL?", "INST:NSEL {:d}", parse=lambda r: int(float(r)))
    voltage_setpoint_v = scpi_control("VOLT:AC?", "VOLT:AC {:.2f}", safety=("voltage", "v"))
    frequency_hz = scpi_control("FREQ?", "FREQ {:.3f}", safety=("frequency", "hz"))
    voltage_slew_v_per_s = scpi_control("OUTP:SLEW:VOLT:AC?", "OUTP:SLEW:VOLT:AC {:.3f}", safety=("slew", "v_per_s"))

    measured_voltage_v = scpi_measurement("MEAS:VOLT:AC?")
    measured_current_a = scpi_measurement("MEAS:CURR:AC?")
    measured_power_w = scpi_measurement("MEAS:POW:AC?")
    measured_reactive_power_var = scpi_measurement("MEAS:POW:AC:REAC?")
    measured_frequency_hz = scpi_measurement("MEAS:FREQ?")

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        phases = self.options.get("phases", 3)
        if phases not in (1, 3):
            raise ValueError(f"option phases must be 1 or 3, got {phases!r}")
        self.phases = int(phases)

    def on_connect(self) -> None:
        self.write("*CLS")
        if self.safety.slew_max_v_per_s is not None:
            self.voltage_slew_v_per_s = self.safety.slew_max_v_per_s

    def _phase(self, phase: int) -> int:
        if not isinstance(phase, int) or not 1 <= phase <= self.phases:
            raise ValueError(f"phase must be 1..{self.phases}, got {phase!r}")
        return phase

    # -- GridSimulator -----------------------------------------------------
    def set_voltage(self, voltage_v: float, phase: int | None = None) -> None:
        # Render (and so check) before the first byte: a refused setpoint sends nothing.
        command = self.command_for("voltage_setpoint_v", voltage_v)
        if phase is not None:
            self._phase(phase)
        with self.lock:
            if self.phases == 1:
                pass
            elif phase is None:
                self.coupling = "ALL"
            else:
                self.coupling = "NONE"
                self.selected_phase = phase
            self.write(command)

    def set_voltage_slew(self, slew_v_per_s: float) -> None:
        self.voltage_slew_v_per_s = slew_v_per_s

    def set_frequency(self, frequency_hz: float) -> None:
        self.frequency_hz = frequency_hz

    def set_output(self, enabled: bool) -> None:
        self.output_on = bool(enabled)

    def output_enabled(self) -> bool:
        return self.output_on

    def voltages_v(self) -> list[float]:
        """Voltage setpoint of each phase."""
        with self.lock:
            if self.phases == 1:
                return [self.voltage_setpoint_v]
            values = []
            for phase in range(1, self.phases + 1):
                self.selected_phase = phase
                values.append(self.voltage_setpoint_v)
            return values

    def measure(self) -> list[PhaseReading]:
        readings = []
        with self.lock:
            for phase in range(1, self.phases + 1):
                if self.phases > 1:
                    self.selected_phase = phase
                readings.append(
                    PhaseReading(
                        voltage_v=self.measured_voltage_v,
                        current_a=self.measured_current_a,
                        power_w=self.measured_power_w,
                        reactive_power_var=self.measured_reactive_power_var,
                        frequency_hz=self.measured_frequency_hz,
                    )
                )
        return readings

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            ident = self.identity()
            return {
                "driver": "chroma-61845",
                "address": self.address,
                "manufacturer": ident.manufacturer,
                "model": ident.model,
                "serial": ident.serial,
                "firmware": ident.firmware,
                "phases": self.phases,
                "voltage_v": self.voltages_v(),
                "frequency_hz": self.frequency_hz,
                "voltage_slew_v_per_s": self.voltage_slew_v_per_s,
                "output_enabled": self.output_enabled(),
            }

