"""CSIP loss of communication (and the ruling's firm limits): the cached schedule is kept, then the
default (firm) limits apply.

The server sets DefaultDERControl to the firm export limit, with the default
ramp rate (setGradW) the profile names, and publishes a two-interval export
schedule; once the first interval runs, the server goes away until after the
schedule. The DUT must still apply the second interval (from its cache), then,
with no event left, its default limit: judged once a DUT ramping at the sent
rate from the second interval's limit gets there.
"""

import pytest

from flexbench.core import Interval, SiteLimits
from flexbench.lab.plan import PCC_EXPORT, limit_sent, response_window

INTERVAL_S = 40


@pytest.mark.requirement("CSIP-LOSS")
def test_cached_schedule_then_default_limits(procedure, site, headend):
    p, r = procedure.params, procedure.requirement("CSIP-LOSS")
    accuracy_w, window_s = r.accuracy_w(p.site_rating_w), r.soft_limit_window_s
    firm = SiteLimits(export_limit_w=p.default_export_limit_w)
    first, second = (
        SiteLimits(export_limit_w=p.export_limit_w),
        SiteLimits(export_limit_w=0.6 * p.default_export_limit_w),
    )

    ramp_s = r.ramp_s(firm.export_limit_w - second.export_limit_w, p.site_rating_w)
    procedure.step(
        f"DefaultDERControl: export limit {firm.export_limit_w:.0f} W (firm), ramp "
        f"{r.default_ramp_pct_per_s * 60:.2f} %/min of {p.site_rating_w:.0f} W (setGradW): "
        f"{ramp_s:.0f} s from the cached limit",
        clause="CSIP loss of comms",
    )
    headend.default_control(firm, ramp_pct_per_s=r.default_ramp_pct_per_s)
    site.stress("export")
    procedure.wait(p.precondition_s)

    t0_s = round(procedure.now() + p.start_delay_s)
    control_ramp_s = p.control_ramp_s
    procedure.step(
        f"a two-interval export schedule: {limit_sent(first.export_limit_w, control_ramp_s)}, "
        f"then {limit_sent(second.export_limit_w, control_ramp_s)}",
        start_s=t0_s,
    )
    headend.schedule(
        [
            Interval(start_s=t0_s, duration_s=INTERVAL_S, limits=first),
            Interval(start_s=t0_s + INTERVAL_S, duration_s=INTERVAL_S, limits=second),
        ],
        ramp_s=control_ramp_s,
    )
    procedure.wait_until(response_window(t0_s, window_s, control_ramp_s).end_s)
    site.show_limit(first)
    procedure.step("the server goes away until after the schedule")
    with headend.outage():
        procedure.wait_until(t0_s + INTERVAL_S)
        site.show_limit(second)
        procedure.wait_until(t0_s + 2 * INTERVAL_S)
        site.show_limit(firm)
        end_s = procedure.wait(window_s + ramp_s + 20)

    procedure.expect_at_or_below(
        "CSIP-LOSS",
        PCC_EXPORT,
        limit=second.export_limit_w + accuracy_w,
        start_s=response_window(t0_s + INTERVAL_S, window_s, control_ramp_s).end_s,
        end_s=t0_s + 2 * INTERVAL_S - p.end_guard_s,
        t_cmd_s=float(t0_s),
        label=f"cached 2nd interval ({limit_sent(second.export_limit_w, control_ramp_s)}): PCC export",
    )
    default_from_s, default_to_s = t0_s + 2 * INTERVAL_S + window_s, end_s - p.end_guard_s
    reached_s = default_from_s + ramp_s  # a DUT ramping at the sent setGradW is at its default from here
    procedure.expect_at_or_below(
        "CSIP-LOSS",
        PCC_EXPORT,
        limit=firm.export_limit_w + accuracy_w,
        start_s=default_from_s,
        end_s=default_to_s,
        t_cmd_s=float(t0_s),
        label="after the schedule, default limit: PCC export",
    )
    t, export_w = procedure.series(PCC_EXPORT, end_s=end_s)
    in_default = export_w[(t >= reached_s) & (t <= default_to_s)]
    lowest_w = float(in_default.min()) if in_default.size else float("nan")
    floor_w = firm.export_limit_w - r.default_band_w
    procedure.expect(
        "CSIP-LOSS",
        criterion=f"after the schedule the default limit applies: export within {r.default_band_w:.0f} W "
        f"of {firm.export_limit_w:.0f} W, from {ramp_s:.0f} s of ramp at the sent setGradW on",
        passed=bool(in_default.size) and lowest_w >= floor_w,
        message=f"lowest export {lowest_w:.0f} W after the schedule ended",
        measured=lowest_w,
        limit=floor_w,
        unit="W",
        margin=lowest_w - floor_w if in_default.size else None,
    )
    procedure.evidence(
        "Loss of communication: cached schedule, then default",
        t_step_s=float(t0_s),
        end_s=end_s,
        windows=[response_window(t0_s, window_s, control_ramp_s)],
    )
