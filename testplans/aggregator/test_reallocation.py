"""Re-allocation within the group when one home's load changes.

Every home light, each home's share published. One home's load rises well
above its share: the aggregator may lend it what the light homes leave unused
(AGG-REALLOC: it imports at least its share + the stated amount). Then two of
the lenders' loads rise above their shares: they take their shares back, and
the transformer stays within the group's limit (AGG-REALLOC, AGG-XFMR).
"""

import pytest

from flexbench.lab.aggregator_plan import LIMITS, TRANSFORMER, at_or_above, home_import
from flexbench.lab.plan import response_window


@pytest.mark.requirement("AGG-REALLOC", "AGG-XFMR")
def test_reallocation_when_one_home_load_changes(procedure, fresh):
    p, r, xfmr = procedure.params, procedure.requirement("AGG-REALLOC"), procedure.requirement("AGG-XFMR")
    shares = fresh.group.shares()
    group_w = sum(shares.values())
    settle_s = max(r.response_time_s, xfmr.response_time_s)

    procedure.step("every home light, no EV charging")
    for name in fresh.names:
        fresh.condition(name, load_w=p.light_load_w, ev_w=0.0)
    t0_s = round(procedure.now() + p.start_delay_s)
    duration_s = p.precondition_s + 2 * (settle_s + p.hold_s) + 5
    procedure.step("each home's share published as its import limit", start_s=t0_s, shares=shares)
    fresh.publish(shares, start_s=t0_s, duration_s=duration_s)
    procedure.wait_until(t0_s + p.precondition_s)

    t1_s = procedure.step(f"{p.lent_home}: heavy load and its EV charging, the others light")
    fresh.condition(p.lent_home, load_w=p.heavy_load_w, ev_w=p.ev_charge_w)
    end1_s = procedure.wait(settle_s + p.hold_s)
    at_or_above(
        procedure,
        "AGG-REALLOC",
        home_import(p.lent_home),
        limit=shares[p.lent_home] + r.min_lent_w,
        start_s=t1_s + r.response_time_s,
        end_s=end1_s,
        label=f"{p.lent_home} import: its share + {r.min_lent_w:.0f} W lent by the light homes,",
    )
    procedure.expect_at_or_below(
        "AGG-XFMR",
        TRANSFORMER,
        limit=fresh.group.rating_w + xfmr.accuracy_w,
        start_s=t1_s + xfmr.response_time_s,
        end_s=end1_s,
        t_cmd_s=t1_s,
        label="transformer import with one home lent capacity: rating + accuracy,",
    )

    t2_s = procedure.step(f"{', '.join(p.reclaiming_homes)}: heavy load and EVs charging: they take their shares back")
    for name in p.reclaiming_homes:
        fresh.condition(name, load_w=p.heavy_load_w, ev_w=p.ev_charge_w)
    end2_s = procedure.wait(settle_s + p.hold_s)
    procedure.expect_at_or_below(
        "AGG-REALLOC",
        TRANSFORMER,
        limit=group_w + r.accuracy_w,
        start_s=t2_s + r.response_time_s,
        end_s=end2_s,
        t_cmd_s=t2_s,
        label="transformer import once the lenders want their shares: the group's limit + accuracy,",
    )
    procedure.expect_at_or_below(
        "AGG-XFMR",
        TRANSFORMER,
        limit=fresh.group.rating_w + xfmr.accuracy_w,
        start_s=t2_s + xfmr.response_time_s,
        end_s=end2_s,
        t_cmd_s=t2_s,
        label="transformer import: rating + accuracy,",
    )
    procedure.evidence(
        f"Re-allocation: {p.lent_home} loaded, then {', '.join(p.reclaiming_homes)}",
        t_step_s=t1_s,
        end_s=end2_s,
        channels={TRANSFORMER.channel: "transformer", **{home_import(n).channel: n for n in fresh.names}},
        steps=LIMITS,
        windows=[response_window(t1_s, r.response_time_s), response_window(t2_s, r.response_time_s)],
    )
