"""The plan language: one small vocabulary of steps and checks that every test plan is written in.

A plan file reads top to bottom as the standard's procedure. Its numbers come
from the requirement profile as typed models, validated when pytest collects
the plan (an unknown key, a wrong type or a missing key is a configuration
error naming file, line and key, before any test runs).

Declare (in the plan's file, or in the conftest.py of a plan folder whose files share it)::

    from flexbench.lab.plan import Plan, PlanParams, RequirementParams

    class ExportLimit(PlanParams):          # [plans.export_limit] of the profile; extra keys are errors
        limit_w: float
        hold_s: float

    class Held(RequirementParams):          # [requirements.ID]: title, criterion, source + its numbers
        accuracy_w: float

    PLAN = Plan("export_limit", ExportLimit, profile="my-profile", requirements={"EXP-1": Held})

`profile` is `<name>.toml` in the `profiles/` folder beside the plan's folder
(`--profile FILE` replaces it; `[benches.BENCH.plans.NAME]` tables override per
bench). `PLAN.params(config)` gives the plan table at collection (to parametrize).

Fixtures (from the flexbench pytest plugin): `parameters` (per module: the validated
`Parameters`, `.plan` and `.requirement(ID)`), `procedure` (per test: a `Procedure` on the
bench's recorder and clock), `declared_values` (override it in a plan's conftest to print,
per requirement ID, the device's declared values beside each verdict, as testplans/ul3141
does). A plan's conftest builds the module-scoped objects it needs from them, e.g.
`Site(bench, recorder, clock, parameters.plan, phases=3)` or `Csip(csip, recorder)`.

Write the test::

    @pytest.mark.requirement("EXP-1")
    def test_export_limit(procedure, site):
        p, req = procedure.params, procedure.requirement("EXP-1")
        procedure.step("grid at nominal, PV at its rating", clause="5.1 a")
        site.energize()
        site.set_conditions(Conditions(pv_dc_w=10_000, load_w=500))
        procedure.wait(p.precondition_s)
        t_step = procedure.step("export limit sent", clause="5.1 b")
        site.program(limits=SiteLimits(export_limit_w=p.limit_w))   # or Csip / Opcua / DutPowerLimit
        site.show_limit(SiteLimits(export_limit_w=p.limit_w))       # (program() shows its own)
        procedure.wait(p.hold_s)
        procedure.expect_at_or_below("EXP-1", PCC_EXPORT, limit=p.limit_w + req.accuracy_w,
                                     start_s=t_step + 15, end_s=procedure.now(), t_cmd_s=t_step)
        procedure.evidence("Export limit", t_step_s=t_step, windows=[response_window(t_step, 15)])

Vocabulary:

- steps and waits (`Procedure`): `step(text, clause=)` (logged to events.jsonl and the
  `flexbench.plan` logger, `flexbench run -v`), `wait(s)`, `wait_until(t_s)`,
  `wait_for(condition, timeout_s=, poll_s=)`, `now()`, `series(quantity)`.
- conditions (`Site`, built from `SiteParams` / `StressParams`): `set_grid`, `energize`,
  `set_conditions(Conditions(...))`, `stress("export"|"import")`.
- limits: `Site.program(mode, SiteLimits(...), current_limit_a=)` (PCS settings),
  `Csip` (2030.5: `control`, `schedule`, `default_control`, `cancel`, `abnormal`,
  `responses`, `outage`, `prices`), `Opcua` (`set_limits`, `schedule`, `abnormal`,
  `heartbeat_paused`), `DutPowerLimit.send_pct`; `Site.show_limit(SiteLimits)` records
  the limit in force for the evidence plot.
- checks (each records and returns a core Result): `expect_reaches`, `expect_settles`,
  `expect_at_or_below` on a `Quantity` (`PCC_IMPORT`, `PCC_EXPORT`, `pcc(side)`,
  `DUT_POWER`, `BUSBAR_CURRENT`), `expect_responses` / `expect_response` (2030.5),
  `expect(...)` for a check the plan judges itself, `record(result)` for a Result made elsewhere.
- evidence: `evidence(title, t_step_s=, windows=[Window(...), response_window(t, s, ramp_s)])`.
- a limit sent with a ramp time (2030.5 rampTms): state it as `limit_sent(limit_w, ramp_s)` and judge
  from `response_window(t, s, ramp_s).end_s` on.

Pass state through explicit objects (the Procedure, returned times, SiteLimits), never by
setting attributes on shared fixtures.
"""

from flexbench.lab.plan.definition import Parameters, Plan
from flexbench.lab.plan.params import PlanParams, RequirementParams
from flexbench.lab.plan.procedure import (
    BUSBAR_CURRENT,
    DUT_POWER,
    PCC_EXPORT,
    PCC_IMPORT,
    Procedure,
    Quantity,
    Window,
    limit_sent,
    pcc,
    response_window,
)
from flexbench.lab.plan.site import Conditions, Site, SiteParams, StressParams
from flexbench.lab.plan.transports import Csip, DutPowerLimit, Opcua

__all__ = [
    "BUSBAR_CURRENT",
    "DUT_POWER",
    "PCC_EXPORT",
    "PCC_IMPORT",
    "Conditions",
    "Csip",
    "DutPowerLimit",
    "Opcua",
    "Parameters",
    "Plan",
    "PlanParams",
    "Procedure",
    "Quantity",
    "RequirementParams",
    "Site",
    "SiteParams",
    "StressParams",
    "Window",
    "limit_sent",
    "pcc",
    "response_window",
]
