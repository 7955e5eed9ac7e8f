"""CSIP-AUS site limits over IEEE 2030.5: an export limit (GEN-01) and an import limit (LOA-01).

The bench's 2030.5 server publishes one DERControl with opModExpLimW (or
opModImpLimW) to the DUT's EndDevice; conditions would take the site well past
it. After the soft-limit window the PCC must be at or below the limit plus
meter accuracy (the lower of 4 % of the site rating or 100 W) until the control
ends; the DUT must post Responses 1, 2 and 3 for the control (CSIP-RSP).
"""

import pytest

PROFILE = "csip-aus"


def _limit_step(site, verdicts, clock, requirement_id: str, *, export: bool) -> None:
    plan = site.plan
    r = site.requirements.requirement(requirement_id)
    side = "export" if export else "import"
    limit_w = plan.number(f"{side}_limit_w")
    site.stress(side)  # conditions that take the site far past the limit
    start_s = site.settle()
    t_pub_s = clock.now()
    start = round(t_pub_s + plan.number("start_delay_s"))
    duration_s = plan.number("control_duration_s")
    values = {"export_limit_w": limit_w} if export else {"import_limit_w": limit_w}
    mrid = site.headend.publish_control(site.lfdi, start, int(duration_s), values)["mrid"]
    clock.sleep_until(start)
    site.record_limit(**values)
    step = site.hold(start_s, float(start), hold_s=duration_s)
    site.record_limit()
    clock.sleep(2 * site.csip.config.poll_rate_s)  # the completed Response follows the event's end
    what = "PCC export" if export else "PCC import"
    site.held(
        verdicts,
        requirement_id,
        step,
        start_s=start + r.number("soft_limit_window_s"),
        end_s=start + duration_s - plan.number("end_guard_s"),
        limit_w=limit_w + site.accuracy_w(requirement_id),
        export=export,
        label=f"{what}: limit + meter accuracy after the soft-limit window,",
    )
    verdicts.check(site.response_check(mrid))
    site.response_time_s = r.number("soft_limit_window_s")
    site.evidence(
        verdicts, step, f"{requirement_id}: {'export' if export else 'import'} limit {limit_w:.0f} W via 2030.5"
    )


@pytest.mark.requirement("CSIP-GEN-01", "CSIP-RSP")
def test_export_limit(site, verdicts, clock):
    _limit_step(site, verdicts, clock, "CSIP-GEN-01", export=True)


@pytest.mark.requirement("CSIP-LOA-01", "CSIP-RSP")
def test_import_limit(site, verdicts, clock):
    _limit_step(site, verdicts, clock, "CSIP-LOA-01", export=False)
