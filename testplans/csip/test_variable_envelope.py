"""A variable envelope end to end (CPUC R.21-06-017 ruling; PG&E FlexConnect): a schedule of export
limits published as 2030.5 DERControls, followed.

The bench publishes an envelope (one DERControl per interval, CSIP-AUS
opModExpLimW); in each interval, from the response window on, the PCC export
must be at or below that interval's limit plus meter accuracy.
"""

import pytest

from flexbench.core import Interval, SiteLimits
from flexbench.lab.plan import PCC_EXPORT, limit_sent, response_window


@pytest.mark.requirement("OE-FOLLOW")
def test_variable_envelope_followed(procedure, site, headend):
    p, r = procedure.params, procedure.requirement("OE-FOLLOW")
    procedure.step("conditions that take the site far past every export limit", clause="ruling: variable envelope")
    site.stress("export")
    procedure.wait(p.precondition_s)

    t0_s = round(procedure.now() + p.start_delay_s)
    schedule = [
        Interval(start_s=t0_s + k * r.interval_s, duration_s=r.interval_s, limits=SiteLimits(export_limit_w=w))
        for k, w in enumerate(r.export_limits_w)
    ]
    ramp_s = p.control_ramp_s
    procedure.step(
        f"the server publishes an envelope of {len(schedule)} intervals"
        + (f", each with ramp {ramp_s:g} s" if ramp_s else ""),
        start_s=t0_s,
    )
    headend.schedule(schedule, ramp_s=ramp_s)
    for interval in schedule:
        procedure.wait_until(interval.start_s)
        site.show_limit(interval.limits)
    end_s = procedure.wait_until(t0_s + len(schedule) * r.interval_s)
    site.show_limit(None)

    for interval in schedule:
        procedure.expect_at_or_below(
            "OE-FOLLOW",
            PCC_EXPORT,
            limit=interval.export_limit_w + r.accuracy_w(p.site_rating_w),
            start_s=response_window(interval.start_s, r.response_window_s, ramp_s).end_s,
            end_s=interval.end_s - p.end_guard_s,
            t_cmd_s=t0_s,
            label=f"interval at +{interval.start_s - t0_s:.0f} s ({limit_sent(interval.export_limit_w, ramp_s)}): "
            "PCC export",
        )
    procedure.evidence(
        f"Variable envelope: {', '.join(f'{w:.0f}' for w in r.export_limits_w)} W",
        t_step_s=float(t0_s),
        end_s=end_s,
        windows=[response_window(t0_s, r.response_window_s, ramp_s)],
    )
