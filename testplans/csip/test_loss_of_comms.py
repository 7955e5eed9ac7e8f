"""CSIP loss of communication: the cached schedule is kept, then the default (firm) limits apply.

The server sets DefaultDERControl to the firm export limit and publishes a
two-interval export schedule; once the first interval runs, the server goes
away until after the schedule. The DUT must still apply the second interval
(from its cache), then, with no event left, its default limit.
"""

import pytest

from flexbench.core import Envelope

PROFILE = "csip-aus"


@pytest.mark.requirement("CSIP-LOSS")
def test_cached_schedule_then_default_limits(site, csip, verdicts, clock):
    plan = site.plan
    r = site.requirements.requirement("CSIP-LOSS")
    window_s = r.number("soft_limit_window_s")
    accuracy_w = site.accuracy_w("CSIP-LOSS")
    guard_s = plan.number("end_guard_s")
    default_w = plan.number("default_export_limit_w")
    first_w, second_w = plan.number("export_limit_w"), 0.6 * default_w
    duration = 40
    site.headend.set_default_control(site.lfdi, export_limit_w=default_w)
    site.stress("export")
    start_s = site.settle()
    t0 = round(clock.now() + plan.number("start_delay_s"))
    site.headend.publish_envelope(
        site.lfdi, Envelope.of([(t0, duration, None, first_w), (t0 + duration, duration, None, second_w)])
    )
    clock.sleep_until(t0 + window_s)
    site.record_limit(export_limit_w=first_w)
    with csip.outage():
        site.recorder.event("server_outage", started=True)
        clock.sleep_until(t0 + duration)
        site.record_limit(export_limit_w=second_w)
        clock.sleep_until(t0 + 2 * duration)
        site.record_limit(export_limit_w=default_w)
        clock.sleep(window_s + 20)
    site.recorder.event("server_outage", started=False)
    step = site.hold(start_s, float(t0), hold_s=0)
    end_default_s = step.end_s
    site.held(
        verdicts,
        "CSIP-LOSS",
        step,
        start_s=t0 + duration + window_s,
        end_s=t0 + 2 * duration - guard_s,
        limit_w=second_w + accuracy_w,
        export=True,
        label="cached 2nd interval: PCC export",
    )
    site.held(
        verdicts,
        "CSIP-LOSS",
        step,
        start_s=t0 + 2 * duration + window_s,
        end_s=end_default_s - guard_s,
        limit_w=default_w + accuracy_w,
        export=True,
        label="after the schedule, default limit: PCC export",
    )
    t, export_w = site.series("pcc.p_w", step, scale=-1.0)
    from flexbench.lab import evaluate

    band_w = r.number("default_band_w")
    mask = (t >= t0 + 2 * duration + window_s) & (t <= end_default_s - guard_s)
    low = float(export_w[mask].min()) if mask.any() else float("nan")
    verdicts.check(
        evaluate.Result(
            requirement_id="CSIP-LOSS",
            criterion=f"after the schedule the default limit applies: export within {band_w:.0f} W of {default_w:.0f} W",
            measured=low,
            limit=default_w - band_w,
            unit="W",
            margin=low - (default_w - band_w) if mask.any() else None,
            verdict=evaluate.PASS if mask.any() and low >= default_w - band_w else evaluate.FAIL,
            message=f"lowest export {low:.0f} W after the schedule ended",
        )
    )
    site.response_time_s = window_s
    site.evidence(verdicts, step, "Loss of communication: cached schedule, then default")
