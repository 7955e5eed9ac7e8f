"""UL 3141 power export limiting (UL 1741 PCS CRD, export limiting): generation up and load down
beyond the export setting.

With the PCS at its declared export setting, the site starts inside it; then
PV goes to its rating, the load drops and the battery asks to discharge, so
that, uncontrolled, the site would export well above the setting. The PCC
export must be back within setting + declared accuracy within the declared
open-loop response time and stay there.
"""

import pytest

from flexbench.core import SiteLimits
from flexbench.lab.declaration import not_applicable
from flexbench.lab.plan import PCC_EXPORT, Conditions, response_window

DECLARATION = "virtual-pcs"


@pytest.mark.requirement("PCS-EXP")
def test_export_limiting(procedure, site, declaration):
    d, p = declaration, procedure.params
    if (why := not_applicable(d, "export-limiting")) is not None:
        pytest.skip(why)
    procedure.step("PCS at its declared export setting; the site inside it", clause="UL 3141 export limiting")
    site.program("unrestricted", SiteLimits(export_limit_w=d.export_limit_w))
    site.set_conditions(Conditions(pv_dc_w=0.5 * d.pv_rated_power_w, load_w=0.5 * d.pv_rated_power_w))
    procedure.wait(p.precondition_s)

    uncontrolled_export_w = d.pv_rated_power_w + d.battery_rated_power_w - p.light_load_w
    assert uncontrolled_export_w > d.export_limit_w + d.export_accuracy_w, "the step cannot exceed the setting"
    t_step_s = procedure.step("PV to its rating, load down, battery discharging: export far past the setting")
    site.set_conditions(
        Conditions(pv_dc_w=d.pv_rated_power_w * 1.05, load_w=p.light_load_w, battery_w=d.battery_rated_power_w)
    )
    procedure.wait(p.hold_s)

    limit_w = d.export_limit_w + d.export_accuracy_w
    procedure.expect_settles(
        "PCS-EXP",
        PCC_EXPORT,
        at_or_below=limit_w,
        within_s=d.open_loop_response_time_s,
        t_step_s=t_step_s,
        label="PCC export: setting + declared accuracy,",
    )
    procedure.expect_at_or_below(
        "PCS-EXP",
        PCC_EXPORT,
        limit=limit_w,
        start_s=t_step_s + d.open_loop_response_time_s,
        end_s=procedure.now(),
        t_cmd_s=t_step_s,
        label="PCC export held at steady state:",
    )
    procedure.evidence(
        f"Export limiting: setting {d.export_limit_w:.0f} W",
        t_step_s=t_step_s,
        windows=[response_window(t_step_s, d.open_loop_response_time_s)],
    )
