"""Pacific Power AFX grid simulator (UPC command set) over SCPI.

Role: GridSimulator. Address: a VISA resource string (LAN socket, GPIB,
RS-232). Options: ``phases`` (1 or 3, default 3).

The UPC command set numbers its phases in the header (``VOLTage2``) rather
than selecting one and replays events as the transient part of a stored
program. Commands start at the root (``:``); settings are sent in SCPI's space
form (``:SOUR:VOLT1 120``), as the SunSpec SVP driver does on hardware (the
UPC also takes the comma form of its manual's examples, ``:SOURce:VOLTage1,120``):

=====================================  ================================================
``*IDN?``                              ``Pacific Power Source,AFX-...,<serial>,<fw>``
``:SOUR:VOLT<n> <v>`` / ``?``          line-to-neutral RMS voltage of phase n
``:SOUR:FREQ <f>`` / ``?``             output frequency
``:SOUR:PHAS<n> <deg>`` / ``?``        phase angle of phase 2 or 3 from phase 1
``:OUTP ON|OFF`` / ``?``               output
``:MEAS:VOLT<n>?`` ``:MEAS:CURR<n>?``  per-phase V, I, P and frequency (the UPC
``:MEAS:POW<n>?`` ``:MEAS:FREQ?``      reports no signed vars: reactive power is NaN)
``:PROG:NAME <p>`` ``:PROG:DEL``       select and clear program p (1; 0 is manual)
``:PROG:DEF FORM,3,FREQ,f,VOLT1,v,...``  the program's steady state (the present setpoints)
``:PROG:DEF SEG,k,FSEG,f,VSEG1,v,...,TSEG,t,...,LAST``  transient segments: each
                                       ramps to its values over TSEG seconds
``:PROG:EXEC <p>``                     apply program p's steady state
``:PROG:EXEC:TRANS <p>``               run its transient; at its end the steady state returns
``SYST:ERR?``                          error queue, read after every command
=====================================  ================================================

A profile step that holds becomes two segments (a one-cycle step, then a
hold); one that ramps becomes one segment. The UPC gives no transient state
on the query channel used here, so profile_running() is the driver's own
clock against the program's length. There are no programmable slew rates:
set_voltage_slew raises NotImplementedError, and a bench slew limit is
enforced by refusing profile ramps faster than it.

Safety, before anything is sent: voltages, frequency and every profile
point against the bench's SafetyLimits. Safe state: output off. Timeouts,
lost connections and threads: see transports.visa.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from ..roles import InstrumentError, PhaseReading, ProfileStep
from ..scpi import parse_bool, parse_float, scpi_control
from .scpi_grid import ScpiGridSimulator

PROGRAM = 1
MAX_SEGMENTS = 99
ONE_CYCLE_S = 0.0  # TSEG 0 = one cycle: a step change


class PacificAFX(ScpiGridSimulator):
    """Pacific Power AFX grid simulator."""

    model = "Pacific Power AFX"
    driver_name = "pacific-afx"
    error_query = "SYST:ERR?"
    max_profile_steps = MAX_SEGMENTS // 2

    output_on = scpi_control(":OUTP?", ":OUTP {}", parse=parse_bool, mapping={True: "ON", False: "OFF"})
    frequency_hz = scpi_control(":SOUR:FREQ?", ":SOUR:FREQ {:.3f}", safety=("frequency", "hz"))

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        self._profile_length_s = 0.0
        self._profile_started: float | None = None

    def on_connect(self) -> None:
        self.write("*CLS")

    def _float(self, command: str) -> float:
        reply = self.query(command)
        try:
            return parse_float(reply)
        except ValueError:
            raise InstrumentError(f"unreadable reply {reply!r}", address=self.address, command=command) from None

    def set_voltage(self, voltage_v: float, phase: int | None = None) -> None:
        self.check_voltage(voltage_v)
        phases = range(1, self.phases + 1) if phase is None else [self._phase(phase)]
        self.write(":SOUR:" + ";".join(f"VOLT{p} {float(voltage_v):.2f}" for p in phases))

    def set_frequency(self, frequency_hz: float) -> None:
        self.frequency_hz = frequency_hz

    def set_phase_angle(self, angle_deg: float, phase: int) -> None:
        self._angle_phase(phase)
        self.write(f":SOUR:PHAS{phase} {float(angle_deg) % 360.0:.2f}")

    def voltages_v(self) -> list[float]:
        with self.lock:
            return [self._float(f":SOUR:VOLT{p}?") for p in range(1, self.phases + 1)]

    def phase_angles_deg(self) -> list[float]:
        with self.lock:
            return [0.0] + [self._float(f":SOUR:PHAS{p}?") for p in range(2, self.phases + 1)]

    def measure_phase(self, phase: int) -> PhaseReading:
        return PhaseReading(
            voltage_v=self._float(f":MEAS:VOLT{phase}?"),
            current_a=self._float(f":MEAS:CURR{phase}?"),
            power_w=self._float(f":MEAS:POW{phase}?"),
            reactive_power_var=math.nan,
            frequency_hz=self._float(":MEAS:FREQ?"),
        )

    # -- programs ---------------------------------------------------------------------------
    def profile_commands(self, steps: Sequence[ProfileStep], start_v: tuple[float, ...], start_hz: float) -> list[str]:
        steps = list(steps)
        self.check_steps(steps, start_v)
        steady = ",".join(
            [f"FORM,{self.phases}", f"FREQ,{start_hz:.3f}"] + [f"VOLT{k + 1},{v:.2f}" for k, v in enumerate(start_v)]
        )
        segments: list[tuple[float, tuple[float, ...], float]] = []
        for step in steps:
            target = step.voltages_v(self.phases)
            if step.ramp:
                segments.append((step.duration_s, target, step.frequency_hz))
            else:
                segments.append((ONE_CYCLE_S, target, step.frequency_hz))
                segments.append((step.duration_s, target, step.frequency_hz))
        fields = []
        for k, (t, volts, f) in enumerate(segments, start=1):
            fields += (
                [f"SEG,{k}", f"FSEG,{f:.3f}"]
                + [f"VSEG{p + 1},{v:.2f}" for p, v in enumerate(volts)]
                + [f"TSEG,{t:.4f}"]
            )
        self._profile_length_s = sum(t for t, _, _ in segments)
        return [
            f":PROG:NAME {PROGRAM}",
            ":PROG:DEL",
            f":PROG:DEF {steady}",
            f":PROG:DEF {','.join(fields)},LAST",
            f":PROG:EXEC {PROGRAM}",
        ]

    def load_profile(self, steps: Sequence[ProfileStep]) -> None:
        with self.lock:
            for command in self.profile_commands(steps, tuple(self.voltages_v()), self.frequency_hz):
                self.write(command)

    def start_profile(self) -> None:
        self.write(f":PROG:EXEC:TRANS {PROGRAM}")
        self._profile_started = time.monotonic()

    def stop_profile(self) -> None:
        """Re-apply the program's steady state, which ends the transient."""
        self.write(f":PROG:EXEC {PROGRAM}")
        self._profile_started = None

    def profile_running(self) -> bool:
        started = self._profile_started
        return started is not None and time.monotonic() - started < self._profile_length_s

    def extra_snapshot(self) -> dict[str, Any]:
        return {"phase_angles_deg": self.phase_angles_deg()}
