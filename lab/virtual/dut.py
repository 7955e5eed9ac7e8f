"""The virtual device under test: a PV inverter with second-order power dynamics.

The output follows min(available PV power, commanded limit) after a dead time,
as a damped second-order system (critically damped with time constant tau by
default), bounded by a ramp rate, with a steady-state error. It trips when the
grid is gone and comes back after a reconnect delay.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from flexbench.lab.virtual.dynamics import SecondOrder
from flexbench.lab.virtual.faults import FaultProfile


@dataclass
class DUTParameters:
    rated_power_w: float = 10_000.0
    rated_apparent_power_va: float = 10_000.0
    rated_reactive_power_var: float = 4_400.0
    time_constant_s: float = 1.5
    ramp_rate_pct_per_s: float = 100.0
    response_delay_s: float = 0.5
    steady_state_error_pct: float = 0.5
    reconnect_delay_s: float = 5.0


class VirtualDUT:
    """Physics of the DUT; `step` advances it by a small dt of bench time."""

    def __init__(self, params: DUTParameters, fault: FaultProfile) -> None:
        self.params = params
        self.fault = fault
        delay = fault.response_delay_s if fault.response_delay_s is not None else params.response_delay_s
        self.response_delay_s = delay
        self.output = SecondOrder(
            natural_frequency_rad_s=fault.natural_frequency_rad_s or 1.0 / params.time_constant_s,
            damping_ratio=fault.damping_ratio if fault.damping_ratio is not None else 1.0,
            rate_limit_per_s=params.ramp_rate_pct_per_s / 100.0 * params.rated_power_w,
        )
        self._effective_limit_pct: float | None = None
        self._pending: deque[tuple[float, float | None]] = deque()
        self._tripped_until_s: float | None = None
        self.connected = False

    def command_limit(self, t_s: float, limit_pct: float | None) -> None:
        """A limit (percent of rated power) arrived over the DUT's interface at bench time t_s."""
        if self.fault.ignores_limit:
            return
        self._pending.append((t_s + self.response_delay_s, limit_pct))

    @property
    def effective_limit_pct(self) -> float | None:
        return self._effective_limit_pct

    def step(self, t_s: float, dt_s: float, available_w: float, grid_ok: bool) -> None:
        while self._pending and self._pending[0][0] <= t_s:
            self._effective_limit_pct = self._pending.popleft()[1]
        if not grid_ok:
            self.output.reset()
            self.connected = False
            self._tripped_until_s = t_s + self.params.reconnect_delay_s
            return
        if self._tripped_until_s is not None and t_s < self._tripped_until_s:
            return
        self.connected = True
        rated_w = self.params.rated_power_w
        target_w = max(available_w, 0.0)
        if self._effective_limit_pct is not None:
            target_w = min(target_w, self._effective_limit_pct / 100.0 * rated_w)
        target_w += self.params.steady_state_error_pct / 100.0 * rated_w
        # a PV inverter cannot absorb power, nor make much more than the array gives
        self.output.step(target_w, dt_s, lower=0.0, upper=max(available_w, 0.0) * 1.2 + 1.0)

    @property
    def power_w(self) -> float:
        return self.output.value
