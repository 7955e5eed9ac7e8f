"""A static schedule (month x hour) in the PCS's configuration, followed with no communication.

The procedure, for an hour change within a month on the import side (a Load Limit
Letter) and for a month change on the export side (a Limited Generation Profile):

1. The bench's utility links down. A letter is loaded into the PCS: every cell at
   the profile's other-cell limits but the two around the change, which are tighter
   on the side under test (so a PCS reading the wrong month or hour shows above the
   cell in force).
2. Grid at nominal; load and EV (import) or PV (export) such that, uncontrolled, the
   site is far beyond every cell on that side.
3. The PCS's clock is set `lead_s` before the change; the site is observed to
   `hold_s` after it.
4. SCHED-FOLLOW: the PCC import (export) at or below each cell's limit + accuracy
   from the response time after the cell begins to its end.
"""

from __future__ import annotations

import datetime as dt

import pytest

from flexbench.core import SiteLimits
from flexbench.core.schedules import HOURS, MONTHS, StaticSchedule, cell_name
from flexbench.lab.plan import Conditions
from flexbench.lab.schedule_plan import ScheduledPcs, Segment, clock_time, follow, schedule_limit_line

SIDES = {"hour": "import", "month": "export"}


def letter(p, side: str, tight: dict[tuple[int, int], float]) -> StaticSchedule:
    """Import and export limits by month x hour: `tight` cells tighter on `side`, the rest the other-cell limits."""

    def cell(month: int, hour: int) -> SiteLimits:
        limits = {"import_limit_w": p.other_cells_import_w, "export_limit_w": p.other_cells_export_w}
        if (month, hour) in tight:
            limits[f"{side}_limit_w"] = tight[(month, hour)]
        return SiteLimits(**limits)

    table = {(m, h): cell(m, h) for m in MONTHS for h in HOURS}
    return StaticSchedule.of(table, firm=SiteLimits(import_limit_w=p.firm_import_w, export_limit_w=p.firm_export_w))


@pytest.mark.requirement("SCHED-FOLLOW")
@pytest.mark.parametrize("change", list(SIDES))
def test_static_schedule_followed_through_a_change(procedure, site, scheduled: ScheduledPcs, no_communication, change):
    p, side = procedure.params, SIDES[change]
    at = clock_time(p.hour_change if change == "hour" else p.month_change)
    before = at - dt.timedelta(hours=1)
    limits_w = (
        (p.hour_before_import_w, p.hour_after_import_w)
        if change == "hour"
        else (p.month_before_export_w, p.month_after_export_w)
    )
    labels = (cell_name(before.month, before.hour), cell_name(at.month, at.hour))

    procedure.step(
        f"utility links down; a static schedule loaded into the PCS: {labels[0]} and {labels[1]} tighter on {side}",
        clause="SCHED 1",
    )
    tight = {(before.month, before.hour): limits_w[0], (at.month, at.hour): limits_w[1]}
    scheduled.load(letter(p, side, tight), f"static-schedule-{change}.csv")
    procedure.step(f"the site would {side} far beyond every cell", clause="SCHED 2")
    if side == "import":
        site.set_conditions(Conditions(load_w=p.import_load_w, ev_w=p.import_ev_w))
    else:
        site.set_conditions(Conditions(pv_dc_w=p.export_pv_dc_w, load_w=p.export_load_w))
    procedure.wait(p.precondition_s)

    change_s = at.timestamp()
    procedure.step(f"the PCS's clock set to {(at - dt.timedelta(seconds=p.lead_s)).isoformat()}", clause="SCHED 3")
    scheduled.set_clock(change_s - p.lead_s)
    segments = [
        Segment(labels[0], change_s - p.lead_s, change_s, limits_w[0]),
        Segment(labels[1], change_s, change_s + p.hold_s, limits_w[1]),
    ]
    follow(
        procedure,
        "SCHED-FOLLOW",
        scheduled,
        segments,
        procedure.requirement("SCHED-FOLLOW"),
        side=side,
        what="cell (month x hour of the PCS's clock)",
    )
    procedure.evidence(
        f"Static schedule through the {change} change ({labels[0]} to {labels[1]}), {side}, no communication",
        t_step_s=scheduled.bench_s(change_s),
        steps=schedule_limit_line(side),
        start_s=scheduled.bench_s(change_s - p.lead_s),
    )
