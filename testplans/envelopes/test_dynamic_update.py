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
from flexbench.lab.envelope_plan import limit_w, near_real_time, watch
from flexbench.lab.plan import response_window


@pytest.fixture(scope="module")
def updates(parameters, twin_plan, envelope):
    """The location's dynamic envelope before the change, then after each step (computed once per run)."""
    accuracy_w = parameters.requirement("OE-NRT").meter_accuracy_w
    side = parameters.plan.nrt_stress
    found = twin_plan.dynamic_updates(envelope)
    for before, after in zip(found, found[1:]):
        before_w, after_w = limit_w(before.limits, side), limit_w(after.limits, side)
        if after_w >= before_w - accuracy_w:
            raise twin_plan.error(
                "nrt_load_scales",
                f"at load x{after.load_scale:g} the twin's {side} limit maps to {after_w:.0f} W, not below "
                f"the {before_w:.0f} W before it by more than the meter accuracy: the update would not show",
            )
    return found


@pytest.mark.requirement("OE-NRT")
def test_dynamic_update_obeyed_in_near_real_time(procedure, twin_plan, envelope, updates, site, link):
    p, r = procedure.params, procedure.requirement("OE-NRT")
    accuracy_w, hold_s = r.meter_accuracy_w, r.settled_hold_s
    side = p.nrt_stress
    base, *steps = updates
    twin_plan.check_binds(side, limit_w(base.limits, side), accuracy_w)
    give_up_s = twin_plan.bench_s(r.max_response_s) + hold_s

    procedure.step(
        f"the site under {side} stress, the location's dynamic envelope in force",
        clause="CPUC R.21-06-017, dynamic envelope",
    )
    site.stress(side)
    t0_s = math.ceil(procedure.now() + p.start_delay_s)
    total_s = math.ceil(p.precondition_s + len(steps) * (give_up_s + 2.0) + 10.0)
    link.publish([Interval(start_s=t0_s, duration_s=total_s, limits=base.limits)])
    procedure.wait_until(t0_s)
    site.show_limit(base.limits)
    procedure.wait(p.precondition_s)

    responses_s: list[float | None] = []
    t_first_s = None
    for update in steps:
        t_signal_s = math.ceil(procedure.now())
        procedure.wait_until(t_signal_s)
        t_first_s = t_first_s or t_signal_s
        procedure.step(
            f"every other customer's load x{update.load_scale:g}: the twin's update sent over {link.name}",
            binding=update.binding[side],
            **update.limits.as_dict(),
        )
        link.update(Interval(start_s=t_signal_s, duration_s=t0_s + total_s - t_signal_s, limits=update.limits))
        site.show_limit(update.limits)
        took_s = watch(procedure, side, t_signal_s, limit_w(update.limits, side) + accuracy_w, hold_s, give_up_s)
        responses_s.append(None if took_s is None else twin_plan.envelope_s(took_s))
    link.withdraw()
    site.show_limit(None)

    for result in near_real_time(
        "OE-NRT",
        responses_s,
        typical_s=r.typical_response_s,
        max_s=r.max_response_s,
        bench_s_per_h=p.bench_s_per_envelope_h,
    ):
        procedure.record(result)
    typical_bench_s = twin_plan.bench_s(r.typical_response_s)
    procedure.evidence(
        f"{envelope.feeder} {envelope.site_id}: {len(steps)} dynamic updates ({side}) over {link.name}; "
        f"15 min = {typical_bench_s:g} bench s",
        t_step_s=float(t_first_s),
        windows=[response_window(float(t_first_s), typical_bench_s)],
    )
