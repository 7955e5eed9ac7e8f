"""The limiter's control law: from the PCC reading and the inverters' outputs to their commands.

Closed on the meter, fed forward through the devices: the site's uncontrolled
power is inferred as PCC import plus the output of every inverter that is
answering and obeying. An inverter that is silent, or that does not follow
its cap, is counted as part of the uncontrolled site, so the others make up
for it without knowing why. A silent inverter may jump to its worst case at any
moment (its revert timer releases its cap; a battery reverts to idle), so
the others keep room for that: the site stays within its limits whatever the
silent one does.

A battery follows a request of its own (its local dispatch); the controller
gives each battery a window [min_w, max_w] (+ discharge) that its output is
held in, the devices turning it into caps or a setpoint (devices.py). On the
export side PV is capped first (one percentage for every PV inverter, making
room for what the battery discharges), then the battery's discharge, and a
battery is made to charge only the surplus PV at zero cannot absorb. On the
import side the battery's charging is capped first, then it is made to
discharge, never beyond the export bound. Without grid charging (mode
export-only) the battery charges from the PV surplus alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class DeviceView:
    name: str
    kind: str  # "pv" or "battery"
    rated_w: float
    output_w: float | None  # None: silent
    obeys: bool = True
    last_w: float = 0.0  # the last output read, for a silent one


@dataclass(frozen=True)
class Commands:
    pv_cap_pct: float  # for every PV inverter
    battery_min_w: dict[str, float]  # per battery: output held at or above (+ discharge; -rating: charge freely)
    battery_max_w: dict[str, float]  # per battery: output held at or below (rating: discharge freely)


def _or_inf(value: float | None) -> float:
    return math.inf if value is None else value


def dispatch(
    pcc_import_w: float,
    devices: list[DeviceView],
    export_limit_w: float | None,
    import_limit_w: float | None,
    margin_w: float,
    *,
    grid_charging: bool = True,
) -> Commands:
    controlled = [d for d in devices if d.output_w is not None and d.obeys]
    uncontrolled_load_w = pcc_import_w + sum(d.output_w or 0.0 for d in controlled)
    # what silent devices could add to the export without a word: PV up to its rating, a battery back to idle
    reserve_w = sum(
        max(d.rated_w - d.last_w, 0.0) if d.kind == "pv" else max(-d.last_w, 0.0) for d in devices if d.output_w is None
    )
    gen_max = (
        uncontrolled_load_w + _or_inf(export_limit_w) - (margin_w + reserve_w if export_limit_w is not None else 0.0)
    )
    gen_min = uncontrolled_load_w - _or_inf(import_limit_w) + (margin_w if import_limit_w is not None else 0.0)
    if gen_min > gen_max:  # no exchange wanted (or limits that cross): aim at zero exchange
        gen_min = gen_max = uncontrolled_load_w
    pvs = [d for d in controlled if d.kind == "pv"]
    batteries = [d for d in controlled if d.kind == "battery"]
    pv_rated_w = sum(d.rated_w for d in pvs)
    battery_rated_w = sum(d.rated_w for d in batteries)
    pv_w = sum(d.output_w or 0.0 for d in pvs)
    battery_w = sum(d.output_w or 0.0 for d in batteries)

    # export side: PV can go to zero, so the battery may discharge up to the whole bound (below zero: must charge)
    battery_max_w = min(max(gen_max, -battery_rated_w), battery_rated_w)
    # import side: what PV gives now is all there is; the battery's charging goes first, then it discharges
    battery_min_w = min(max(gen_min - pv_w, -battery_rated_w), battery_max_w)
    if not grid_charging:  # charge from the PV surplus alone
        surplus_w = max(pv_w - uncontrolled_load_w - margin_w, 0.0)
        battery_min_w = min(max(battery_min_w, -surplus_w), battery_max_w)
    pv_cap_w = max(gen_max - max(min(battery_w, battery_max_w), battery_min_w, 0.0), 0.0)
    pv_cap_pct = 100.0 if pv_rated_w <= 0 or math.isinf(pv_cap_w) else min(100.0, 100.0 * pv_cap_w / pv_rated_w)
    shares = {d.name: d.rated_w / battery_rated_w for d in batteries} if batteries else {}
    return Commands(
        pv_cap_pct, {n: battery_min_w * k for n, k in shares.items()}, {n: battery_max_w * k for n, k in shares.items()}
    )


def fail_safe(devices: list[DeviceView]) -> Commands:
    """Without a PCC reading nothing may export: PV to zero, batteries idle."""
    idle = {d.name: 0.0 for d in devices if d.kind == "battery"}
    return Commands(0.0, idle, dict(idle))
