"""The twin's side of power-hardware-in-the-loop: a device held at one bus of a feeder.

A lab measures its device's P and Q, and the twin treats them as a load at
the device's bus (one single-phase constant-PQ load per node, so each phase
can carry its own power), solves, and reports that bus's per-phase voltage
magnitude, angle and the network frequency. The lab then drives its grid
simulator to those values. Import (consumption) is positive, as elsewhere in
the twin.

Regulators and capacitors are frozen at the state the initial solve settled
(the loop runs at tens of steps a second, far faster than a tap changer's
delay), unless `controls` asks for them to act every step.

The engine is not thread-safe: create the PhilBus and call `exchange` on one
thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from flexbench.twin.errors import SiteError, suggest
from flexbench.twin.twin import Twin

LOAD_PREFIX = "phil_dut_"
# Constant PQ over a wide band: the device's power is what the lab measured,
# whatever the twin's voltage (OpenDSS turns loads to constant impedance outside it).
VMIN_PU = 0.3
VMAX_PU = 2.0


@dataclass(frozen=True)
class BusVoltages:
    """One solution at the device's bus: per phase (the bus's nodes, in order) and the frequency."""

    nodes: tuple[int, ...]
    magnitude_pu: tuple[float, ...]
    magnitude_v: tuple[float, ...]  # line-to-neutral, feeder volts
    angle_deg: tuple[float, ...]
    frequency_hz: float
    converged: bool

    @property
    def phases(self) -> int:
        return len(self.nodes)

    def to_vector(self) -> list[float]:
        """Flat form for a federation message: [converged, f, n, nodes, pu, V, angles]."""
        n = self.phases
        return [
            1.0 if self.converged else 0.0,
            self.frequency_hz,
            float(n),
            *map(float, self.nodes),
            *self.magnitude_pu,
            *self.magnitude_v,
            *self.angle_deg,
        ][: 3 + 4 * n]

    @classmethod
    def from_vector(cls, values: Sequence[float]) -> BusVoltages:
        """Inverse of to_vector; ValueError on a message of the wrong shape."""
        if len(values) < 3:
            raise ValueError(f"bus voltage message too short ({len(values)} values)")
        n = int(values[2])
        if n < 1 or len(values) != 3 + 4 * n:
            raise ValueError(f"bus voltage message has {len(values)} values, expected {3 + 4 * max(n, 1)}")
        body = [float(v) for v in values[3:]]
        return cls(
            nodes=tuple(int(v) for v in body[:n]),
            magnitude_pu=tuple(body[n : 2 * n]),
            magnitude_v=tuple(body[2 * n : 3 * n]),
            angle_deg=tuple(body[3 * n : 4 * n]),
            frequency_hz=float(values[1]),
            converged=bool(values[0]),
        )


class PhilBus:
    """A device's P and Q injected at one bus of a twin; solve; that bus's voltages."""

    def __init__(self, twin: Twin, bus: str, *, controls: bool = False) -> None:
        self.twin = twin
        self.controls = controls
        dss = twin.engine.dss
        key = str(bus).strip().lower()
        buses = [b.lower() for b in dss.Circuit.AllBusNames()]
        if key not in buses:
            raise SiteError(f"bus {bus!r} is not on feeder {twin.name}{suggest(key, buses)}")
        self.bus = key
        dss.Circuit.SetActiveBus(key)
        self.nodes: tuple[int, ...] = tuple(int(n) for n in dss.Bus.Nodes() if 1 <= int(n) <= 3)
        if not self.nodes:
            raise SiteError(f"bus {bus!r} of feeder {twin.name} has no phase nodes (1, 2, 3)")
        self.base_v = float(dss.Bus.kVBase()) * 1000.0
        if not self.base_v > 0:
            raise SiteError(f"bus {bus!r} of feeder {twin.name} has no voltage base")
        self.load_names = [f"{LOAD_PREFIX}{key}_{n}" for n in self.nodes]  # one device per bus
        for name, node in zip(self.load_names, self.nodes):
            twin.engine.command(
                f"New Load.{name} bus1={key}.{node} phases=1 conn=wye kv={self.base_v / 1000.0:.6f} "
                f"model=1 kW=0 kvar=0 vminpu={VMIN_PU} vmaxpu={VMAX_PU}"
            )
        twin.engine.forget_load_values()
        # settle regulators and capacitors at the model's operating point, with the device at zero
        twin.engine.solve_or_raise(f"with the device at bus {key}")
        self.injected_w = np.zeros(len(self.nodes))
        self.injected_var = np.zeros(len(self.nodes))

    @property
    def phases(self) -> int:
        return len(self.nodes)

    def per_phase(self, values: Sequence[float]) -> np.ndarray:
        """Per-phase values for this bus: as given when one per node, else their sum shared equally."""
        arr = np.asarray(values, dtype=float)
        if arr.shape == (self.phases,):
            return arr
        return np.full(self.phases, float(arr.sum()) / self.phases)

    def inject(self, p_w: Sequence[float], q_var: Sequence[float]) -> None:
        """Set the device's import (W, var): one value per node of the bus, or a total shared equally."""
        p, q = self.per_phase(p_w), self.per_phase(q_var)
        loads = self.twin.engine.dss.Loads
        for name, kw, kvar in zip(self.load_names, p / 1000.0, q / 1000.0):
            loads.Name(name)
            loads.kW(float(kw))
            loads.kvar(float(kvar))
        self.injected_w, self.injected_var = p, q

    def solve(self) -> BusVoltages:
        """Solve the feeder and read the bus; a failed solution is reported, not raised."""
        engine = self.twin.engine
        converged = engine.solve(controls=self.controls)
        dss = engine.dss
        dss.Circuit.SetActiveBus(self.bus)
        order = [int(n) for n in dss.Bus.Nodes()]
        raw = np.asarray(dss.Bus.VMagAngle(), dtype=float)
        mags, angles = [], []
        for node in self.nodes:
            k = order.index(node)
            mags.append(float(raw[2 * k]))
            angles.append(float(raw[2 * k + 1]))
        finite = all(math.isfinite(v) for v in mags + angles)
        return BusVoltages(
            nodes=self.nodes,
            magnitude_pu=tuple(m / self.base_v for m in mags),
            magnitude_v=tuple(mags),
            angle_deg=tuple(angles),
            frequency_hz=float(dss.Solution.Frequency()),
            converged=bool(converged and finite),
        )

    def exchange(self, p_w: Sequence[float], q_var: Sequence[float]) -> BusVoltages:
        """One step of the loop on the twin's side: inject, solve, read."""
        self.inject(p_w, q_var)
        return self.solve()

    def close(self) -> None:
        """Nothing to release: the twin owns its engine."""
