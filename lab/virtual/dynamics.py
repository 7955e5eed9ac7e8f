"""A second-order power response shared by every virtual device.

Critically damped with natural frequency 1/tau it is a smooth first-order-like
response; lightly damped it overshoots and rings (the `overshoot` faults).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class SecondOrder:
    natural_frequency_rad_s: float
    damping_ratio: float = 1.0
    rate_limit_per_s: float = math.inf
    value: float = 0.0
    velocity: float = 0.0

    def step(self, target: float, dt_s: float, lower: float = -math.inf, upper: float = math.inf) -> float:
        """Advance by dt_s toward target; stop at [lower, upper] without bouncing."""
        wn, zeta = self.natural_frequency_rad_s, self.damping_ratio
        accel = wn * wn * (target - self.value) - 2.0 * zeta * wn * self.velocity
        self.velocity += accel * dt_s
        self.velocity = max(-self.rate_limit_per_s, min(self.rate_limit_per_s, self.velocity))
        self.value += self.velocity * dt_s
        if self.value < lower or self.value > upper:
            self.value = min(max(self.value, lower), upper)
            self.velocity = 0.0
        return self.value

    def reset(self, value: float = 0.0) -> None:
        self.value = value
        self.velocity = 0.0


def substeps(dt_s: float, max_step_s: float = 0.02) -> tuple[int, float]:
    """Split a bench-time interval into integration steps small enough to be stable."""
    n = max(1, math.ceil(dt_s / max_step_s))
    return n, dt_s / n
