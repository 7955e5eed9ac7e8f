"""Stability guard of the PHIL loop: what keeps a closed loop through real hardware from running away.

A twin and a device wired in a loop can oscillate (the device reacts to the
voltage the twin computes from the device's own power) or diverge (a power
flow that no longer converges). The guard filters the measured power before
it reaches the twin, bounds the voltage setpoint and limits how fast it may
move, and counts steps in which the twin is out of bounds: too many in a row
and the loop stops.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from flexbench.instruments.roles import SafetyLimits
from flexbench.lab.cosim.config import CosimError, GuardSettings


class PowerFilter:
    """First-order low-pass on per-phase power; the first sample passes unchanged."""

    def __init__(self, time_constant_s: float) -> None:
        self.time_constant_s = time_constant_s
        self.value: list[float] | None = None

    def update(self, values: Sequence[float], dt_s: float) -> list[float]:
        x = [float(v) for v in values]
        if self.value is None or len(self.value) != len(x) or self.time_constant_s <= 0:
            self.value = x
        else:
            alpha = dt_s / (self.time_constant_s + dt_s) if dt_s > 0 else 0.0
            self.value = [y + alpha * (xi - y) for y, xi in zip(self.value, x)]
        return list(self.value)


@dataclass(frozen=True)
class Bounds:
    """Setpoint bounds (V, Hz): the loop's own, tightened by the grid simulator's safety limits."""

    voltage_min_v: float
    voltage_max_v: float
    frequency_min_hz: float
    frequency_max_hz: float

    @classmethod
    def of(cls, guard: GuardSettings, nominal_voltage_v: float, safety: SafetyLimits) -> Bounds:
        lo = guard.voltage_min_pu * nominal_voltage_v
        hi = guard.voltage_max_pu * nominal_voltage_v
        if safety.voltage_min_v is not None:
            lo = max(lo, safety.voltage_min_v)
        if safety.voltage_max_v is not None:
            hi = min(hi, safety.voltage_max_v)
        if not lo < hi:
            where = f" ({safety.source})" if safety.source else ""
            raise CosimError(
                f"the loop's voltage bounds {guard.voltage_min_pu:g}-{guard.voltage_max_pu:g} pu of "
                f"{nominal_voltage_v:g} V leave nothing inside the grid simulator's safety limits{where}"
            )
        f_lo = safety.frequency_min_hz if safety.frequency_min_hz is not None else -math.inf
        f_hi = safety.frequency_max_hz if safety.frequency_max_hz is not None else math.inf
        return cls(lo, hi, f_lo, f_hi)


class VoltageGuard:
    """Clamp, step- and ramp-limit the voltage setpoint; count steps out of bounds."""

    def __init__(self, settings: GuardSettings, bounds: Bounds) -> None:
        self.settings = settings
        self.bounds = bounds
        self.last_v: list[float] | None = None
        self.bad_steps = 0

    def reset(self, voltages_v: Sequence[float] | None) -> None:
        """Where the setpoint is now (None: nowhere yet, the next one is taken as it is, within bounds)."""
        self.last_v = None if voltages_v is None else [float(v) for v in voltages_v]

    def assess(self, target_v: Sequence[float], frequency_hz: float, converged: bool) -> str | None:
        """Why this step is out of bounds (None when it is fine); counts consecutive bad steps."""
        b = self.bounds
        reason = None
        if not converged:
            reason = "the twin's power flow did not converge"
        elif not all(math.isfinite(v) for v in target_v) or not math.isfinite(frequency_hz):
            reason = "the twin gave a non-finite voltage"
        else:
            for k, v in enumerate(target_v):
                if not b.voltage_min_v <= v <= b.voltage_max_v:
                    reason = f"phase {k + 1} at {v:.1f} V is outside {b.voltage_min_v:.1f}-{b.voltage_max_v:.1f} V"
                    break
            else:
                if not b.frequency_min_hz <= frequency_hz <= b.frequency_max_hz:
                    reason = f"frequency {frequency_hz:g} Hz is outside the grid simulator's safety limits"
        self.bad_steps = self.bad_steps + 1 if reason else 0
        return reason

    @property
    def diverged(self) -> bool:
        return self.bad_steps >= self.settings.diverge_steps

    def voltage(self, target_v: Sequence[float], dt_s: float) -> tuple[list[float], bool]:
        """The setpoint to send for `target_v` and whether the guard changed it."""
        b = self.bounds
        out, limited = [], False
        max_move = min(self.settings.max_step_v, self.settings.max_ramp_v_per_s * max(dt_s, 0.0))
        for k, target in enumerate(target_v):
            v = target if math.isfinite(target) else (self.last_v[k] if self.last_v else b.voltage_min_v)
            v = min(max(v, b.voltage_min_v), b.voltage_max_v)
            if self.last_v is not None and k < len(self.last_v):
                previous = self.last_v[k]
                v = min(max(v, previous - max_move), previous + max_move)
            limited = limited or abs(v - target) > 1e-9
            out.append(v)
        self.last_v = out
        return out, limited

    def frequency(self, target_hz: float) -> float:
        b = self.bounds
        return min(max(target_hz, b.frequency_min_hz), b.frequency_max_hz)
