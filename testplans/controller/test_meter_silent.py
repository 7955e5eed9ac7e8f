"""The site meter stops answering: the controller goes to its declared fail-safe within its declared time.

The site exports freely (PV at its rating, a light load, no limit). The meter
then stops answering the controller (the analyzer at the PCC keeps measuring
for the bench). Within the declared fail-safe time the PCC export must be at
or below the declared fail-safe export + accuracy, stay there while the meter
is silent, and the controller must report its fail-safe state on its local API.
"""

import pytest

from flexbench.lab import evaluate

PROFILE = "controller"


@pytest.mark.requirement("CTL-METER")
def test_meter_silent_leads_to_fail_safe(site, verdicts, clock):
    plan = site.plan
    r = site.requirements.requirement("CTL-METER")
    fail_safe_time_s = r.number("fail_safe_time_s")
    limit_w = r.number("fail_safe_export_w") + r.number("accuracy_w")
    site.conditions(pv_dc_w=plan.number("pv_dc_w"), load_w=plan.number("light_load_w"))
    start_s = site.settle()
    with site.fault(
        "meter-silent", "meter-restore", "Disconnect the site meter's Modbus link from the controller."
    ) as t_fault_s:
        clock.sleep(fail_safe_time_s)
        reported = site.pcs.status().fail_safe
        step = site.hold(start_s, t_fault_s)
    site.recover()
    t, export_w = site.series("pcc.p_w", step, scale=-1.0)
    verdicts.check(
        evaluate.settles_within(
            "CTL-METER",
            t,
            export_w,
            t_step_s=t_fault_s,
            end_s=step.end_s,
            limit=limit_w,
            max_time_s=fail_safe_time_s,
            label="PCC export: declared fail-safe export + accuracy,",
        )
    )
    verdicts.check(
        evaluate.Result(
            requirement_id="CTL-METER",
            criterion="the controller reports its fail-safe state after the declared time",
            measured=None,
            limit=None,
            unit="",
            margin=None,
            verdict=evaluate.PASS if reported else evaluate.FAIL,
            message="reports fail-safe"
            if reported
            else f"does not report fail-safe {fail_safe_time_s:g} s after the meter stopped",
        )
    )
    site.response_time_s = fail_safe_time_s
    site.evidence(verdicts, step, "Site meter silent: fail-safe")
