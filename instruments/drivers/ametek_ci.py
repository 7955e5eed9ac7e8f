"""AMETEK / California Instruments RS and MX grid simulators over SCPI.

Role: GridSimulator. Address: a VISA resource string (``TCPIP0::<host>::5025::SOCKET``,
``GPIB0::<n>::INSTR``, RS-232 as ``ASRL...::INSTR``). Options: ``phases`` (1 or 3, default 3).
One class per family (AmetekRS, AmetekMX); both speak the California
Instruments SCPI set and differ in identity and ranges.

Commands used (CI SCPI, short forms):

===============================  ================================================
``*IDN?``                        ``AMETEK Programmable Power,RS90-3Pi,<serial>,<fw>``
``INST:COUP ALL|NONE``           program all phases together, or one at a time
``INST:NSEL <n>``                select phase n for settings and measurements
``VOLT:AC <v>`` / ``?``          line-to-neutral RMS voltage of the selection
``FREQ <f>`` / ``?``             output frequency (common to all phases)
``PHAS <deg>`` / ``?``           phase angle of the selected phase
``VOLT:SLEW`` ``FREQ:SLEW``      slew rates (V/s, Hz/s)
``OUTP ON|OFF`` / ``?``          output relay
``MEAS:VOLT:AC?`` ...            V, I, P, Q of the selected phase, frequency
``LIST:DWEL`` ``LIST:VOLT``      list (transient) mode: per point a dwell (s), a
``LIST:VOLT:SLEW`` ``LIST:FREQ`` voltage and frequency with their slews (``MAX``
``LIST:FREQ:SLEW``               for a step), after ``VOLT:MODE LIST`` and
``LIST:COUN`` ``LIST:STEP AUTO`` ``FREQ:MODE LIST``; ``INIT`` runs it with
``TRIG:TRAN:SOUR IMM`` ``INIT``  the immediate trigger, ``ABOR`` aborts it,
``ABOR`` ``TRIG:STAT?``          ``TRIG:STAT?`` reads IDLE or BUSY
``SYST:ERR?``                    error queue, read after every command
===============================  ================================================

A profile step that ramps is a list point whose slew spans its dwell
(|change| / duration); a step change uses ``MAX`` and holds for the dwell.
Every list ends with a 1 ms point holding the last values: Series II
controllers turn ``TRIG:STAT?`` IDLE once the last point has been executed
(reached its end value), which for a step is the start of its dwell, so the
manual (7003-961, TRIG:STATe?) advises a short final point to hold BUSY until
the list's end.

Safety, before anything is sent: voltages, frequency, voltage slew and every
point of a profile (with its ramp rate) against the bench's SafetyLimits;
where the bench sets ``slew_max_v_per_s`` the driver programs it on connect.
Safe state: output off. Timeouts, lost connections and threads: see transports.visa.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..roles import PhaseReading, ProfileStep
from ..scpi import parse_bool, scpi_control, scpi_measurement
from .scpi_grid import ScpiGridSimulator, csv, step_targets

MAX_LIST_POINTS = 32  # programming manual 7003-961, 6.4.3 List Transients: up to 32 points
FINAL_POINT_S = 0.001  # the short last point that keeps TRIG:STAT? BUSY until the list's end


class _CaliforniaInstruments(ScpiGridSimulator):
    """California Instruments SCPI grid simulator."""

    error_query = "SYST:ERR?"
    max_profile_steps = MAX_LIST_POINTS - 1  # one point is the final short one

    output_on = scpi_control("OUTP?", "OUTP {}", parse=parse_bool, mapping={True: "ON", False: "OFF"})
    coupling = scpi_control("INST:COUP?", "INST:COUP {}", parse=lambda r: r.strip().upper(), values={"ALL", "NONE"})
    selected_phase = scpi_control("INST:NSEL?", "INST:NSEL {:d}", parse=lambda r: int(float(r)))
    voltage_setpoint_v = scpi_control("VOLT:AC?", "VOLT:AC {:.2f}", safety=("voltage", "v"))
    frequency_hz = scpi_control("FREQ?", "FREQ {:.3f}", safety=("frequency", "hz"))
    phase_angle = scpi_control("PHAS?", "PHAS {:.2f}", values=(0.0, 360.0))
    voltage_slew_v_per_s = scpi_control("VOLT:SLEW?", "VOLT:SLEW {:.3f}", safety=("slew", "v_per_s"))
    frequency_slew_hz_per_s = scpi_control("FREQ:SLEW?", "FREQ:SLEW {:.3f}", values=(0.001, 1.0e4))
    list_state = scpi_measurement("TRIG:STAT?", parse=lambda r: r.strip().upper())

    measured_voltage_v = scpi_measurement("MEAS:VOLT:AC?")
    measured_current_a = scpi_measurement("MEAS:CURR:AC?")
    measured_power_w = scpi_measurement("MEAS:POW:AC?")
    measured_reactive_power_var = scpi_measurement("MEAS:POW:AC:REAC?")
    measured_frequency_hz = scpi_measurement("MEAS:FREQ?")

    def _select(self, phase: int | None) -> None:
        """Address all phases (None) or one (held under the caller's lock)."""
        if self.phases == 1:
            return
        if phase is None:
            self.coupling = "ALL"
        else:
            self.coupling = "NONE"
            self.selected_phase = phase

    def set_voltage(self, voltage_v: float, phase: int | None = None) -> None:
        command = self.command_for("voltage_setpoint_v", voltage_v)
        if phase is not None:
            self._phase(phase)
        with self.lock:
            self._select(phase)
            self.write(command)

    def set_frequency(self, frequency_hz: float) -> None:
        self.frequency_hz = frequency_hz

    def set_phase_angle(self, angle_deg: float, phase: int) -> None:
        command = self.command_for("phase_angle", float(angle_deg) % 360.0)
        self._angle_phase(phase)
        with self.lock:
            self._select(phase)
            self.write(command)

    def set_voltage_slew(self, slew_v_per_s: float) -> None:
        self.voltage_slew_v_per_s = slew_v_per_s

    def set_frequency_slew(self, slew_hz_per_s: float) -> None:
        self.frequency_slew_hz_per_s = slew_hz_per_s

    def voltages_v(self) -> list[float]:
        with self.lock:
            if self.phases == 1:
                return [self.voltage_setpoint_v]
            values = []
            for phase in range(1, self.phases + 1):
                self.selected_phase = phase
                values.append(self.voltage_setpoint_v)
            return values

    def phase_angles_deg(self) -> list[float]:
        with self.lock:
            if self.phases == 1:
                return [0.0]
            values = []
            for phase in range(1, self.phases + 1):
                self.selected_phase = phase
                values.append(self.phase_angle)
            return values

    def measure_phase(self, phase: int) -> PhaseReading:
        if self.phases > 1:
            self.selected_phase = phase
        return PhaseReading(
            voltage_v=self.measured_voltage_v,
            current_a=self.measured_current_a,
            power_w=self.measured_power_w,
            reactive_power_var=self.measured_reactive_power_var,
            frequency_hz=self.measured_frequency_hz,
        )

    # -- list mode -------------------------------------------------------------------------
    def profile_commands(self, steps: Sequence[ProfileStep], start_v: tuple[float, ...], start_hz: float) -> list[str]:
        """The commands that program `steps` (checked, not sent)."""
        steps = list(steps)
        self.check_steps(steps, start_v)
        points = step_targets(steps, self.phases, start_v, start_hz)
        _, _, end_v, _, end_hz = points[-1]
        points.append((ProfileStep(FINAL_POINT_S, end_v, end_hz), end_v, end_v, end_hz, end_hz))

        def slew(change: float, step: ProfileStep) -> str:
            return f"{abs(change) / step.duration_s:.3f}" if step.ramp and change else "MAX"

        v_slews = ",".join(slew(max(abs(a - b) for a, b in zip(v0, v1)), s) for s, v0, v1, _, _ in points)
        f_slews = ",".join(slew(f1 - f0, s) for s, _, _, f0, f1 in points)
        coupled = all(len(set(v1)) == 1 for _, _, v1, _, _ in points)
        commands = [
            "ABOR",
            "TRIG:TRAN:SOUR IMM",
            "LIST:STEP AUTO",
            "LIST:COUN 1",
            "FREQ:MODE LIST",
            "VOLT:MODE LIST",
            f"LIST:DWEL {csv([s.duration_s for s, *_ in points], '.3f')}",
            f"LIST:FREQ {csv([f1 for *_, f1 in points], '.3f')}",
            f"LIST:FREQ:SLEW {f_slews}",
        ]
        if coupled or self.phases == 1:
            if self.phases > 1:
                commands.append("INST:COUP ALL")
            commands += [f"LIST:VOLT {csv([v1[0] for _, _, v1, _, _ in points], '.2f')}", f"LIST:VOLT:SLEW {v_slews}"]
        else:
            commands.append("INST:COUP NONE")
            for k in range(self.phases):
                commands += [
                    f"INST:NSEL {k + 1}",
                    f"LIST:VOLT {csv([v1[k] for _, _, v1, _, _ in points], '.2f')}",
                    f"LIST:VOLT:SLEW {v_slews}",
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
        return {
            "phase_angles_deg": self.phase_angles_deg(),
            "voltage_slew_v_per_s": self.voltage_slew_v_per_s,
            "frequency_slew_hz_per_s": self.frequency_slew_hz_per_s,
        }


class AmetekRS(_CaliforniaInstruments):
    """AMETEK / California Instruments RS series grid simulator."""

    model = "AMETEK RS"
    driver_name = "ametek-rs"


class AmetekMX(_CaliforniaInstruments):
    """AMETEK / California Instruments MX series grid simulator."""

    model = "AMETEK MX"
    driver_name = "ametek-mx"
