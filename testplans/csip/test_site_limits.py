"""CSIP-AUS site limits over IEEE 2030.5: an export limit (GEN-01) and an import limit (LOA-01).

The bench's 2030.5 server publishes one DERControl with opModExpLimW (or
opModImpLimW) to the DUT's EndDevice; conditions would take the site well past
it. After the soft-limit window (AS/NZS 4777.2) the PCC must be at or below
the limit plus meter accuracy (the lower of 4 % of the site rating or 100 W)
until the control ends; the DUT must post Responses 1, 2 and 3 for the
control (CSIP-RSP).
"""

import pytest

from flexbench.core import SiteLimits
from flexbench.lab.plan import limit_sent, pcc, response_window


def limit_obeyed(procedure, site, headend, requirement_id: str, side: str) -> None:
    p, r = procedure.params, procedure.requirement(requirement_id)
    limit_w = p.export_limit_w if side == "export" else p.import_limit_w
    limits = SiteLimits(**{f"{side}_limit_w": limit_w})

    procedure.step(f"conditions that take the site far past a {side} limit", clause="CSIP-AUS " + requirement_id)
    site.stress(side)
    procedure.wait(p.precondition_s)

    start_s = round(procedure.now() + p.start_delay_s)
    sent = f"{side} {limit_sent(limit_w, p.control_ramp_s)}"
    window = response_window(start_s, r.soft_limit_window_s, p.control_ramp_s)
    procedure.step(f"the server publishes a DERControl: {sent}", start_s=start_s)
    mrid = headend.control(limits, start_s=start_s, duration_s=p.control_duration_s, ramp_s=p.control_ramp_s)
    procedure.wait_until(start_s)
    site.show_limit(limits)
    end_s = procedure.wait(p.control_duration_s)
    site.show_limit(None)
    procedure.wait(2 * headend.poll_rate_s)  # the completed Response follows the event's end

    what = f"PCC {side}"
    procedure.expect_at_or_below(
        requirement_id,
        pcc(side),
        limit=limit_w + r.accuracy_w(p.site_rating_w),
        start_s=window.end_s,
        end_s=start_s + p.control_duration_s - p.end_guard_s,
        t_cmd_s=start_s,
        label=f"{what} ({sent}): limit + meter accuracy after the {window.label},",
    )
    procedure.expect_responses(
        "CSIP-RSP",
        subject=mrid,
        got=headend.responses(mrid),
        expected=procedure.requirement("CSIP-RSP").statuses,
    )
    procedure.evidence(
        f"{requirement_id}: {sent} via 2030.5",
        t_step_s=start_s,
        end_s=end_s,
        windows=[window],
    )


@pytest.mark.requirement("CSIP-GEN-01", "CSIP-RSP")
def test_export_limit(procedure, site, headend):
    limit_obeyed(procedure, site, headend, "CSIP-GEN-01", "export")


@pytest.mark.requirement("CSIP-LOA-01", "CSIP-RSP")
def test_import_limit(procedure, site, headend):
    limit_obeyed(procedure, site, headend, "CSIP-LOA-01", "import")
