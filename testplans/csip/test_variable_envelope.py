"""A variable envelope end to end: a schedule of export limits published as DERControls, followed.

The bench publishes an envelope (one DERControl per interval, CSIP-AUS
opModExpLimW); in each interval, from the response window on, the PCC export
must be at or below that interval's limit plus meter accuracy.
"""

import pytest

from flexbench.core import Envelope

PROFILE = "csip-aus"


@pytest.mark.requirement("OE-FOLLOW")
def test_variable_envelope_followed(site, verdicts, clock):
    plan = site.plan
    r = site.requirements.requirement("OE-FOLLOW")
    window_s = r.number("response_window_s")
    interval_s = int(r.number("interval_s"))
    limits_w = r.numbers("export_limits_w")
    accuracy_w = site.accuracy_w("OE-FOLLOW")
    site.stress("export")
    start_s = site.settle()
    t0 = round(clock.now() + plan.number("start_delay_s"))
    intervals = [(t0 + k * interval_s, interval_s, None, limit_w) for k, limit_w in enumerate(limits_w)]
    site.headend.publish_envelope(site.lfdi, Envelope.of(intervals))
    for begin, _, _, limit_w in intervals:
        clock.sleep_until(begin)
        site.record_limit(export_limit_w=limit_w)
    clock.sleep_until(t0 + len(limits_w) * interval_s)
    site.record_limit()
    step = site.hold(start_s, float(t0), hold_s=0)
    for begin, duration, _, limit_w in intervals:
        site.held(
            verdicts,
            "OE-FOLLOW",
            step,
            start_s=begin + window_s,
            end_s=begin + duration - plan.number("end_guard_s"),
            limit_w=limit_w + accuracy_w,
            export=True,
            label=f"interval at +{begin - t0:.0f} s: PCC export",
        )
    site.response_time_s = window_s
    site.evidence(verdicts, step, f"Variable envelope: {', '.join(f'{w:.0f}' for w in limits_w)} W")
