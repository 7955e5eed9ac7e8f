"""OE-FOLLOW: the twin's variable envelope for the DUT's location (72 hours by default), followed.

The whole envelope (import and export limits per interval, mapped to the
site) is sent at once: one DERControl per interval over 2030.5, the site's
envelope over OPC-UA. Envelope time is compressed (bench_s_per_envelope_h).
Each interval's conditions stress one side in turn (stress_cycle), so every
limit binds; from the response window after each interval starts to its
end, PCC import and export must be at or below that interval's limits plus
meter accuracy. The window runs from when both the limits and the conditions
have changed, so a bench slow to set its instruments never cuts it short.
"""

import math

import pytest

from flexbench.lab.envelope_plan import IntervalWindow, follows_schedule, limit_w
from flexbench.lab.plan import pcc, response_window


@pytest.mark.requirement("OE-FOLLOW")
def test_variable_envelope_followed(procedure, twin_plan, envelope, site, link):
    p, r = procedure.params, procedure.requirement("OE-FOLLOW")
    window_s, guard_s, accuracy_w = r.response_window_s, r.end_guard_s, r.meter_accuracy_w
    cycle = p.stress_cycle
    if twin_plan.interval_bench_s <= window_s + guard_s + 1:
        raise twin_plan.error(
            "bench_s_per_envelope_h",
            f"an interval of {twin_plan.interval_bench_s} bench s leaves nothing to judge after the "
            f"{window_s:g} s response window",
        )
    for side in set(cycle):
        twin_plan.check_binds(side, p.site_max_w(side), accuracy_w)

    procedure.step(f"the site under {cycle[0]} stress", clause="CPUC R.21-06-017, variable envelope")
    site.stress(cycle[0])
    procedure.wait(p.precondition_s)
    t0_s = math.ceil(procedure.now() + p.start_delay_s)
    schedule = twin_plan.on_bench(envelope.intervals, t0_s)
    procedure.step(f"the twin's variable envelope sent over {link.name}: {len(schedule)} intervals", start_s=t0_s)
    link.publish(schedule)
    changed_s = []  # when each interval's conditions were in place: the response window runs from then
    for k, item in enumerate(schedule):
        procedure.wait_until(item.start_s)
        procedure.progress(f"interval {k + 1}/{len(schedule)}")
        site.stress(cycle[k % len(cycle)])
        site.show_limit(item.limits)
        changed_s.append(max(procedure.now(), item.start_s))
    end_s = procedure.wait_until(schedule[-1].end_s)
    site.show_limit(None)

    for side in ("import", "export"):
        t, y = procedure.series(pcc(side), end_s=end_s)
        windows = [
            IntervalWindow(
                changed_s[k] + window_s,
                i.end_s - guard_s,
                limit_w(i.limits, side) + accuracy_w,
                f"interval {k} (+{k * twin_plan.resolution_h:g} h)",
            )
            for k, i in enumerate(schedule)
        ]
        procedure.record(follows_schedule("OE-FOLLOW", t, y, windows, side=side))
    procedure.evidence(
        f"{envelope.feeder} {envelope.site_id}: {len(schedule)} intervals of the twin's variable envelope over "
        f"{link.name} (1 h = {twin_plan.interval_bench_s / twin_plan.resolution_h:g} bench s)",
        t_step_s=float(t0_s),
        windows=[response_window(float(t0_s), window_s)],
    )
