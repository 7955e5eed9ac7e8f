"""What the aggregator plans (testplans/aggregator) share: the group's quantities, its homes, its controls.

The utility side of an aggregator site as the plans drive it: each home's
conditions (operator actions on the virtual site; the operator on a real
bench), each home's import limit as a DERControl on its EndDevice, the
operator's abnormal-operation maximum import, a home's communication lost.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from flexbench.core import SiteLimits, channels
from flexbench.lab.evaluate import Result
from flexbench.lab.plan import Quantity
from flexbench.lab.virtual.aggregator_site.utility import Group
from flexbench.signals.csip.controls import ControlValues

GROUP_LIMIT = "limit.group_w"
"""The sum of the import limits in force for the group's homes (NaN: none), for the evidence plots."""
TRANSFORMER_RATING = "limit.transformer_w"
LIMITS = {GROUP_LIMIT: "group limit (sum of the homes' limits)", TRANSFORMER_RATING: "transformer rating"}
TRANSFORMER = Quantity(channels.element("transformer", channels.P_W), 1.0, "W", "transformer import")


def home_import(name: str) -> Quantity:
    """A home's PCC import as the analyzer measures it."""
    return Quantity(channels.element(name, channels.P_W), 1.0, "W", f"{name} import")


class Homes:
    """The group as the plans drive it: each home's conditions, the utility's controls for every home."""

    def __init__(self, bench: Any, recorder: Any, clock: Any, group: Group) -> None:
        self.bench = bench
        self.recorder = recorder
        self.clock = clock
        self.group = group
        self.headend = bench.csip.headend

    @property
    def names(self) -> list[str]:
        return list(self.group.homes)

    def condition(self, name: str, *, load_w: float, ev_w: float) -> None:
        """A home's uncontrolled load and what its EV asks to charge."""
        self.bench.operator_action(f"load:{name}:{load_w:g}", f"Set {name}'s load to {load_w:.0f} W.")
        self.bench.operator_action(f"ev:{name}:{ev_w:g}", f"Set {name}'s EV to ask for {ev_w:.0f} W of charging.")
        self.recorder.event("condition", home=name, load_w=load_w, ev_w=ev_w)

    def publish(
        self, shares: dict[str, float], *, start_s: float, duration_s: float, program: str = "envelope"
    ) -> None:
        """Each home's import limit as a DERControl on its EndDevice, from start_s for duration_s."""
        for name, limit_w in shares.items():
            values = ControlValues(limits=SiteLimits(import_limit_w=limit_w))
            self.headend.publish_control(
                self.group.homes[name].lfdi, int(start_s), int(duration_s), values, program=program
            )
        self.recorder.event("group_limits", program=program, start_s=start_s, duration_s=duration_s, shares=shares)
        self.recorder.record(TRANSFORMER_RATING, self.group.rating_w, float(start_s))
        self.recorder.record(GROUP_LIMIT, sum(shares.values()), float(start_s))
        self.recorder.record(GROUP_LIMIT, math.nan, float(start_s + duration_s))

    def abnormal(self, shares: dict[str, float], *, duration_s: float) -> None:
        """The operator's abnormal-operation maximum import: each home's share of the group's, at once."""
        for name, limit_w in shares.items():
            self.headend.signal_abnormal(self.group.homes[name].lfdi, limit_w, int(duration_s))
        self.recorder.event("abnormal", shares=shares)
        self.recorder.record(GROUP_LIMIT, sum(shares.values()))

    def cancel(self) -> None:
        """Every home's live controls cancelled: the next test starts from none."""
        for home in self.group.homes.values():
            self.headend.cancel_controls(home.lfdi)

    def lost(self, name: str) -> Any:
        """A context in which the home's devices and meter do not answer the aggregator."""
        return _HomeLost(self, name)


class _HomeLost:
    def __init__(self, homes: Homes, name: str) -> None:
        self.homes, self.name = homes, name

    def __enter__(self) -> float:
        t_s = float(self.homes.clock.now())
        self.homes.bench.operator_action(
            f"home-silent:{self.name}", f"Cut {self.name}'s link to the aggregator (its meter and devices)."
        )
        self.homes.recorder.event("site_fault", action=f"home-silent:{self.name}")
        return t_s

    def __exit__(self, *exc: object) -> None:
        self.homes.bench.operator_action(f"home-restore:{self.name}", f"Restore {self.name}'s link to the aggregator.")
        self.homes.recorder.event("site_fault", action=f"home-restore:{self.name}")


def at_or_above(
    procedure: Any, requirement_id: str, quantity: Quantity, *, limit: float, start_s: float, end_s: float, label: str
) -> Result:
    """The quantity never below the limit over [start_s, end_s] (a home served what it was lent)."""
    t, y = procedure.series(quantity, start_s, end_s)
    if not len(y):
        return procedure.expect(
            requirement_id,
            criterion=f"{label} at or above {limit:.0f} W",
            passed=False,
            message=f"no samples of {quantity.name} from {start_s:.1f} s to {end_s:.1f} s",
        )
    low = float(np.min(y))
    return procedure.expect(
        requirement_id,
        criterion=f"{label} at or above {limit:.0f} W from {start_s - procedure.started_s:.0f} s "
        f"to {end_s - procedure.started_s:.0f} s",
        passed=low >= limit,
        message=f"lowest {quantity.name} {low:.0f} W against {limit:.0f} W",
        measured=low,
        limit=limit,
        unit="W",
        margin=low - limit,
    )


__all__ = ["GROUP_LIMIT", "LIMITS", "TRANSFORMER", "TRANSFORMER_RATING", "Homes", "at_or_above", "home_import"]
