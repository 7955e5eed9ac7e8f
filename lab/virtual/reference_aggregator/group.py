"""The aggregator's control law: the group's import limits re-allocated among its homes, and each home's commands.

Re-allocation (`reallocate`): every home is entitled to the import limit the
utility published for it; the group's limit is their sum. A home that uses
less than its entitlement (its demand, plus a buffer) lends the rest; homes
that want more than theirs share what is lent, max-min fair (the twin's
"equal" allocation), each up to its own service limit. A home whose
communication is lost cannot be held: it is counted at its own service limit
(its worst case), and what that takes beyond its entitlement comes off the
others', in proportion. The sum never exceeds the group's limit.

A home's commands (`home_commands`), closed on its meter: the battery
discharges first so the EV can charge, then the EV's charging is capped;
on the export side PV is capped, then the battery made to charge. The EV
never discharges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flexbench.lab.virtual.aggregator_site.transformer import allocate_capacity

LEND_BUFFER_W = 500.0  # a lender keeps this much above its demand, for its next step


@dataclass(frozen=True)
class HomeView:
    name: str
    limit_w: float | None  # the import limit the utility published (None: none)
    demand_w: float | None  # what it would import with every cap released (None: its communication is lost)
    own_limit_w: float  # its service: the most it can ever import


def reallocate(homes: list[HomeView], *, lost_at_worst: bool = True) -> dict[str, float | None]:
    """Each home's import limit to hold now; the homes without a published limit keep none."""
    out: dict[str, float | None] = {h.name: h.limit_w for h in homes}
    limited = [h for h in homes if h.limit_w is not None]
    if not limited:
        return out
    capacity_w = sum(h.limit_w or 0.0 for h in limited)
    live = [h for h in limited if h.demand_w is not None]
    lost = [h for h in limited if h.demand_w is None]
    reserved_w = sum(max(h.own_limit_w, h.limit_w or 0.0) if lost_at_worst else (h.limit_w or 0.0) for h in lost)
    available_w = max(capacity_w - reserved_w, 0.0)
    entitled_total_w = sum(h.limit_w or 0.0 for h in live)
    scale = min(1.0, available_w / entitled_total_w) if entitled_total_w > 0 else 0.0
    entitled = {h.name: (h.limit_w or 0.0) * scale for h in live}
    kept = {h.name: min((h.demand_w or 0.0) + LEND_BUFFER_W, entitled[h.name]) for h in live}
    spare_w = max(available_w - sum(kept.values()), 0.0)
    borrowers = [h for h in live if (h.demand_w or 0.0) + LEND_BUFFER_W > entitled[h.name]]
    wants = [max(min((h.demand_w or 0.0) + LEND_BUFFER_W, h.own_limit_w) - entitled[h.name], 0.0) for h in borrowers]
    extra = dict(zip((h.name for h in borrowers), allocate_capacity(spare_w, wants, "equal")))
    for h in live:
        out[h.name] = kept[h.name] + extra.get(h.name, 0.0)
    return out


@dataclass(frozen=True)
class HomeCommands:
    pv_cap_w: float | None  # None: no cap (no PV, or nothing to limit)
    battery_min_w: float  # battery window, + discharge
    battery_max_w: float
    ev_charge_max_w: float  # what the EV may charge at most


def _clamp(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


def home_commands(
    pcc_import_w: float,
    pv_w: float,
    battery_w: float,
    ev_w: float,
    ratings: tuple[float, float, float],
    import_limit_w: float | None,
    export_limit_w: float | None,
    margin_w: float,
) -> HomeCommands:
    """Commands for one home from its PCC and device outputs (W, + generation / discharge; the EV's is - charge)."""
    _pv_rated, battery_rated, ev_rated = ratings
    load_w = pcc_import_w + pv_w + battery_w + ev_w
    ev_charging_w = max(-ev_w, 0.0)
    gen_min = load_w - (import_limit_w - margin_w) if import_limit_w is not None else -math.inf
    gen_max = load_w + (export_limit_w - margin_w) if export_limit_w is not None else math.inf
    ev_max = ev_rated if math.isinf(gen_min) else _clamp(battery_rated + pv_w - gen_min, 0.0, ev_rated)
    bat_min = (
        -battery_rated if math.isinf(gen_min) else _clamp(gen_min - pv_w + ev_charging_w, -battery_rated, battery_rated)
    )
    bat_max = battery_rated if math.isinf(gen_max) else _clamp(gen_max + ev_charging_w, -battery_rated, battery_rated)
    bat_max = max(bat_max, bat_min)
    pv_cap = None if math.isinf(gen_max) else max(gen_max + ev_charging_w - _clamp(battery_w, bat_min, bat_max), 0.0)
    return HomeCommands(pv_cap, bat_min, bat_max, ev_max)


__all__ = ["HomeCommands", "HomeView", "home_commands", "reallocate"]
