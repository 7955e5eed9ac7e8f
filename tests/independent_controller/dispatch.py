"""The control law: from the meter and the inverters' outputs to a PV cap and the battery's commands.

Closed on the site meter (import positive). Over an export limit PV is
curtailed first (one percentage for every PV inverter), then the battery's
discharge is capped, then it is made to charge. Over an import limit the
battery's charging is capped first, then it is made to discharge. Each period
corrects the whole remaining error, from the outputs measured now, so the
loop settles whatever the battery's own request is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class SiteNow:
    import_w: float  # at the meter, import positive
    pv_w: float  # total output of the PV inverters that answer
    pv_rated_w: float
    battery_w: float  # + discharge
    battery_rated_w: float


@dataclass(frozen=True)
class Commands:
    pv_cap_pct: float
    battery_discharge_cap_w: float | None  # None: no cap
    battery_charge_cap_w: float | None
    battery_setpoint_w: float | None  # None: the battery follows its own request within the caps


FAIL_SAFE = Commands(pv_cap_pct=0.0, battery_discharge_cap_w=0.0, battery_charge_cap_w=None, battery_setpoint_w=None)
FREE = Commands(pv_cap_pct=100.0, battery_discharge_cap_w=None, battery_charge_cap_w=None, battery_setpoint_w=None)


def dispatch(site: SiteNow, export_limit_w: float | None, import_limit_w: float | None, margin_w: float) -> Commands:
    pv_cap_w = math.inf
    battery_max_w = math.inf  # the battery's output may be at most this (below zero: it must charge)
    if export_limit_w is not None:
        room_w = site.import_w + export_limit_w - margin_w  # more generation the export limit allows (or less)
        pv_cap_w = max(site.pv_w + room_w, 0.0)
        battery_max_w = site.battery_w + site.pv_w + room_w  # PV gives way first, down to zero
    battery_min_w = -math.inf  # the battery's output must be at least this (above zero: it must discharge)
    if import_limit_w is not None:
        battery_min_w = site.battery_w + site.import_w - (import_limit_w - margin_w)
    rated = site.battery_rated_w
    setpoint = None
    if battery_min_w > 0:
        setpoint = min(battery_min_w, max(battery_max_w, 0.0), rated)
    elif battery_max_w < 0:
        setpoint = max(battery_max_w, -rated)
    pct = 100.0 if site.pv_rated_w <= 0 or math.isinf(pv_cap_w) else min(100.0, 100.0 * pv_cap_w / site.pv_rated_w)
    return Commands(
        pv_cap_pct=round(pct, 1),
        battery_discharge_cap_w=None if math.isinf(battery_max_w) else min(max(battery_max_w, 0.0), rated),
        battery_charge_cap_w=None if math.isinf(battery_min_w) else min(max(-battery_min_w, 0.0), rated),
        battery_setpoint_w=None if setpoint is None else round(setpoint),
    )
