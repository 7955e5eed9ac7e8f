"""One inverter fails the controller: the others must keep the site within its export limit.

- silent: the inverter stops answering Modbus (it keeps producing at its last
  cap until its own revert timer acts). With the export setting held, the load
  then drops: the controller must curtail the inverters still answering.
- ignores writes: the inverter acknowledges every write and keeps producing
  all it can. The export setting is then applied: the controller must notice
  and hold the site with the other inverters and the battery.
- strict writes: the inverter refuses (exception 2) any block write that covers
  a model's ID/L header or a read-only point, where field inverters ignore
  those registers. The export setting is then applied: a controller that
  writes whole models must either write the points alone or hold the site
  with the others. Each refused write is listed beside the verdict.

The PCC export must be at or below the setting + accuracy within the response
time and stay there.
"""

import pytest

from flexbench.core import SiteLimits
from flexbench.lab.plan import PCC_EXPORT, Conditions, response_window


def expect_held(procedure, requirement_id, *, t_step_s, end_s, limit_w, response_time_s, what):
    """PCC export at or below the setting + accuracy within the response time, and held to the end."""
    procedure.expect_settles(
        requirement_id,
        PCC_EXPORT,
        at_or_below=limit_w,
        within_s=response_time_s,
        t_step_s=t_step_s,
        end_s=end_s,
        label=f"PCC export, {what}: setting + accuracy,",
    )
    procedure.expect_at_or_below(
        requirement_id,
        PCC_EXPORT,
        limit=limit_w,
        start_s=t_step_s + response_time_s,
        end_s=end_s,
        t_cmd_s=t_step_s,
        label=f"PCC export held, {what}:",
    )


@pytest.mark.requirement("CTL-INV")
def test_silent_inverter_the_others_hold_the_limit(procedure, site, faults):
    p, r = procedure.params, procedure.requirement("CTL-INV")
    name = p.silent_inverter

    procedure.step(f"export setting {p.export_limit_w:.0f} W; PV at its rating under a heavy load")
    site.program("unrestricted", SiteLimits(export_limit_w=p.export_limit_w))
    site.set_conditions(Conditions(pv_dc_w=p.pv_dc_w, load_w=p.heavy_load_w))
    procedure.wait(p.precondition_s)
    procedure.step(f"inverter {name} stops answering the controller")
    with faults.inverter_silent(name):
        procedure.wait(p.precondition_s / 2)  # the controller finds out the inverter is gone
        t_step_s = procedure.step("the load drops: the inverters still answering must be curtailed")
        site.set_conditions(Conditions(pv_dc_w=p.pv_dc_w, load_w=p.light_load_w))
        end_s = procedure.wait(p.hold_s)
    procedure.step(f"inverter {name} answers again; the controller settles before the next plan")
    site.program("unrestricted")
    procedure.wait(p.precondition_s / 2)

    expect_held(
        procedure,
        "CTL-INV",
        t_step_s=t_step_s,
        end_s=end_s,
        limit_w=p.export_limit_w + r.accuracy_w,
        response_time_s=r.response_time_s,
        what=f"{name} silent, load dropped",
    )
    procedure.evidence(
        f"Inverter {name} silent: export setting {p.export_limit_w:.0f} W",
        t_step_s=t_step_s,
        end_s=end_s,
        windows=[response_window(t_step_s, r.response_time_s)],
    )


def limit_applied_while_failing(procedure, site, requirement_id, name, fault, failing, restored):
    """PV at its rating, a light load; inverter `name` failing (`fault`) as the export setting is applied."""
    p, r = procedure.params, procedure.requirement(requirement_id)
    procedure.step("PV at its rating, a light load, no limit")
    site.set_conditions(Conditions(pv_dc_w=p.pv_dc_w, load_w=p.light_load_w))
    procedure.wait(p.precondition_s)
    procedure.step(f"inverter {name} {failing}")
    with fault:
        t_step_s = procedure.step(f"export setting {p.export_limit_w:.0f} W applied")
        site.program("unrestricted", SiteLimits(export_limit_w=p.export_limit_w))
        end_s = procedure.wait(p.hold_s)
    procedure.step(f"inverter {name} {restored}; the controller settles before the next plan")
    site.program("unrestricted")
    procedure.wait(p.precondition_s / 2)

    expect_held(
        procedure,
        requirement_id,
        t_step_s=t_step_s,
        end_s=end_s,
        limit_w=p.export_limit_w + r.accuracy_w,
        response_time_s=r.response_time_s,
        what=f"{name} {failing}",
    )
    procedure.evidence(
        f"Inverter {name} {failing}: export setting {p.export_limit_w:.0f} W",
        t_step_s=t_step_s,
        end_s=end_s,
        windows=[response_window(t_step_s, r.response_time_s)],
    )


@pytest.mark.requirement("CTL-IGN")
def test_inverter_ignoring_writes_the_others_hold_the_limit(procedure, site, faults):
    name = procedure.params.ignoring_inverter
    fault = faults.inverter_ignores_writes(name)
    limit_applied_while_failing(
        procedure, site, "CTL-IGN", name, fault, "acknowledges writes and ignores them", "obeys again"
    )


@pytest.mark.requirement("CTL-INV")
def test_strict_inverter_refusing_block_writes_the_others_hold_the_limit(procedure, site, faults):
    name = procedure.params.strict_inverter
    fault = faults.inverter_strict_writes(name)
    limit_applied_while_failing(
        procedure,
        site,
        "CTL-INV",
        name,
        fault,
        "refuses block writes over a model header or read-only points",
        "takes block writes again",
    )
