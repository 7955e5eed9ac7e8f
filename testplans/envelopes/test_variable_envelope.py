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

from flexbench.lab.envelope_plan import Window, follows_schedule, limit_w

PROFILE = "envelopes"


@pytest.mark.requirement("OE-FOLLOW")
def test_variable_envelope_followed(plan, envelope, site, link, verdicts, clock):
    r = site.requirements.requirement("OE-FOLLOW")
    window_s, guard_s, accuracy_w = r.number("response_window_s"), r.number("end_guard_s"), r.number("meter_accuracy_w")
    cycle = plan.stress_cycle()
    if plan.interval_bench_s <= window_s + guard_s + 1:
        raise plan.error(
            "bench_s_per_envelope_h",
            f"an interval of {plan.interval_bench_s} bench s leaves nothing "
            f"to judge after the {window_s:g} s response window",
        )
    for side in set(cycle):
        site.check_binds(side, plan.site_max_w[side], accuracy_w)
    site.stress(cycle[0])
    start_s = site.settle()
    t0 = math.ceil(clock.now() + site.plan.number("start_delay_s"))
    schedule = plan.on_bench(envelope.intervals, t0)
    link.publish(schedule)
    changed_s = []  # when each interval's conditions were in place: the response window runs from then
    for k, item in enumerate(schedule):
        clock.sleep_until(item.start_s)
        site.stress(cycle[k % len(cycle)])
        site.record_limits(item.limits)
        changed_s.append(max(clock.now(), item.start_s))
    clock.sleep_until(schedule[-1].end_s)
    site.record_limits(None)
    step = site.hold(start_s, float(t0), hold_s=0)
    for side in ("import", "export"):
        t, y = site.flow(side, step.start_s, step.end_s)
        windows = [
            Window(
                changed_s[k] + window_s,
                i.end_s - guard_s,
                limit_w(i.limits, side) + accuracy_w,
                f"interval {k} (+{k * plan.resolution_h:g} h)",
            )
            for k, i in enumerate(schedule)
        ]
        verdicts.check(follows_schedule("OE-FOLLOW", t, y, windows, side=side))
    site.response_time_s = window_s
    site.evidence(
        verdicts,
        step,
        f"{envelope.feeder} {envelope.site_id}: {len(schedule)} intervals of the twin's "
        f"variable envelope over {link.name} (1 h = {plan.interval_bench_s / plan.resolution_h:g} "
        f"bench s)",
    )
