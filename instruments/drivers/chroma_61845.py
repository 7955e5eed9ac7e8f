"""Chroma 61845 regenerative grid simulator (three-phase AC source) over SCPI.

Role: GridSimulator. Address: a VISA resource string, usually
``TCPIP0::<host>::<port>::SOCKET`` on the LAN option. Options: ``phases``
(1 or 3, default 3).

Commands used (Chroma 61800-series SCPI; every one is in the model's command
specification, instruments/specs/chroma-61845.toml, with its source):

==========================  ===================================================
``*IDN?``                   identity: ``Chroma ATE,61845,<serial>,<firmware>``
``INST:PHAS THREE|SINGLE``  output phase mode, set on connect from ``phases``
``SOUR:PHAS:THREE INDEPEND`` three-phase independent mode, set on connect
``INST:EDIT ALL``           program all phases together
``INST:COUP NONE``          program one phase at a time, with
``INST:NSEL <n>``           select phase n for settings and measurements
``VOLT:AC <v>`` / ``?``     line-to-neutral RMS voltage of the selection
``FREQ <f>`` / ``?``        output frequency (common to all phases)
``OUTP:RELAY ON|OFF`` / ``?`` output relay: closed before the output is turned
                            on, opened after it is turned off
``OUTP ON|OFF`` / ``?``     power stage
``OUTP:SLEW:VOLT:AC <v/s>`` voltage slew rate
``OUTP:SLEW:FREQ <Hz/s>``   frequency slew rate
``PHAS:P12`` ``PHAS:P13``   phase angle of phase 2 and 3 from phase 1, degrees
``MEAS:VOLT:AC?`` etc.      per-phase V, I, P, Q and frequency
``OUTP:MODE FIXED|LIST``    list mode for event replay, with
``LIST:COUP`` ``LIST:COUN`` ``LIST:BASE TIME``, ``LIST:DWEL`` (ms),
``LIST:SHAP``               ``LIST:VOLT:AC:STAR``/``END`` and
                            ``LIST:FREQ:STAR``/``END`` per point (a point
                            ramps from its start to its end values over its
                            dwell); ``TRIG ON|OFF`` runs and aborts it,
                            ``TRIG:STAT?`` reads RUNNING or OFF
``SYST:ERR?``               error queue, read after every command
==========================  ===================================================

Safety: every voltage, frequency and slew setpoint is checked against the
bench's SafetyLimits before anything is sent; so is every point of a
profile, with its ramp rate against slew_max_v_per_s. Where the bench sets
``slew_max_v_per_s`` the driver programs that slew on connect, so the
instrument itself never steps the voltage faster. Safe state: output off.
Timeouts, lost connections and threads: see transports.visa.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..roles import GridSimulator, PhaseReading, ProfileStep
from ..scpi import ScpiInstrument, parse_bool, scpi_control, scpi_measurement

MAX_LIST_POINTS = 100


def _csv(values: Sequence[float], fmt: str) -> str:
    return ",".join(format(v, fmt) for v in values)


def _parse_coupling(reply: str) -> str:
    return reply.strip().upper()


class Chroma61845(ScpiInstrument, GridSimulator):
    """Chroma 61845 grid simulator."""

    model = "Chroma 61845"
    error_query = "SYST:ERR?"

    output_on = scpi_control("OUTP?", "OUTP {}", parse=parse_bool, mapping={True: "ON", False: "OFF"})
    relay_closed = scpi_control("OUTP:RELAY?", "OUTP:RELAY {}", parse=parse_bool, mapping={True: "ON", False: "OFF"})
    coupling = scpi_control("INST:COUP?", "INST:COUP {}", parse=_parse_coupling, values={"ALL", "NONE"})
    selected_phase = scpi_control("INST:NSEL?", "INST:NSEL {:d}", parse=lambda r: int(float(r)))
    voltage_setpoint_v = scpi_control("VOLT:AC?", "VOLT:AC {:.2f}", safety=("voltage", "v"))
    frequency_hz = scpi_control("FREQ?", "FREQ {:.3f}", safety=("frequency", "hz"))
    voltage_slew_v_per_s = scpi_control("OUTP:SLEW:VOLT:AC?", "OUTP:SLEW:VOLT:AC {:.3f}", safety=("slew", "v_per_s"))
    frequency_slew_hz_per_s = scpi_control("OUTP:SLEW:FREQ?", "OUTP:SLEW:FREQ {:.3f}", values=(0.001, 1.0e4))
    phase2_angle_deg = scpi_control("PHAS:P12?", "PHAS:P12 {:.2f}", values=(0.0, 360.0))
    phase3_angle_deg = scpi_control("PHAS:P13?", "PHAS:P13 {:.2f}", values=(0.0, 360.0))
    output_mode = scpi_control(
        "OUTP:MODE?", "OUTP:MODE {}", parse=lambda r: r.strip().upper(), values={"FIXED", "LIST"}
    )
    list_state = scpi_measurement("TRIG:STAT?", parse=lambda r: r.strip().upper())

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
        # The phase mode is programmed, never taken from the front panel (as the SVP driver does).
        if self.phases == 3:
            self.write("INST:PHAS THREE")
            self.write("SOUR:PHAS:THREE INDEPEND")
        else:
            self.write("INST:PHAS SINGLE")
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
                self.write("INST:EDIT ALL")
            else:
                self.coupling = "NONE"
                self.selected_phase = phase
            self.write(command)

    def set_voltage_slew(self, slew_v_per_s: float) -> None:
        self.voltage_slew_v_per_s = slew_v_per_s

    def set_frequency(self, frequency_hz: float) -> None:
        self.frequency_hz = frequency_hz

    def set_frequency_slew(self, slew_hz_per_s: float) -> None:
        self.frequency_slew_hz_per_s = slew_hz_per_s

    def set_phase_angle(self, angle_deg: float, phase: int) -> None:
        if self.phases == 1:
            raise ValueError("a one-phase output has no phase angles to set")
        if self._phase(phase) == 1:
            raise ValueError("phase 1 is the reference: set the angles of phases 2 and 3")
        setting = "phase2_angle_deg" if phase == 2 else "phase3_angle_deg"
        setattr(self, setting, float(angle_deg) % 360.0)

    def phase_angles_deg(self) -> list[float]:
        with self.lock:
            if self.phases == 1:
                return [0.0]
            return [0.0, self.phase2_angle_deg, self.phase3_angle_deg]

    # -- list (profile) mode -------------------------------------------------------------
    def profile_commands(
        self, steps: Sequence[ProfileStep], start_voltages_v: tuple[float, ...], start_frequency_hz: float | None = None
    ) -> list[str]:
        """The commands that program `steps` (checked, not sent); a point ramps over its dwell or holds."""
        steps = list(steps)
        self.check_profile(steps, start_voltages_v)
        if len(steps) > MAX_LIST_POINTS:
            raise ValueError(f"the 61845 list holds {MAX_LIST_POINTS} points, the profile has {len(steps)}")
        starts: list[tuple[float, ...]] = []
        ends: list[tuple[float, ...]] = []
        f_starts: list[float] = []
        previous_v, previous_f = start_voltages_v, start_frequency_hz
        for step in steps:
            target = step.voltages_v(self.phases)
            starts.append(previous_v if step.ramp else target)
            f_starts.append(previous_f if (step.ramp and previous_f is not None) else step.frequency_hz)
            ends.append(target)
            previous_v, previous_f = target, step.frequency_hz
        coupled = all(len(set(v)) == 1 for v in starts + ends)
        commands = [
            "TRIG OFF",
            "OUTP:MODE FIXED",
            f"LIST:COUP {'ALL' if coupled else 'NONE'}",
            "LIST:COUN 1",
            "LIST:BASE TIME",
            f"LIST:DWEL {_csv([s.duration_s * 1000.0 for s in steps], '.1f')}",
            f"LIST:SHAP {','.join('A' for _ in steps)}",
        ]
        if coupled:
            commands += [
                f"LIST:VOLT:AC:STAR {_csv([v[0] for v in starts], '.2f')}",
                f"LIST:VOLT:AC:END {_csv([v[0] for v in ends], '.2f')}",
            ]
        else:
            commands.append("INST:COUP NONE")
            for k in range(self.phases):
                commands += [
                    f"INST:NSEL {k + 1}",
                    f"LIST:VOLT:AC:STAR {_csv([v[k] for v in starts], '.2f')}",
                    f"LIST:VOLT:AC:END {_csv([v[k] for v in ends], '.2f')}",
                ]
        commands += [
            f"LIST:FREQ:STAR {_csv(f_starts, '.3f')}",
            f"LIST:FREQ:END {_csv([s.frequency_hz for s in steps], '.3f')}",
            "OUTP:MODE LIST",
        ]
        return commands

    def load_profile(self, steps: Sequence[ProfileStep]) -> None:
        with self.lock:
            start = tuple(self.voltages_v())
            for command in self.profile_commands(steps, start, self.frequency_hz):
                self.write(command)

    def start_profile(self) -> None:
        self.write("TRIG ON")

    def stop_profile(self) -> None:
        self.write("TRIG OFF")

    def profile_running(self) -> bool:
        return self.list_state == "RUNNING"

    def set_output(self, enabled: bool) -> None:
        """On: close the output relay, then turn the power stage on; off: the reverse."""
        with self.lock:
            if enabled:
                self.relay_closed = True
                self.output_on = True
            else:
                self.output_on = False
                self.relay_closed = False

    def output_enabled(self) -> bool:
        with self.lock:
            return self.output_on and self.relay_closed

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
                "frequency_slew_hz_per_s": self.frequency_slew_hz_per_s,
                "phase_angles_deg": self.phase_angles_deg(),
                "output_mode": self.output_mode,
                "output_enabled": self.output_enabled(),
            }
