"""UL 3141 loss of the PCS's sensor (fail-safe on loss of measurement): the PCS goes to its fail-safe state.

The site exports at the declared export setting; the PCS's own PCC sensor is
then lost (the virtual lab disconnects it; on a real bench the operator is
asked to). Within the declared fail-safe time the PCC export must fall to the
fail-safe export (profile) + declared accuracy, and the PCS must report its
fail-safe state.
"""

import pytest

from flexbench.core import SiteLimits
from flexbench.lab.plan import PCC_EXPORT, Conditions, response_window

DECLARATION = "virtual-pcs"


@pytest.mark.requirement("PCS-FS")
def test_sensor_loss_leads_to_fail_safe(procedure, bench, site, declaration):
    d, p, fs = declaration, procedure.params, procedure.requirement("PCS-FS")
    procedure.step("PCS at its declared export setting; the site exporting", clause="UL 3141 fail-safe")
    site.program("unrestricted", SiteLimits(export_limit_w=d.export_limit_w))
    site.set_conditions(Conditions(pv_dc_w=d.pv_rated_power_w * 1.05, load_w=0.2 * d.pv_rated_power_w))
    procedure.wait(p.precondition_s)
    try:
        t_step_s = procedure.step("the PCS's PCC sensor is lost")
        bench.operator_action("disconnect-pcs-sensor", "Disconnect the PCS's PCC sensor (CT or meter link).")
        procedure.wait(d.fail_safe_time_s)
        reported = site.pcs.status().fail_safe
        end_s = procedure.wait(p.hold_s)
    finally:
        bench.operator_action("reconnect-pcs-sensor", "Reconnect the PCS's PCC sensor.")

    procedure.expect_settles(
        "PCS-FS",
        PCC_EXPORT,
        at_or_below=fs.fail_safe_export_w + d.export_accuracy_w,
        within_s=d.fail_safe_time_s,
        t_step_s=t_step_s,
        end_s=end_s,  # judged while the sensor was lost
        label="PCC export: fail-safe export + declared accuracy,",
    )
    procedure.expect(
        "PCS-FS",
        criterion="the PCS reports its fail-safe state after the declared fail-safe time",
        passed=None if reported is None else bool(reported),
        message="the PCS has no way to report its state to the bench (set up through its own configuration)"
        if reported is None
        else "reports fail-safe"
        if reported
        else f"does not report fail-safe {d.fail_safe_time_s:g} s after the loss",
    )
    procedure.evidence(
        "Loss of the PCS sensor",
        t_step_s=t_step_s,
        end_s=end_s,
        windows=[response_window(t_step_s, d.open_loop_response_time_s)],
    )
