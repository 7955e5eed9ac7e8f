"""UL 3141 power import limiting (UL 1741 PCS CRD, import limiting): load up and the battery charging
beyond the import setting.

The site starts inside the declared import setting; then the load rises, the
EV asks for its rating and the battery asks to charge at its rating, so that,
uncontrolled, the site would import well above the setting. The PCC import
must be back within setting + declared accuracy within the declared open-loop
response time and stay there.
"""

import pytest

from flexbench.core import SiteLimits
from flexbench.lab.declaration import not_applicable
from flexbench.lab.plan import PCC_IMPORT, Conditions, response_window

DECLARATION = "virtual-pcs"


@pytest.mark.requirement("PCS-IMP")
def test_import_limiting(procedure, site, declaration):
    d, p = declaration, procedure.params
    if (why := not_applicable(d, "import-limiting")) is not None:
        pytest.skip(why)
    procedure.step("PCS at its declared import setting; the site inside it", clause="UL 3141 import limiting")
    site.program("unrestricted", SiteLimits(import_limit_w=d.import_limit_w))
    pv_dc_w = 0.1 * d.pv_rated_power_w
    site.set_conditions(Conditions(pv_dc_w=pv_dc_w, load_w=0.5 * d.import_limit_w))
    procedure.wait(p.precondition_s)

    load_w = d.import_limit_w + 0.1 * d.pv_rated_power_w  # PV still covers the part above the setting
    uncontrolled_import_w = load_w + d.ev_rated_power_w + d.battery_rated_power_w - pv_dc_w
    assert uncontrolled_import_w > d.import_limit_w + d.import_accuracy_w, "the step cannot exceed the setting"
    t_step_s = procedure.step("load up, EV at its rating, battery charging: import far past the setting")
    site.set_conditions(
        Conditions(pv_dc_w=pv_dc_w, load_w=load_w, ev_w=d.ev_rated_power_w, battery_w=-d.battery_rated_power_w)
    )
    procedure.wait(p.hold_s)

    limit_w = d.import_limit_w + d.import_accuracy_w
    procedure.expect_settles(
        "PCS-IMP",
        PCC_IMPORT,
        at_or_below=limit_w,
        within_s=d.open_loop_response_time_s,
        t_step_s=t_step_s,
        label="PCC import: setting + declared accuracy,",
    )
    procedure.expect_at_or_below(
        "PCS-IMP",
        PCC_IMPORT,
        limit=limit_w,
        start_s=t_step_s + d.open_loop_response_time_s,
        end_s=procedure.now(),
        t_cmd_s=t_step_s,
        label="PCC import held at steady state:",
    )
    procedure.evidence(
        f"Import limiting: setting {d.import_limit_w:.0f} W",
        t_step_s=t_step_s,
        windows=[response_window(t_step_s, d.open_loop_response_time_s)],
    )
