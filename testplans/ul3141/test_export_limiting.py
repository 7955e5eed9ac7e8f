"""UL 3141 power export limiting: generation up and load down beyond the export setting.

With the PCS at its declared export setting, the site starts inside it; then
PV goes to its rating, the load drops and the battery asks to discharge, so
that, uncontrolled, the site would export well above the setting. The PCC
export must be back within setting + declared accuracy within the declared
open-loop response time and stay there.
"""

import pytest

from flexbench.lab import evaluate
from flexbench.lab.declaration import not_applicable

PROFILE = "ul3141"
DECLARATION = "virtual-pcs"


@pytest.mark.requirement("PCS-EXP")
def test_export_limiting(site, declaration, verdicts, clock):
    d = declaration
    if (why := not_applicable(d, "export-limiting")) is not None:
        pytest.skip(why)
    site.program("unrestricted", export_limit_w=d.export_limit_w)
    site.conditions(pv_dc_w=0.5 * d.pv_rated_power_w, load_w=0.5 * d.pv_rated_power_w)
    start_s = site.settle()

    light_load_w = site.plan.number("light_load_w")
    uncontrolled_export_w = d.pv_rated_power_w + d.battery_rated_power_w - light_load_w
    assert uncontrolled_export_w > d.export_limit_w + d.export_accuracy_w, "the step cannot exceed the setting"
    t_step_s = clock.now()
    site.conditions(pv_dc_w=d.pv_rated_power_w * 1.05, load_w=light_load_w, battery_w=d.battery_rated_power_w)
    step = site.hold(start_s, t_step_s)

    t, export_w = site.series("pcc.p_w", step, scale=-1.0)
    limit_w = d.export_limit_w + d.export_accuracy_w
    site.check(
        verdicts,
        evaluate.settles_within(
            "PCS-EXP",
            t,
            export_w,
            t_step_s=t_step_s,
            end_s=step.end_s,
            limit=limit_w,
            max_time_s=d.open_loop_response_time_s,
            label="PCC export: setting + declared accuracy,",
        ),
    )
    site.check(
        verdicts,
        evaluate.stays_at_or_below(
            "PCS-EXP",
            t,
            export_w,
            start_s=t_step_s + d.open_loop_response_time_s,
            end_s=step.end_s,
            limit=limit_w,
            t_cmd_s=t_step_s,
            label="PCC export held at steady state:",
        ),
    )
    site.evidence(verdicts, step, f"Export limiting: setting {d.export_limit_w:.0f} W")
