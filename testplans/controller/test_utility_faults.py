"""The utility's 2030.5 server fails the controller: a skewed Time resource, an outage.

- Time skewed: the server's clock is off by more than a minute. The
  controller must flag it and, as it declares, keep to its own clock: an
  export control published for true time is obeyed on time.
- Server unreachable for longer than the poll period: the controller keeps
  the cached schedule, and once the schedule has no event left applies the
  firm (DefaultDERControl) limits, each within the declared window.
"""

import pytest

from flexbench.lab import evaluate

PROFILE = "controller"


def _publish_condition(site, clock):
    plan = site.plan
    site.conditions(pv_dc_w=plan.number("pv_dc_w"), load_w=plan.number("light_load_w"))
    return site.settle()


@pytest.mark.requirement("CTL-TIME")
def test_skewed_time_is_flagged_and_the_schedule_kept_on_time(site, csip, verdicts, clock):
    plan = site.plan
    r = site.requirements.requirement("CTL-TIME")
    window_s = r.number("soft_limit_window_s")
    limit_w = plan.number("export_limit_w")
    duration = int(plan.number("control_duration_s"))
    lfdi = csip.lfdis[site.bench.config.controller.csip_device]
    start_s = _publish_condition(site, clock)
    with csip.time_skew(r.number("skew_s")):
        site.recorder.event("server_time_skew", skew_s=r.number("skew_s"))
        clock.sleep(2 * csip.config.poll_rate_s)  # the controller reads the skewed Time at its next polls
        t0 = round(clock.now() + plan.number("start_delay_s"))
        csip.headend.publish_control(lfdi, t0, duration, {"export_limit_w": limit_w})
        clock.sleep_until(t0)
        site.record_limit(export_limit_w=limit_w)
        clock.sleep_until(t0 + duration)
        site.record_limit()
        step = site.hold(start_s, float(t0), hold_s=0)
    site.held(
        verdicts,
        "CTL-TIME",
        step,
        start_s=t0 + window_s,
        end_s=t0 + duration - plan.number("end_guard_s"),
        limit_w=limit_w + r.number("accuracy_w"),
        export=True,
        label=f"server Time {r.number('skew_s'):+.0f} s: PCC export",
    )
    site.response_time_s = window_s
    site.evidence(verdicts, step, f"2030.5 Time skewed {r.number('skew_s'):+.0f} s: {limit_w:.0f} W control")


@pytest.mark.requirement("CTL-COMM")
def test_server_unreachable_cached_schedule_then_firm_limits(site, csip, verdicts, clock):
    plan = site.plan
    r = site.requirements.requirement("CTL-COMM")
    window_s = r.number("soft_limit_window_s")
    accuracy_w = r.number("accuracy_w")
    guard_s = plan.number("end_guard_s")
    limit_w, firm_w = plan.number("export_limit_w"), plan.number("firm_export_limit_w")
    duration = int(plan.number("control_duration_s"))
    lfdi = csip.lfdis[site.bench.config.controller.csip_device]
    csip.headend.set_default_control(lfdi, export_limit_w=firm_w)
    start_s = _publish_condition(site, clock)
    t0 = round(clock.now() + plan.number("start_delay_s"))
    csip.headend.publish_control(lfdi, t0, duration, {"export_limit_w": limit_w})
    clock.sleep_until(t0 + window_s)
    site.record_limit(export_limit_w=limit_w)
    with csip.outage():
        site.recorder.event("server_outage", started=True)
        clock.sleep_until(t0 + duration)
        site.record_limit(export_limit_w=firm_w)
        clock.sleep(max(window_s + 10.0, r.number("outage_poll_periods") * csip.config.poll_rate_s))
    site.recorder.event("server_outage", started=False)
    step = site.hold(start_s, float(t0), hold_s=0)
    end_s = step.end_s
    site.record_limit()
    site.held(
        verdicts,
        "CTL-COMM",
        step,
        start_s=t0 + window_s,
        end_s=t0 + duration - guard_s,
        limit_w=limit_w + accuracy_w,
        export=True,
        label="server away, cached control: PCC export",
    )
    site.held(
        verdicts,
        "CTL-COMM",
        step,
        start_s=t0 + duration + window_s,
        end_s=end_s - guard_s,
        limit_w=firm_w + accuracy_w,
        export=True,
        label="server away, schedule over, firm limit: PCC export",
    )
    t, export_w = site.series("pcc.p_w", step, scale=-1.0)
    band_w = r.number("default_band_w")
    mask = (t >= t0 + duration + window_s) & (t <= end_s - guard_s)
    low = float(export_w[mask].min()) if mask.any() else float("nan")
    verdicts.check(
        evaluate.Result(
            requirement_id="CTL-COMM",
            criterion=f"once the schedule is over the firm limit applies: export within {band_w:.0f} W of {firm_w:.0f} W",
            measured=low,
            limit=firm_w - band_w,
            unit="W",
            margin=low - (firm_w - band_w) if mask.any() else None,
            verdict=evaluate.PASS if mask.any() and low >= firm_w - band_w else evaluate.FAIL,
            message=f"lowest export {low:.0f} W after the schedule ended, server still away",
        )
    )
    csip.headend.set_default_control(lfdi)  # no firm limit left behind for later plans
    site.response_time_s = window_s
    site.evidence(verdicts, step, "2030.5 server unreachable: cached control, then firm limit")
