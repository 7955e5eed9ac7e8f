"""UL 3141 limit changed while running: a lower export setting obeyed within the response time.

The site exports at the declared export setting; the setting is then lowered
(to a fraction from the profile) without changing conditions. The PCC export
must be within the new setting + declared accuracy within the declared
open-loop response time, and stay there.
"""

import pytest

from flexbench.lab import evaluate

PROFILE = "ul3141"
DECLARATION = "virtual-pcs"


@pytest.mark.requirement("PCS-CHG")
def test_export_setting_lowered_while_running(site, declaration, verdicts, clock):
    d = declaration
    site.program("unrestricted", export_limit_w=d.export_limit_w)
    site.conditions(pv_dc_w=d.pv_rated_power_w * 1.05, load_w=site.plan.number("light_load_w"))
    start_s = site.settle()

    new_limit_w = site.plan.number("changed_export_fraction") * d.export_limit_w
    t_step_s = clock.now()
    site.program("unrestricted", export_limit_w=new_limit_w)
    step = site.hold(start_s, t_step_s)

    t, export_w = site.series("pcc.p_w", step, scale=-1.0)
    limit_w = new_limit_w + d.export_accuracy_w
    site.check(
        verdicts,
        evaluate.settles_within(
            "PCS-CHG",
            t,
            export_w,
            t_step_s=t_step_s,
            end_s=step.end_s,
            limit=limit_w,
            max_time_s=d.open_loop_response_time_s,
            label="PCC export: new setting + declared accuracy,",
        ),
    )
    site.check(
        verdicts,
        evaluate.stays_at_or_below(
            "PCS-CHG",
            t,
            export_w,
            start_s=t_step_s + d.open_loop_response_time_s,
            end_s=step.end_s,
            limit=limit_w,
            t_cmd_s=t_step_s,
            label="PCC export held at steady state:",
        ),
    )
    site.evidence(verdicts, step, f"Export setting lowered from {d.export_limit_w:.0f} W to {new_limit_w:.0f} W")
