"""IEEE 2030.5 event rules: supersede (same program, overlapping, same elements), cancel, and primacy.

- A running control A is superseded by B (a lower export limit over the rest
  of A's period): the DUT applies B within the soft-limit window and posts
  Response 7 (superseded) for A.
- A running control is cancelled: the DUT posts Response 6 and releases the limit.
- Two programs at once: the lower primacy number (abnormal over envelope) wins.
"""

import pytest

from flexbench.core import SiteLimits
from flexbench.lab.plan import PCC_EXPORT, limit_sent, response_window


@pytest.mark.requirement("CSIP-SUP")
def test_newer_control_supersedes_older(procedure, site, headend):
    p, r = procedure.params, procedure.requirement("CSIP-SUP")
    a, b = SiteLimits(export_limit_w=p.default_export_limit_w), SiteLimits(export_limit_w=p.export_limit_w)
    duration_s = int(p.control_duration_s)
    procedure.step("conditions that take the site far past both limits", clause="2030.5 event rules: supersede")
    site.stress("export")
    procedure.wait(p.precondition_s)

    t0_s = round(procedure.now() + p.start_delay_s)
    ramp_s = p.control_ramp_s
    procedure.step(f"control A: export {limit_sent(a.export_limit_w, ramp_s)}", start_s=t0_s)
    mrid_a = headend.control(a, start_s=t0_s, duration_s=duration_s, ramp_s=ramp_s)
    procedure.wait_until(response_window(t0_s, r.soft_limit_window_s, ramp_s).end_s)
    site.show_limit(a)
    t_sup_s = round(procedure.now())
    window = response_window(t_sup_s, r.soft_limit_window_s, ramp_s)
    procedure.step(f"control B supersedes A for the rest of its period: {limit_sent(b.export_limit_w, ramp_s)}")
    headend.control(b, start_s=t_sup_s, duration_s=t0_s + duration_s - t_sup_s, ramp_s=ramp_s)
    site.show_limit(b)
    procedure.wait_until(t0_s + duration_s)
    end_s = procedure.wait(2 * headend.poll_rate_s)
    site.show_limit(None)

    procedure.expect_at_or_below(
        "CSIP-SUP",
        PCC_EXPORT,
        limit=b.export_limit_w + r.accuracy_w(p.site_rating_w),
        start_s=window.end_s,
        end_s=t0_s + duration_s - p.end_guard_s,
        t_cmd_s=float(t_sup_s),
        label=f"the superseding control ({limit_sent(b.export_limit_w, ramp_s)}): PCC export",
    )
    procedure.expect_response(
        "CSIP-SUP", subject="the older control", got=headend.responses(mrid_a), status=7, what="superseded"
    )
    procedure.evidence(
        f"Supersede: {a.export_limit_w:.0f} W replaced by {b.export_limit_w:.0f} W",
        t_step_s=float(t_sup_s),
        end_s=end_s,
        windows=[window],
    )


@pytest.mark.requirement("CSIP-SUP")
def test_cancelled_control_is_released_with_response_6(procedure, site, headend):
    p, r = procedure.params, procedure.requirement("CSIP-SUP")
    limits = SiteLimits(export_limit_w=p.export_limit_w)
    procedure.step("conditions that take the site far past the limit", clause="2030.5 event rules: cancel")
    site.stress("export")
    procedure.wait(p.precondition_s)

    t0_s = round(procedure.now() + p.start_delay_s)
    procedure.step(f"a control: export {limit_sent(p.export_limit_w, p.control_ramp_s)}", start_s=t0_s)
    mrid = headend.control(limits, start_s=t0_s, duration_s=int(p.control_duration_s), ramp_s=p.control_ramp_s)
    procedure.wait_until(response_window(t0_s, r.soft_limit_window_s, p.control_ramp_s).end_s)
    site.show_limit(limits)
    t_cancel_s = procedure.step("the operator cancels the control")
    headend.cancel(mrid)
    site.show_limit(None)
    procedure.wait(r.soft_limit_window_s + 2 * headend.poll_rate_s)

    t, export_w = procedure.series(PCC_EXPORT, end_s=procedure.now())
    after = export_w[t >= t_cancel_s + r.soft_limit_window_s]
    released = bool(after.size) and float(after.min()) > p.export_limit_w + r.accuracy_w(p.site_rating_w)
    statuses = headend.responses(mrid)
    procedure.expect(
        "CSIP-SUP",
        criterion="a cancelled control: Response 6 posted and the limit released",
        passed=6 in statuses and released,
        message=f"Responses {statuses or 'none'}; export after the cancel "
        f"{'above' if released else 'still at or below'} the cancelled limit",
    )
    procedure.evidence(
        f"Cancel: {p.export_limit_w:.0f} W control cancelled",
        t_step_s=t_cancel_s,
        windows=[response_window(t_cancel_s, r.soft_limit_window_s)],
    )


@pytest.mark.requirement("CSIP-SUP")
def test_lower_primacy_number_wins_across_programs(procedure, site, headend):
    p, r = procedure.params, procedure.requirement("CSIP-SUP")
    low, high = SiteLimits(export_limit_w=p.export_limit_w), SiteLimits(export_limit_w=p.default_export_limit_w)
    duration_s = int(p.control_duration_s)
    procedure.step("conditions that take the site far past both limits", clause="2030.5 event rules: primacy")
    site.stress("export")
    procedure.wait(p.precondition_s)

    t0_s = round(procedure.now() + p.start_delay_s)
    ramp_s = p.control_ramp_s
    window = response_window(t0_s, r.soft_limit_window_s, ramp_s)
    procedure.step(
        f"two controls at once: {limit_sent(high.export_limit_w, ramp_s)} (envelope program), "
        f"{limit_sent(low.export_limit_w, ramp_s)} (abnormal program, lower primacy number)",
        start_s=t0_s,
    )
    headend.control(high, start_s=t0_s, duration_s=duration_s, program="envelope", ramp_s=ramp_s)
    headend.control(low, start_s=t0_s, duration_s=duration_s, program="abnormal", ramp_s=ramp_s)
    site.show_limit(low)
    end_s = procedure.wait_until(t0_s + duration_s)
    site.show_limit(None)

    procedure.expect_at_or_below(
        "CSIP-SUP",
        PCC_EXPORT,
        limit=low.export_limit_w + r.accuracy_w(p.site_rating_w),
        start_s=window.end_s,
        end_s=t0_s + duration_s - p.end_guard_s,
        t_cmd_s=float(t0_s),
        label=f"primacy 1 program ({limit_sent(low.export_limit_w, ramp_s)}) over primacy 2: PCC export",
    )
    procedure.evidence(
        f"Primacy: {low.export_limit_w:.0f} W (abnormal program) over {high.export_limit_w:.0f} W (envelope)",
        t_step_s=float(t0_s),
        end_s=end_s,
        windows=[window],
    )
