"""One inverter fails the controller: the others must keep the site within its export limit.

- silent: the inverter stops answering Modbus (it keeps producing at its last
  cap until its own revert timer acts). With the export setting held, the load
  then drops: the controller must curtail the inverters still answering.
- ignores writes: the inverter acknowledges every write and keeps producing
  all it can. The export setting is then applied: the controller must notice
  and hold the site with the other inverters and the battery.

The PCC export must be at or below the setting + accuracy within the response
time and stay there.
"""

import pytest

from flexbench.lab import evaluate

PROFILE = "controller"


def _held(site, verdicts, requirement_id, step, limit_w, response_time_s, what):
    t, export_w = site.series("pcc.p_w", step, scale=-1.0)
    verdicts.check(
        evaluate.settles_within(
            requirement_id,
            t,
            export_w,
            t_step_s=step.t_step_s,
            end_s=step.end_s,
            limit=limit_w,
            max_time_s=response_time_s,
            label=f"PCC export, {what}: setting + accuracy,",
        )
    )
    verdicts.check(
        evaluate.stays_at_or_below(
            requirement_id,
            t,
            export_w,
            start_s=step.t_step_s + response_time_s,
            end_s=step.end_s,
            limit=limit_w,
            t_cmd_s=step.t_step_s,
            label=f"PCC export held, {what}:",
        )
    )


@pytest.mark.requirement("CTL-INV")
def test_silent_inverter_the_others_hold_the_limit(site, verdicts, clock):
    plan = site.plan
    r = site.requirements.requirement("CTL-INV")
    name = plan.text("silent_inverter")
    export_limit_w = plan.number("export_limit_w")
    site.program("unrestricted", export_limit_w=export_limit_w)
    site.conditions(pv_dc_w=plan.number("pv_dc_w"), load_w=plan.number("heavy_load_w"))
    start_s = site.settle()
    with site.fault(
        f"inverter-silent:{name}",
        f"inverter-restore:{name}",
        f"Disconnect inverter {name}'s Modbus link from the controller.",
    ):
        clock.sleep(plan.number("precondition_s") / 2)  # the controller finds out the inverter is gone
        t_step_s = clock.now()
        site.conditions(pv_dc_w=plan.number("pv_dc_w"), load_w=plan.number("light_load_w"))
        step = site.hold(start_s, t_step_s)
    site.recover()
    _held(
        site,
        verdicts,
        "CTL-INV",
        step,
        export_limit_w + r.number("accuracy_w"),
        r.number("response_time_s"),
        f"{name} silent, load dropped",
    )
    site.response_time_s = r.number("response_time_s")
    site.evidence(verdicts, step, f"Inverter {name} silent: export setting {export_limit_w:.0f} W")


@pytest.mark.requirement("CTL-IGN")
def test_inverter_ignoring_writes_the_others_hold_the_limit(site, verdicts, clock):
    plan = site.plan
    r = site.requirements.requirement("CTL-IGN")
    name = plan.text("ignoring_inverter")
    export_limit_w = plan.number("export_limit_w")
    site.conditions(pv_dc_w=plan.number("pv_dc_w"), load_w=plan.number("light_load_w"))
    start_s = site.settle()
    with site.fault(
        f"inverter-ignores-writes:{name}",
        f"inverter-obeys-writes:{name}",
        f"Set inverter {name} to ignore its power limit (acknowledge writes, keep producing).",
    ):
        t_step_s = clock.now()
        site.program("unrestricted", export_limit_w=export_limit_w)
        step = site.hold(start_s, t_step_s)
    site.recover()
    _held(
        site,
        verdicts,
        "CTL-IGN",
        step,
        export_limit_w + r.number("accuracy_w"),
        r.number("response_time_s"),
        f"{name} ignoring its cap",
    )
    site.response_time_s = r.number("response_time_s")
    site.evidence(verdicts, step, f"Inverter {name} ignores writes: export setting {export_limit_w:.0f} W")
