"""UL 3141 loss of the PCS's sensor: the PCS goes to its fail-safe state.

The site exports at the declared export setting; the PCS's own PCC sensor is
then lost (the virtual lab disconnects it; on a real bench the operator is
asked to). Within the declared fail-safe time the PCC export must fall to the
fail-safe export (profile) + declared accuracy, and the PCS must report its
fail-safe state.
"""

import pytest

from flexbench.lab import evaluate

PROFILE = "ul3141"
DECLARATION = "virtual-pcs"


@pytest.mark.requirement("PCS-FS")
def test_sensor_loss_leads_to_fail_safe(bench, site, declaration, requirements, verdicts, clock):
    d = declaration
    fail_safe_export_w = requirements.requirement("PCS-FS").number("fail_safe_export_w")
    site.program("unrestricted", export_limit_w=d.export_limit_w)
    site.conditions(pv_dc_w=d.pv_rated_power_w * 1.05, load_w=0.2 * d.pv_rated_power_w)
    start_s = site.settle()
    try:
        t_step_s = clock.now()
        bench.operator_action("disconnect-pcs-sensor", "Disconnect the PCS's PCC sensor (CT or meter link).")
        clock.sleep(d.fail_safe_time_s)
        reported = site.pcs.status().fail_safe
        step = site.hold(start_s, t_step_s)
    finally:
        bench.operator_action("reconnect-pcs-sensor", "Reconnect the PCS's PCC sensor.")

    t, export_w = site.series("pcc.p_w", step, scale=-1.0)
    limit_w = fail_safe_export_w + d.export_accuracy_w
    site.check(
        verdicts,
        evaluate.settles_within(
            "PCS-FS",
            t,
            export_w,
            t_step_s=t_step_s,
            end_s=step.end_s,
            limit=limit_w,
            max_time_s=d.fail_safe_time_s,
            label="PCC export: fail-safe export + declared accuracy,",
        ),
    )
    site.check(
        verdicts,
        evaluate.Result(
            requirement_id="PCS-FS",
            criterion="the PCS reports its fail-safe state after the declared fail-safe time",
            measured=None,
            limit=None,
            unit="",
            margin=None,
            verdict=evaluate.PASS if reported else evaluate.FAIL,
            message="reports fail-safe"
            if reported
            else f"does not report fail-safe {d.fail_safe_time_s:g} s after the loss",
        ),
    )
    site.evidence(verdicts, step, "Loss of the PCS sensor")
