"""Example plan: a PCS holds its export setting when PV steps up to its rating.

The procedure (steps numbered as this example's own "standard", clause EX 1-3):

1. Grid at nominal; PCS export setting at `export_setting_w`; PV at half its
   rating and a load: the site is inside the setting.
2. PV steps up to its rating and the load drops: uncontrolled, the site would
   export far above the setting.
3. EX-1: the PCC export is back at or below setting + accuracy within the
   response time, and stays there to the end of the observation.
"""

import pytest

from flexbench.core import SiteLimits
from flexbench.lab.plan import PCC_EXPORT, Conditions, Plan, RequirementParams, Site, SiteParams, response_window


class ExportStep(SiteParams):
    """[plans.export_step]: the procedure's numbers (grid, PV curve and precondition_s come with SiteParams)."""

    export_setting_w: float
    pv_rated_w: float
    light_load_w: float
    hold_s: float


class ExportHeld(RequirementParams):
    """[requirements.EX-1]: title, criterion and source, and the numbers of the check."""

    response_time_s: float
    accuracy_w: float


PLAN = Plan("export_step", ExportStep, profile="example", requirements={"EX-1": ExportHeld})


@pytest.fixture(scope="module")
def site(bench, recorder, clock, parameters) -> Site:
    return Site(bench, recorder, clock, parameters.plan, phases=3)


@pytest.mark.requirement("EX-1")
def test_export_setting_held_through_a_pv_step(procedure, site):
    p, ex1 = procedure.params, procedure.requirement("EX-1")

    procedure.step("grid at nominal, export setting programmed, the site inside it", clause="EX 1")
    site.energize()
    site.program("unrestricted", SiteLimits(export_limit_w=p.export_setting_w))
    site.set_conditions(Conditions(pv_dc_w=0.5 * p.pv_rated_w, load_w=0.4 * p.pv_rated_w))
    procedure.wait(p.precondition_s)

    t_step_s = procedure.step("PV up to its rating, the load drops", clause="EX 2")
    site.set_conditions(Conditions(pv_dc_w=p.pv_rated_w, load_w=p.light_load_w))
    procedure.wait(p.hold_s)

    procedure.step("judge the PCC export", clause="EX 3")
    limit_w = p.export_setting_w + ex1.accuracy_w
    procedure.expect_settles(
        "EX-1", PCC_EXPORT, at_or_below=limit_w, within_s=ex1.response_time_s, t_step_s=t_step_s, label="PCC export,"
    )
    procedure.expect_at_or_below(
        "EX-1",
        PCC_EXPORT,
        limit=limit_w,
        start_s=t_step_s + ex1.response_time_s,
        end_s=procedure.now(),
        t_cmd_s=t_step_s,
        label="PCC export held:",
    )
    procedure.evidence(
        "Export setting through a PV step", t_step_s=t_step_s, windows=[response_window(t_step_s, ex1.response_time_s)]
    )
