"""ScpiGridSimulator: what the SCPI grid-simulator drivers share.

A model's driver (AMETEK RS/MX, NHR 9410, Pacific AFX) declares its command
set and implements a handful of methods; this base gives it the ``phases``
option, phase validation, safety checks before sending, measure() over the
phases, output control and a snapshot. Profiles are checked with
GridSimulator.check_profile before any command is rendered.

Timeouts, lost connections and threads: see transports.visa (a driver holds
``lock`` across select-then-act sequences).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..roles import GridSimulator, PhaseReading, ProfileStep
from ..scpi import ScpiInstrument


class ScpiGridSimulator(ScpiInstrument, GridSimulator):
    """Base of SCPI grid-simulator drivers."""

    driver_name: ClassVar[str] = ""
    max_profile_steps: ClassVar[int] = 100

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        phases = self.options.get("phases", 3)
        if phases not in (1, 3):
            raise ValueError(f"option phases must be 1 or 3, got {phases!r}")
        self.phases = int(phases)

    def on_connect(self) -> None:
        self.write("*CLS")
        if self.safety.slew_max_v_per_s is not None:
            self.set_voltage_slew(self.safety.slew_max_v_per_s)

    def _phase(self, phase: int) -> int:
        if not isinstance(phase, int) or isinstance(phase, bool) or not 1 <= phase <= self.phases:
            raise ValueError(f"phase must be 1..{self.phases}, got {phase!r}")
        return phase

    def _angle_phase(self, phase: int) -> int:
        if self.phases == 1:
            raise ValueError("a one-phase output has no phase angles to set")
        if self._phase(phase) == 1:
            raise ValueError("phase 1 is the reference: set the angles of phases 2 and 3")
        return phase

    def check_voltage(self, voltage_v: float) -> None:
        self.check_safety("voltage", float(voltage_v), "v")

    def check_steps(self, steps: list[ProfileStep], start_voltages_v: tuple[float, ...]) -> None:
        self.check_profile(steps, start_voltages_v)
        if len(steps) > self.max_profile_steps:
            raise ValueError(f"{self.model} holds {self.max_profile_steps} list points, the profile has {len(steps)}")

    # -- per model ------------------------------------------------------------------------
    def measure_phase(self, phase: int) -> PhaseReading:
        raise NotImplementedError

    def voltages_v(self) -> list[float]:
        raise NotImplementedError

    # -- GridSimulator -----------------------------------------------------------------------
    def set_output(self, enabled: bool) -> None:
        self.output_on = bool(enabled)

    def output_enabled(self) -> bool:
        return self.output_on

    def measure(self) -> list[PhaseReading]:
        with self.lock:
            return [self.measure_phase(phase) for phase in range(1, self.phases + 1)]

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            ident = self.identity()
            return {
                "driver": self.driver_name,
                "address": self.address,
                "manufacturer": ident.manufacturer,
                "model": ident.model,
                "serial": ident.serial,
                "firmware": ident.firmware,
                "phases": self.phases,
                "voltage_v": self.voltages_v(),
                "frequency_hz": self.frequency_hz,  # type: ignore[attr-defined]
                "output_enabled": self.output_enabled(),
                **self.extra_snapshot(),
            }

    def extra_snapshot(self) -> dict[str, Any]:
        return {}


def csv(values: list[float], fmt: str) -> str:
    return ",".join(format(v, fmt) for v in values)


def step_targets(
    steps: list[ProfileStep], phases: int, start_v: tuple[float, ...], start_hz: float
) -> list[tuple[ProfileStep, tuple[float, ...], tuple[float, ...], float, float]]:
    """Each step with its start and target voltages and frequencies (start = previous target)."""
    out = []
    previous_v, previous_f = start_v, start_hz
    for step in steps:
        target = step.voltages_v(phases)
        out.append((step, previous_v, target, previous_f, step.frequency_hz))
        previous_v, previous_f = target, step.frequency_hz
    return out
