"""UL 3141 limit changed while running: a lower export setting obeyed within the response time.

The site exports at the declared export setting; the setting is then lowered
(to a fraction from the profile) without changing conditions. The PCC export
must be within the new setting + declared accuracy within the declared
open-loop response time, and stay there.
"""

import pytest

from flexbench.core import SiteLimits
from flexbench.lab.plan import PCC_EXPORT, Conditions, response_window

DECLARATION = "virtual-pcs"


@pytest.mark.requirement("PCS-CHG")
def test_export_setting_lowered_while_running(procedure, site, declaration):
    d, p = declaration, procedure.params
    procedure.step("PCS at its declared export setting; the site exporting at it", clause="UL 3141 setting change")
    site.program("unrestricted", SiteLimits(export_limit_w=d.export_limit_w))
    site.set_conditions(Conditions(pv_dc_w=d.pv_rated_power_w * 1.05, load_w=p.light_load_w))
    procedure.wait(p.precondition_s)

    new_limit_w = p.changed_export_fraction * d.export_limit_w
    t_step_s = procedure.step(f"export setting lowered to {new_limit_w:.0f} W, conditions unchanged")
    site.program("unrestricted", SiteLimits(export_limit_w=new_limit_w))
    procedure.wait(p.hold_s)

    limit_w = new_limit_w + d.export_accuracy_w
    procedure.expect_settles(
        "PCS-CHG",
        PCC_EXPORT,
        at_or_below=limit_w,
        within_s=d.open_loop_response_time_s,
        t_step_s=t_step_s,
        label="PCC export: new setting + declared accuracy,",
    )
    procedure.expect_at_or_below(
        "PCS-CHG",
        PCC_EXPORT,
        limit=limit_w,
        start_s=t_step_s + d.open_loop_response_time_s,
        end_s=procedure.now(),
        t_cmd_s=t_step_s,
        label="PCC export held at steady state:",
    )
    procedure.evidence(
        f"Export setting lowered from {d.export_limit_w:.0f} W to {new_limit_w:.0f} W",
        t_step_s=t_step_s,
        windows=[response_window(t_step_s, d.open_loop_response_time_s)],
    )
