"""A site import limit over 2030.5 (opModImpLimW) on a controller site, where the battery is the only lever.

A heavy load and little PV make the site import well above the limit; the
utility publishes an import limit the battery can meet. After the soft-limit
window the PCC import must be at or below the limit + accuracy until the
control ends. (The CSIP plan's CSIP-LOA-01 steps an EV charger a controller
site does not have.)
"""

import pytest

PROFILE = "controller"


@pytest.mark.requirement("CTL-IMP")
def test_import_limit_held_with_the_battery(site, csip, verdicts, clock):
    plan = site.plan
    r = site.requirements.requirement("CTL-IMP")
    window_s = r.number("soft_limit_window_s")
    limit_w = plan.number("import_limit_w")
    duration = int(plan.number("control_duration_s"))
    lfdi = csip.lfdis[site.bench.config.controller.csip_device]
    site.conditions(pv_dc_w=plan.number("import_pv_dc_w"), load_w=plan.number("import_load_w"))
    start_s = site.settle()
    t0 = round(clock.now() + plan.number("start_delay_s"))
    csip.headend.publish_control(lfdi, t0, duration, {"import_limit_w": limit_w})
    clock.sleep_until(t0)
    site.record_limit(import_limit_w=limit_w)
    clock.sleep_until(t0 + duration)
    site.record_limit()
    step = site.hold(start_s, float(t0), hold_s=0)
    site.held(
        verdicts,
        "CTL-IMP",
        step,
        start_s=t0 + window_s,
        end_s=t0 + duration - plan.number("end_guard_s"),
        limit_w=limit_w + r.number("accuracy_w"),
        export=False,
        label="PCC import: limit + accuracy after the soft-limit window,",
    )
    site.conditions(pv_dc_w=plan.number("pv_dc_w"), load_w=plan.number("light_load_w"))
    site.response_time_s = window_s
    site.evidence(verdicts, step, f"Import limit {limit_w:.0f} W via 2030.5, held by the battery")
