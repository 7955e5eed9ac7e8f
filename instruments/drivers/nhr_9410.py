"""NH Research 9410 regenerative grid simulator over SCPI.

Role: GridSimulator. Address: a VISA resource string, usually
``TCPIP0::<host>::5025::SOCKET`` or ``TCPIP0::<host>::INSTR``. Options:
``phases`` (1 or 3, default 3).

The 9410 addresses its output channels (phases) with SCPI channel lists
instead of a selected phase, and takes a measurement in one acquisition:
``MEAS`` starts it and ``FETC`` returns other quantities of the same one, so
V, I, P and Q of a phase are simultaneous.

===============================  ================================================
``*IDN?``                        ``NH Research,9410-...,<serial>,<fw>``
``VOLT:AC <v>,(@1:3)`` / ``(@n)``  line-to-neutral RMS voltage of all or one phase
``VOLT:AC? (@n)``                its setpoint
``FREQ <f>`` / ``?``             output frequency
``PHAS <deg>,(@n)`` / ``? (@n)`` phase angle of a phase
``VOLT:SLEW`` ``FREQ:SLEW``      slew rates (V/s, Hz/s)
``OUTP ON|OFF`` / ``?``          output
``MEAS:VOLT? (@n)``              acquire, then ``FETC:CURR? (@n)``,
                                 ``FETC:POW? (@n)``, ``FETC:POW:REAC? (@n)``, ``FETC:FREQ?``
``LIST:DWEL`` ``LIST:VOLT``      list mode as in SCPI's LIST subsystem, voltages per
``LIST:VOLT:SLEW`` ``LIST:FREQ`` channel list; ``VOLT:MODE LIST``, ``FREQ:MODE LIST``,
``LIST:FREQ:SLEW`` ``INIT``      ``INIT`` runs it, ``ABOR`` aborts it,
``ABOR`` ``TRIG:STAT?``          ``TRIG:STAT?`` reads IDLE or BUSY
``SYST:ERR?``                    error queue, read after every command
===============================  ================================================

Check this table against the 9400-series programming manual of the
instrument's firmware before first use on hardware: the emulator speaks
exactly this table, so a difference shows up as a -113 on the real unit.

Safety, before anything is sent: voltages, frequency, voltage slew and every
point of a profile against the bench's SafetyLimits; where the bench sets
``slew_max_v_per_s`` the driver programs it on connect. Safe state: output off.
Timeouts, lost connections and threads: see transports.visa.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..roles import InstrumentError, PhaseReading, ProfileStep
from ..scpi import parse_bool, parse_float, scpi_control, scpi_measurement
from .scpi_grid import ScpiGridSimulator, csv, step_targets


class NHR9410(ScpiGridSimulator):
    """NH Research 9410 grid simulator."""

    model = "NH Research 9410"
    driver_name = "nhr-9410"
    error_query = "SYST:ERR?"

    output_on = scpi_control("OUTP?", "OUTP {}", parse=parse_bool, mapping={True: "ON", False: "OFF"})
    frequency_hz = scpi_control("FREQ?", "FREQ {:.3f}", safety=("frequency", "hz"))
    voltage_slew_v_per_s = scpi_control("VOLT:SLEW?", "VOLT:SLEW {:.3f}", safety=("slew", "v_per_s"))
    frequency_slew_hz_per_s = scpi_control("FREQ:SLEW?", "FREQ:SLEW {:.3f}", values=(0.001, 1.0e4))
    list_state = scpi_measurement("TRIG:STAT?", parse=lambda r: r.strip().upper())

    def channels(self, phase: int | None) -> str:
        if phase is None:
            return "(@1)" if self.phases == 1 else f"(@1:{self.phases})"
        return f"(@{self._phase(phase)})"

    def _float(self, command: str) -> float:
        reply = self.query(command)
        try:
            return parse_float(reply)
        except ValueError:
            raise InstrumentError(f"unreadable reply {reply!r}", address=self.address, command=command) from None

    def set_voltage(self, voltage_v: float, phase: int | None = None) -> None:
        self.check_voltage(voltage_v)
        self.write(f"VOLT:AC {float(voltage_v):.2f},{self.channels(phase)}")

    def set_frequency(self, frequency_hz: float) -> None:
        self.frequency_hz = frequency_hz

    def set_phase_angle(self, angle_deg: float, phase: int) -> None:
        self._angle_phase(phase)
        self.write(f"PHAS {float(angle_deg) % 360.0:.2f},{self.channels(phase)}")

    def set_voltage_slew(self, slew_v_per_s: float) -> None:
        self.voltage_slew_v_per_s = slew_v_per_s

    def set_frequency_slew(self, slew_hz_per_s: float) -> None:
        self.frequency_slew_hz_per_s = slew_hz_per_s

    def voltages_v(self) -> list[float]:
        with self.lock:
            return [self._float(f"VOLT:AC? {self.channels(p)}") for p in range(1, self.phases + 1)]

    def phase_angles_deg(self) -> list[float]:
        with self.lock:
            return [self._float(f"PHAS? {self.channels(p)}") for p in range(1, self.phases + 1)]

    def measure_phase(self, phase: int) -> PhaseReading:
        ch = self.channels(phase)
        return PhaseReading(
            voltage_v=self._float(f"MEAS:VOLT? {ch}"),
            current_a=self._float(f"FETC:CURR? {ch}"),
            power_w=self._float(f"FETC:POW? {ch}"),
            reactive_power_var=self._float(f"FETC:POW:REAC? {ch}"),
            frequency_hz=self._float("FETC:FREQ?"),
        )

    # -- list mode -------------------------------------------------------------------------
    def profile_commands(self, steps: Sequence[ProfileStep], start_v: tuple[float, ...], start_hz: float) -> list[str]:
        steps = list(steps)
        self.check_steps(steps, start_v)
        points = step_targets(steps, self.phases, start_v, start_hz)

        def slew(change: float, step: ProfileStep) -> str:
            return f"{abs(change) / step.duration_s:.3f}" if step.ramp and change else "MAX"

        v_slews = ",".join(slew(max(abs(a - b) for a, b in zip(v0, v1)), s) for s, v0, v1, _, _ in points)
        commands = [
            "ABOR",
            "LIST:COUN 1",
            "VOLT:MODE LIST",
            "FREQ:MODE LIST",
            f"LIST:DWEL {csv([s.duration_s for s in steps], '.3f')}",
            f"LIST:FREQ {csv([f1 for *_, f1 in points], '.3f')}",
            f"LIST:FREQ:SLEW {','.join(slew(f1 - f0, s) for s, _, _, f0, f1 in points)}",
        ]
        for k in range(self.phases):
            ch = self.channels(k + 1)
            commands += [
                f"LIST:VOLT {csv([v1[k] for _, _, v1, _, _ in points], '.2f')},{ch}",
                f"LIST:VOLT:SLEW {v_slews},{ch}",
            ]
        return commands

    def load_profile(self, steps: Sequence[ProfileStep]) -> None:
        with self.lock:
            for command in self.profile_commands(steps, tuple(self.voltages_v()), self.frequency_hz):
                self.write(command)

    def start_profile(self) -> None:
        self.write("INIT")

    def stop_profile(self) -> None:
        self.write("ABOR")

    def profile_running(self) -> bool:
        return self.list_state == "BUSY"

    def extra_snapshot(self) -> dict[str, Any]:
        return {"phase_angles_deg": self.phase_angles_deg(), "voltage_slew_v_per_s": self.voltage_slew_v_per_s}
