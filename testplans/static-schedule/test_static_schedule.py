"""A static schedule (month x hour) in the PCS's configuration, followed with no communication.

The procedure, for an hour change within a month and for a month change:

1. The bench's utility links down; grid at nominal; PV and load such that, uncontrolled,
   the site exports far above every cell of the schedule.
2. A letter is loaded into the PCS: every cell at `other_cells_export_w` but the two
   around the change, which are tighter (so a PCS reading the wrong month or hour
   exports above the cell in force).
3. The PCS's clock is set `lead_s` before the change; the site is observed to
   `hold_s` after it.
4. SCHED-FOLLOW: the PCC export at or below each cell's limit + accuracy from the
   response time after the cell begins to its end.
"""

from __future__ import annotations

import datetime as dt

import pytest

from flexbench.core import SiteLimits
from flexbench.core.schedules import HOURS, MONTHS, StaticSchedule, cell_name
from flexbench.lab.plan import Conditions
from flexbench.lab.schedule_plan import SCHEDULE_LIMIT, ScheduledPcs, Segment, clock_time, follow


def letter(other_w: float, firm_w: float, cells: dict[tuple[int, int], float]) -> StaticSchedule:
    """A Limited Generation Profile: export limits by month x hour, `cells` tighter than the rest."""
    table = {(m, h): SiteLimits(export_limit_w=cells.get((m, h), other_w)) for m in MONTHS for h in HOURS}
    return StaticSchedule.of(table, firm=SiteLimits(export_limit_w=firm_w))


@pytest.mark.requirement("SCHED-FOLLOW")
@pytest.mark.parametrize("change", ["hour", "month"])
def test_static_schedule_followed_through_a_change(procedure, site, scheduled: ScheduledPcs, no_communication, change):
    p = procedure.params
    at = clock_time(p.hour_change if change == "hour" else p.month_change)
    before = at - dt.timedelta(hours=1)
    limits_w = (
        (p.hour_before_export_w, p.hour_after_export_w)
        if change == "hour"
        else (p.month_before_export_w, p.month_after_export_w)
    )
    labels = (cell_name(before.month, before.hour), cell_name(at.month, at.hour))

    procedure.step("utility links down; the site would export far above every cell", clause="SCHED 1")
    site.set_conditions(Conditions(pv_dc_w=p.export_pv_dc_w, load_w=p.export_load_w))
    procedure.step(f"a static schedule loaded into the PCS: {labels[0]} and {labels[1]} tighter", clause="SCHED 2")
    schedule = letter(
        p.other_cells_export_w,
        p.firm_export_w,
        {(before.month, before.hour): limits_w[0], (at.month, at.hour): limits_w[1]},
    )
    scheduled.load(schedule, f"static-schedule-{change}.csv")
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
        what="cell (month x hour of the PCS's clock)",
    )
    t_change_s = scheduled.bench_s(change_s)
    procedure.evidence(
        f"Static schedule through the {change} change ({labels[0]} to {labels[1]}), no communication",
        t_step_s=t_change_s,
        steps=SCHEDULE_LIMIT,
        start_s=scheduled.bench_s(change_s - p.lead_s),
    )
