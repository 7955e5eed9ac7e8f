"""IEEE 2030.5 event rules: a newer control supersedes an older one (same program, overlap, same elements).

Control A (export limit) runs; the operator supersedes it with B (a lower
export limit over the rest of A's period). The DUT must apply B within the
soft-limit window and post Response 7 (superseded) for A.
"""

import pytest

from flexbench.lab import evaluate

PROFILE = "csip-aus"


@pytest.mark.requirement("CSIP-SUP")
def test_newer_control_supersedes_older(site, verdicts, clock):
    plan = site.plan
    r = site.requirements.requirement("CSIP-SUP")
    window_s = r.number("soft_limit_window_s")
    accuracy_w = site.accuracy_w("CSIP-SUP")
    a_w = plan.number("default_export_limit_w")
    b_w = plan.number("export_limit_w")
    duration = int(plan.number("control_duration_s"))
    site.stress("export")
    start_s = site.settle()
    t0 = round(clock.now() + plan.number("start_delay_s"))
    a = site.headend.publish_control(site.lfdi, t0, duration, {"export_limit_w": a_w})["mrid"]
    clock.sleep_until(t0 + window_s)
    site.record_limit(export_limit_w=a_w)
    t_sup = round(clock.now())
    site.headend.publish_control(site.lfdi, t_sup, t0 + duration - t_sup, {"export_limit_w": b_w})
    site.record_limit(export_limit_w=b_w)
    clock.sleep_until(t0 + duration)
    step = site.hold(start_s, float(t_sup), hold_s=2 * site.csip.config.poll_rate_s)
    site.record_limit()
    site.held(
        verdicts,
        "CSIP-SUP",
        step,
        start_s=t_sup + window_s,
        end_s=t0 + duration - plan.number("end_guard_s"),
        limit_w=b_w + accuracy_w,
        export=True,
        label="the superseding control: PCC export",
    )
    statuses = site.responses(a)
    verdicts.check(
        evaluate.Result(
            requirement_id="CSIP-SUP",
            criterion="Response 7 (superseded) posted for the older control",
            measured=None,
            limit=None,
            unit="",
            margin=None,
            verdict=evaluate.PASS if 7 in statuses else evaluate.FAIL,
            message=f"Responses {statuses or 'none'} for the older control",
        )
    )
    site.response_time_s = window_s
    site.evidence(verdicts, step, f"Supersede: {a_w:.0f} W replaced by {b_w:.0f} W")


@pytest.mark.requirement("CSIP-SUP")
def test_cancelled_control_is_released_with_response_6(site, verdicts, clock):
    plan = site.plan
    window_s = site.requirements.requirement("CSIP-SUP").number("soft_limit_window_s")
    limit_w = plan.number("export_limit_w")
    site.stress("export")
    start_s = site.settle()
    t0 = round(clock.now() + plan.number("start_delay_s"))
    mrid = site.headend.publish_control(
        site.lfdi, t0, int(plan.number("control_duration_s")), {"export_limit_w": limit_w}
    )["mrid"]
    clock.sleep_until(t0 + window_s)
    site.record_limit(export_limit_w=limit_w)
    t_cancel = clock.now()
    site.headend.cancel_control(mrid)
    site.record_limit()
    step = site.hold(start_s, t_cancel, hold_s=window_s + 2 * site.csip.config.poll_rate_s)
    t, export_w = site.series("pcc.p_w", step, scale=-1.0)
    after = export_w[t >= t_cancel + window_s]
    released = bool(after.size) and float(after.min()) > limit_w + site.accuracy_w("CSIP-SUP")
    statuses = site.responses(mrid)
    verdicts.check(
        evaluate.Result(
            requirement_id="CSIP-SUP",
            criterion="a cancelled control: Response 6 posted and the limit released",
            measured=None,
            limit=None,
            unit="",
            margin=None,
            verdict=evaluate.PASS if 6 in statuses and released else evaluate.FAIL,
            message=f"Responses {statuses or 'none'}; export after the cancel "
            f"{'above' if released else 'still at or below'} the cancelled limit",
        )
    )
    site.response_time_s = window_s
    site.evidence(verdicts, step, f"Cancel: {limit_w:.0f} W control cancelled")


@pytest.mark.requirement("CSIP-SUP")
def test_lower_primacy_number_wins_across_programs(site, verdicts, clock):
    plan = site.plan
    window_s = site.requirements.requirement("CSIP-SUP").number("soft_limit_window_s")
    low_w, high_w = plan.number("export_limit_w"), plan.number("default_export_limit_w")
    duration = int(plan.number("control_duration_s"))
    site.stress("export")
    start_s = site.settle()
    t0 = round(clock.now() + plan.number("start_delay_s"))
    site.headend.publish_control(site.lfdi, t0, duration, {"export_limit_w": high_w}, program="envelope")
    site.headend.publish_control(site.lfdi, t0, duration, {"export_limit_w": low_w}, program="abnormal")
    site.record_limit(export_limit_w=low_w)
    clock.sleep_until(t0 + duration)
    step = site.hold(start_s, float(t0), hold_s=0)
    site.record_limit()
    site.held(
        verdicts,
        "CSIP-SUP",
        step,
        start_s=t0 + window_s,
        end_s=t0 + duration - plan.number("end_guard_s"),
        limit_w=low_w + site.accuracy_w("CSIP-SUP"),
        export=True,
        label="primacy 1 program over primacy 2: PCC export",
    )
    site.response_time_s = window_s
    site.evidence(verdicts, step, f"Primacy: {low_w:.0f} W (abnormal program) over {high_w:.0f} W (envelope)")
