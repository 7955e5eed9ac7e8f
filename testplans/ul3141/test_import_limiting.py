"""UL 3141 power import limiting: load up and the battery charging beyond the import setting.

The site starts inside the declared import setting; then the load rises, the
EV asks for its rating and the battery asks to charge at its rating, so that,
uncontrolled, the site would import well above the setting. The PCC import
must be back within setting + declared accuracy within the declared open-loop
response time and stay there.
"""

import pytest

from flexbench.lab import evaluate
from flexbench.lab.declaration import not_applicable

PROFILE = "ul3141"
DECLARATION = "virtual-pcs"


@pytest.mark.requirement("PCS-IMP")
def test_import_limiting(site, declaration, verdicts, clock):
    d = declaration
    if (why := not_applicable(d, "import-limiting")) is not None:
        pytest.skip(why)
    site.program("unrestricted", import_limit_w=d.import_limit_w)
    pv_dc_w = 0.1 * d.pv_rated_power_w
    site.conditions(pv_dc_w=pv_dc_w, load_w=0.5 * d.import_limit_w)
    start_s = site.settle()

    load_w = d.import_limit_w + 0.1 * d.pv_rated_power_w  # PV still covers the part above the setting
    uncontrolled_import_w = load_w + d.ev_rated_power_w + d.battery_rated_power_w - pv_dc_w
    assert uncontrolled_import_w > d.import_limit_w + d.import_accuracy_w, "the step cannot exceed the setting"
    t_step_s = clock.now()
    site.conditions(pv_dc_w=pv_dc_w, load_w=load_w, ev_w=d.ev_rated_power_w, battery_w=-d.battery_rated_power_w)
    step = site.hold(start_s, t_step_s)

    t, import_w = site.series("pcc.p_w", step)
    limit_w = d.import_limit_w + d.import_accuracy_w
    site.check(
        verdicts,
        evaluate.settles_within(
            "PCS-IMP",
            t,
            import_w,
            t_step_s=t_step_s,
            end_s=step.end_s,
            limit=limit_w,
            max_time_s=d.open_loop_response_time_s,
            label="PCC import: setting + declared accuracy,",
        ),
    )
    site.check(
        verdicts,
        evaluate.stays_at_or_below(
            "PCS-IMP",
            t,
            import_w,
            start_s=t_step_s + d.open_loop_response_time_s,
            end_s=step.end_s,
            limit=limit_w,
            t_cmd_s=t_step_s,
            label="PCC import held at steady state:",
        ),
    )
    site.evidence(verdicts, step, f"Import limiting: setting {d.import_limit_w:.0f} W")
