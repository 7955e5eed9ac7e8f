"""One home's communication lost: the aggregator can no longer hold it, the group must still fit.

Every home at or above its share, each share published. One home stops
answering the aggregator (its meter and devices): the aggregator must count
it at its worst case and hold the others tighter. The lost home's devices
revert (its battery stops discharging) and it imports more than its share;
from the declared fail-safe time on the transformer must stay within its
rating (AGG-LOSS).
"""

import pytest

from flexbench.lab.aggregator_plan import LIMITS, TRANSFORMER, home_import
from flexbench.lab.plan import response_window


@pytest.mark.requirement("AGG-LOSS")
def test_one_home_communication_lost(procedure, fresh):
    p, r = procedure.params, procedure.requirement("AGG-LOSS")
    shares = fresh.group.shares()

    procedure.step(f"{p.light_home} near its share without an EV; {p.lost_home} and the others with their EVs charging")
    for name in fresh.names:
        if name == p.light_home:
            fresh.condition(name, load_w=p.near_share_load_w, ev_w=0.0)
        elif name == p.lost_home:
            fresh.condition(name, load_w=p.lost_home_load_w, ev_w=p.ev_charge_w)
        else:
            fresh.condition(name, load_w=p.heavy_load_w, ev_w=p.ev_charge_w)
    t0_s = round(procedure.now() + p.start_delay_s)
    duration_s = p.precondition_s + r.loss_hold_s + 10
    procedure.step("each home's share published as its import limit", start_s=t0_s, shares=shares)
    fresh.publish(shares, start_s=t0_s, duration_s=duration_s)
    procedure.wait_until(t0_s + p.precondition_s)

    procedure.step(f"{p.lost_home}'s communication lost: its meter and devices stop answering the aggregator")
    with fresh.lost(p.lost_home) as t1_s:
        end_s = procedure.wait(r.loss_hold_s)
    procedure.expect_at_or_below(
        "AGG-LOSS",
        TRANSFORMER,
        limit=fresh.group.rating_w + r.accuracy_w,
        start_s=t1_s + r.fail_safe_time_s,
        end_s=end_s,
        t_cmd_s=t1_s,
        label=f"transformer import with {p.lost_home} lost: rating + accuracy after the fail-safe time,",
    )
    procedure.evidence(
        f"{p.lost_home}'s communication lost",
        t_step_s=t1_s,
        end_s=end_s,
        channels={TRANSFORMER.channel: "transformer", **{home_import(n).channel: n for n in fresh.names}},
        steps=LIMITS,
        windows=[response_window(t1_s, r.fail_safe_time_s)],
    )
