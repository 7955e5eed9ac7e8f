"""Abnormal operation: a maximum import signalled to the group (the ruling's PG&E demonstration).

Every home heavy under its share; the operator signals a maximum import for
the group, each home its share of it (in the higher-priority program). Within
the response time the transformer's import must be at or below the group's
maximum import + accuracy, and stay there while the signal lasts (AGG-ABN).
"""

import pytest

from flexbench.lab.aggregator_plan import LIMITS, TRANSFORMER, home_import
from flexbench.lab.plan import response_window


@pytest.mark.requirement("AGG-ABN")
def test_abnormal_import_signal_to_the_group(procedure, fresh):
    p, r = procedure.params, procedure.requirement("AGG-ABN")
    shares = fresh.group.shares()
    abnormal = fresh.group.shares(r.group_max_import_w)

    procedure.step("every home: heavy load, its EV charging")
    for name in fresh.names:
        fresh.condition(name, load_w=p.heavy_load_w, ev_w=p.ev_charge_w)
    t0_s = round(procedure.now() + p.start_delay_s)
    duration_s = p.precondition_s + r.response_time_s + p.hold_s + 5
    procedure.step("each home's share published as its import limit", start_s=t0_s, shares=shares)
    fresh.publish(shares, start_s=t0_s, duration_s=duration_s)
    procedure.wait_until(t0_s + p.precondition_s)

    t1_s = procedure.step(
        f"abnormal operation: maximum import {r.group_max_import_w:.0f} W for the group", shares=abnormal
    )
    fresh.abnormal(abnormal, duration_s=r.response_time_s + p.hold_s + 5)
    end_s = procedure.wait(r.response_time_s + p.hold_s)
    procedure.expect_at_or_below(
        "AGG-ABN",
        TRANSFORMER,
        limit=r.group_max_import_w + r.accuracy_w,
        start_s=t1_s + r.response_time_s,
        end_s=end_s,
        t_cmd_s=t1_s,
        label="transformer import: the group's maximum import + accuracy after the response time,",
    )
    procedure.evidence(
        f"Abnormal operation: {r.group_max_import_w:.0f} W for the group",
        t_step_s=t1_s,
        end_s=end_s,
        channels={TRANSFORMER.channel: "transformer", **{home_import(n).channel: n for n in fresh.names}},
        steps=LIMITS,
        windows=[response_window(t1_s, r.response_time_s)],
    )
