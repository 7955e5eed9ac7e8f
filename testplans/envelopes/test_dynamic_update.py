"""OE-NRT: dynamic envelope updates, recomputed by the twin after a change on the feeder, obeyed in near-real time.

The site runs under the dynamic envelope of its location at nrt_time; then
the load of every other customer on the feeder rises step by step
(nrt_load_scales), and after each step the twin recomputes the location's
dynamic envelope and the new limits are sent at once (over 2030.5 a new
DERControl superseding the one in force; over OPC-UA an operator write).
Conditions stress the side the updates tighten (nrt_stress). Response times
are judged in envelope time: the typical (median) update obeyed within 15
minutes, every update within 1 hour.
"""

import math

import pytest

from flexbench.core import Interval
from flexbench.lab.envelope_plan import limit_w, near_real_time

PROFILE = "envelopes"


@pytest.fixture(scope="module")
def states(plan, envelope, requirements):
    """The location's dynamic envelope before the change, then after each step (computed once per run)."""
    accuracy_w = requirements.requirement("OE-NRT").number("meter_accuracy_w")
    side = plan.nrt_stress()
    found = plan.dynamic_updates(envelope)
    for before, after in zip(found, found[1:]):
        before_w, after_w = limit_w(before.limits, side), limit_w(after.limits, side)
        if after_w >= before_w - accuracy_w:
            raise plan.error(
                "nrt_load_scales",
                f"at load x{after.load_scale:g} the twin's {side} limit maps to {after_w:.0f} W, not below "
                f"the {before_w:.0f} W before it by more than the meter accuracy: the update would not show",
            )
    return found


@pytest.mark.requirement("OE-NRT")
def test_dynamic_update_obeyed_in_near_real_time(plan, envelope, states, site, link, verdicts, clock):
    r = site.requirements.requirement("OE-NRT")
    accuracy_w, hold_s = r.number("meter_accuracy_w"), r.number("settled_hold_s")
    side = plan.nrt_stress()
    base, *updates = states
    site.check_binds(side, limit_w(base.limits, side), accuracy_w)
    give_up_s = plan.bench_s(r.number("max_response_s")) + hold_s
    precondition_s = site.plan.number("precondition_s")
    site.stress(side)
    start_s = clock.now()
    t0 = math.ceil(start_s + site.plan.number("start_delay_s"))
    total_s = math.ceil(precondition_s + len(updates) * (give_up_s + 2.0) + 10.0)
    link.publish([Interval(start_s=t0, duration_s=total_s, limits=base.limits)])
    clock.sleep_until(t0)
    site.record_limits(base.limits)
    clock.sleep(precondition_s)
    responses_s: list[float | None] = []
    t_first = None
    for update in updates:
        t_signal = math.ceil(clock.now())
        clock.sleep_until(t_signal)
        t_first = t_first or t_signal
        link.update(Interval(start_s=t_signal, duration_s=t0 + total_s - t_signal, limits=update.limits))
        site.record_limits(update.limits)
        site.recorder.event(
            "envelope_update", load_scale=update.load_scale, **update.limits.as_dict(), binding=update.binding[side]
        )
        took_s = site.watch(side, t_signal, limit_w(update.limits, side) + accuracy_w, hold_s, give_up_s)
        responses_s.append(None if took_s is None else plan.envelope_s(took_s))
    step = site.hold(start_s, float(t_first), hold_s=0)
    link.withdraw()
    site.record_limits(None)
    for result in near_real_time(
        "OE-NRT",
        responses_s,
        typical_s=r.number("typical_response_s"),
        max_s=r.number("max_response_s"),
        bench_s_per_h=plan.bench_s_per_h,
    ):
        verdicts.check(result)
    site.response_time_s = plan.bench_s(r.number("typical_response_s"))
    site.evidence(
        verdicts,
        step,
        f"{envelope.feeder} {envelope.site_id}: {len(updates)} dynamic updates "
        f"({side}) over {link.name}; 15 min = {site.response_time_s:g} bench s",
    )
