"""The utility's 2030.5 server fails the controller: a skewed Time resource, an outage.

- Time skewed: the server's clock is off by more than a minute. The
  controller must flag it and, as it declares, keep to its own clock: an
  export control published for true time is obeyed on time.
- Server unreachable for longer than the poll period: the controller keeps
  the cached schedule, and once the schedule has no event left applies the
  firm (DefaultDERControl) limits, each within the declared window.
"""

import pytest

from flexbench.core import SiteLimits
from flexbench.lab.plan import PCC_EXPORT, Conditions, limit_sent, response_window


@pytest.mark.requirement("CTL-TIME")
def test_skewed_time_is_flagged_and_the_schedule_kept_on_time(procedure, site, headend, csip):
    p, r = procedure.params, procedure.requirement("CTL-TIME")
    limit = SiteLimits(export_limit_w=p.export_limit_w)

    procedure.step("PV at its rating, a light load: the site exports freely", clause="IEEE 2030.5 Time")
    site.set_conditions(Conditions(pv_dc_w=p.pv_dc_w, load_w=p.light_load_w))
    procedure.wait(p.precondition_s)
    procedure.step(f"the server's Time resource {r.skew_s:+.0f} s off true time", skew_s=r.skew_s)
    with csip.time_skew(r.skew_s):
        procedure.wait(2 * headend.poll_rate_s)  # the controller reads the skewed Time at its next polls
        t0_s = round(procedure.now() + p.start_delay_s)
        sent = f"export {limit_sent(p.export_limit_w, p.control_ramp_s)}"
        window = response_window(float(t0_s), r.soft_limit_window_s, p.control_ramp_s)
        procedure.step(f"{sent} published for true time", start_s=t0_s)
        headend.control(limit, start_s=t0_s, duration_s=p.control_duration_s, ramp_s=p.control_ramp_s)
        procedure.wait_until(t0_s)
        site.show_limit(limit)
        end_s = procedure.wait_until(t0_s + p.control_duration_s)
        site.show_limit(None)

    procedure.expect_at_or_below(
        "CTL-TIME",
        PCC_EXPORT,
        limit=p.export_limit_w + r.accuracy_w,
        start_s=window.end_s,
        end_s=t0_s + p.control_duration_s - p.end_guard_s,
        t_cmd_s=float(t0_s),
        label=f"server Time {r.skew_s:+.0f} s ({sent}): PCC export",
    )
    procedure.evidence(
        f"2030.5 Time skewed {r.skew_s:+.0f} s: {sent} control",
        t_step_s=float(t0_s),
        end_s=end_s,
        windows=[window],
    )


@pytest.mark.requirement("CTL-COMM")
def test_server_unreachable_cached_schedule_then_firm_limits(procedure, site, headend):
    p, r = procedure.params, procedure.requirement("CTL-COMM")
    window_s, accuracy_w, guard_s = r.soft_limit_window_s, r.accuracy_w, p.end_guard_s
    control, firm = SiteLimits(export_limit_w=p.export_limit_w), SiteLimits(export_limit_w=p.firm_export_limit_w)

    procedure.step(f"DefaultDERControl: export limit {p.firm_export_limit_w:.0f} W (firm)", clause="CSIP loss of comms")
    headend.default_control(firm)
    site.set_conditions(Conditions(pv_dc_w=p.pv_dc_w, load_w=p.light_load_w))
    procedure.wait(p.precondition_s)
    t0_s = round(procedure.now() + p.start_delay_s)
    cached = response_window(float(t0_s), window_s, p.control_ramp_s)
    procedure.step(f"export {limit_sent(p.export_limit_w, p.control_ramp_s)} published", start_s=t0_s)
    headend.control(control, start_s=t0_s, duration_s=p.control_duration_s, ramp_s=p.control_ramp_s)
    procedure.wait_until(cached.end_s)
    site.show_limit(control)
    procedure.step("the server goes away beyond the control's end")
    with headend.outage():
        procedure.wait_until(t0_s + p.control_duration_s)
        site.show_limit(firm)
        end_s = procedure.wait(max(window_s + 10.0, r.outage_poll_periods * headend.poll_rate_s))
    site.show_limit(None)

    procedure.expect_at_or_below(
        "CTL-COMM",
        PCC_EXPORT,
        limit=p.export_limit_w + accuracy_w,
        start_s=cached.end_s,
        end_s=t0_s + p.control_duration_s - guard_s,
        t_cmd_s=float(t0_s),
        label=f"server away, cached control ({limit_sent(p.export_limit_w, p.control_ramp_s)}): PCC export",
    )
    firm_from_s, firm_to_s = t0_s + p.control_duration_s + window_s, end_s - guard_s
    procedure.expect_at_or_below(
        "CTL-COMM",
        PCC_EXPORT,
        limit=p.firm_export_limit_w + accuracy_w,
        start_s=firm_from_s,
        end_s=firm_to_s,
        t_cmd_s=float(t0_s),
        label="server away, schedule over, firm limit: PCC export",
    )
    t, export_w = procedure.series(PCC_EXPORT, end_s=end_s)
    in_firm = export_w[(t >= firm_from_s) & (t <= firm_to_s)]
    low_w = float(in_firm.min()) if in_firm.size else float("nan")
    floor_w = p.firm_export_limit_w - r.default_band_w
    procedure.expect(
        "CTL-COMM",
        criterion=f"once the schedule is over the firm limit applies: export within {r.default_band_w:.0f} W of "
        f"{p.firm_export_limit_w:.0f} W",
        passed=bool(in_firm.size) and low_w >= floor_w,
        message=f"lowest export {low_w:.0f} W after the schedule ended, server still away",
        measured=low_w,
        limit=floor_w,
        unit="W",
        margin=low_w - floor_w if in_firm.size else None,
    )
    headend.default_control(SiteLimits())  # no firm limit left behind for later plans
    procedure.evidence(
        "2030.5 server unreachable: cached control, then firm limit",
        t_step_s=float(t0_s),
        end_s=end_s,
        windows=[cached],
    )
