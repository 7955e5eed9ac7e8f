"""A variable schedule in the PCS's configuration that runs out: the firm limits, with no communication.

1. The bench's utility links down; grid at nominal; the site would export far above
   every limit of the schedule.
2. A variable schedule is loaded into the PCS: intervals of `interval_s` from a few
   seconds ahead on its clock, each with its export limit, and the schedule's firm
   export limit, tighter than its last interval.
3. SCHED-FOLLOW: the PCC export within each interval's limit + accuracy.
4. SCHED-END: once the last interval is over, the PCC export at or below the firm
   limit + accuracy from the response time on, to `hold_s` after the end.
"""

from __future__ import annotations

import math

import pytest

from flexbench.core import Envelope, Interval, SiteLimits
from flexbench.lab.plan import Conditions
from flexbench.lab.schedule_plan import ScheduledPcs, Segment, follow, schedule_limit_line

LOAD_AHEAD_S = 5.0  # the first interval starts this long after the schedule is written


@pytest.mark.requirement("SCHED-FOLLOW", "SCHED-END")
def test_variable_schedule_runs_out_to_the_firm_limits(procedure, site, scheduled: ScheduledPcs, no_communication):
    p = procedure.params
    procedure.step("utility links down; the site would export far above every limit", clause="SCHED 1")
    site.set_conditions(Conditions(pv_dc_w=p.export_pv_dc_w, load_w=p.export_load_w))
    scheduled.set_clock(procedure.now(), required=False)  # the schedule's times are its clock's

    start_s = math.ceil(procedure.now() + scheduled.offset_s + LOAD_AHEAD_S)
    intervals = tuple(
        Interval(start_s=start_s + k * p.interval_s, duration_s=p.interval_s, limits=SiteLimits(export_limit_w=w))
        for k, w in enumerate(p.variable_export_w)
    )
    schedule = Envelope(intervals=intervals, firm=SiteLimits(export_limit_w=p.variable_firm_export_w))
    procedure.step(
        f"a variable schedule of {len(intervals)} intervals loaded into the PCS, firm export "
        f"{p.variable_firm_export_w:.0f} W",
        clause="SCHED 2",
    )
    scheduled.load(schedule, "variable-schedule.csv")
    end_s = intervals[-1].end_s
    following = [
        Segment(f"interval {k + 1}", i.start_s, i.end_s, i.limits.export_limit_w or 0.0)
        for k, i in enumerate(intervals)
    ]
    follow(
        procedure,
        "SCHED-FOLLOW",
        scheduled,
        following,
        procedure.requirement("SCHED-FOLLOW"),
        side="export",
        what="interval",
    )
    procedure.step("the schedule has run out", clause="SCHED 4")
    ran_out = [Segment("after the schedule (firm)", end_s, end_s + p.hold_s, p.variable_firm_export_w)]
    follow(
        procedure,
        "SCHED-END",
        scheduled,
        ran_out,
        procedure.requirement("SCHED-END"),
        side="export",
        what="span after its last interval (its firm limit)",
    )
    procedure.evidence(
        "Variable schedule running out to its firm limit, no communication",
        t_step_s=scheduled.bench_s(end_s),
        steps=schedule_limit_line("export"),
        start_s=scheduled.bench_s(start_s),
    )
