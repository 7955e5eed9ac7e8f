"""The site meter stops answering: the controller goes to its declared fail-safe within its declared time.

The site exports freely (PV at its rating, a light load, no limit). The meter
then stops answering the controller (the analyzer at the PCC keeps measuring
for the bench). Within the declared fail-safe time the PCC export must be at
or below the declared fail-safe export + accuracy, stay there while the meter
is silent, and the controller must report its fail-safe state on its local API.
"""

import pytest

from flexbench.lab.plan import PCC_EXPORT, Conditions, response_window


@pytest.mark.requirement("CTL-METER")
def test_meter_silent_leads_to_fail_safe(procedure, site, faults):
    p, r = procedure.params, procedure.requirement("CTL-METER")

    procedure.step("PV at its rating, a light load, no limit: the site exports freely", clause="UL 3141 fail-safe")
    site.set_conditions(Conditions(pv_dc_w=p.pv_dc_w, load_w=p.light_load_w))
    procedure.wait(p.precondition_s)
    procedure.step("the site meter stops answering the controller")
    with faults.meter_silent(r.fail_safe_time_s) as t_fault_s:
        procedure.wait(r.fail_safe_time_s)
        reported = site.pcs.status().fail_safe
        end_s = procedure.wait(p.hold_s)
    procedure.step("the meter answers again; the controller settles before the next plan")
    site.program("unrestricted")
    procedure.wait(p.precondition_s / 2)

    procedure.expect_settles(
        "CTL-METER",
        PCC_EXPORT,
        at_or_below=r.fail_safe_export_w + r.accuracy_w,
        within_s=r.fail_safe_time_s,
        t_step_s=t_fault_s,
        end_s=end_s,
        label="PCC export: declared fail-safe export + accuracy,",
    )
    procedure.expect(
        "CTL-METER",
        criterion="the controller reports its fail-safe state after the declared time",
        passed=None if reported is None else bool(reported),
        message="the controller has no way to report its state to the bench (set up through its own configuration)"
        if reported is None
        else "reports fail-safe"
        if reported
        else f"does not report fail-safe {r.fail_safe_time_s:g} s after the meter stopped",
    )
    procedure.evidence(
        "Site meter silent: fail-safe",
        t_step_s=t_fault_s,
        end_s=end_s,
        windows=[response_window(t_fault_s, r.fail_safe_time_s)],
    )
