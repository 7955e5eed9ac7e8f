"""IEEE 1547.1-2020 clause 5.13: limit maximum active power.

For each test point (a limit as a percent of rated power, repeated), with the
grid simulator at nominal: lift any limit and let the DUT settle at its
available power, command the limit through SunSpec model 704
(WMaxLimPct / WMaxLimPctEna), and observe the active power at the DUT
terminals with the power analyzer. Pass when the DUT reaches the limit within
the response time (LAP-RT) and then stays at or below limit + 1.5 x MRA
(LAP-SS). Every number comes from the requirement profile.
"""

from __future__ import annotations

import pytest

from flexbench.lab import evaluate
from flexbench.lab.profile import profile_for

PROFILE = "ieee1547-2018"
PLAN = "limit_active_power"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "test_point" not in metafunc.fixturenames:
        return
    plan = profile_for(metafunc.config, __file__, PROFILE).plan(PLAN)
    points = [(pct, run) for run in range(1, plan.integer("repeats") + 1) for pct in plan.numbers("limits_pct")]
    metafunc.parametrize("test_point", points, ids=[f"{pct:g}pct-run{run}" for pct, run in points])


@pytest.fixture(scope="module")
def grid_at_nominal(bench, requirements):
    plan = requirements.plan(PLAN)
    grid = bench.grid
    grid.set_voltage(plan.number("nominal_voltage_v"))
    grid.set_frequency(plan.number("nominal_frequency_hz"))
    grid.set_output(True)
    return grid


@pytest.mark.requirement("LAP-RT", "LAP-SS")
def test_limit_active_power(bench, grid_at_nominal, recorder, clock, requirements, verdicts, test_point):
    pct, run = test_point
    plan = requirements.plan(PLAN)
    rt = requirements.requirement("LAP-RT")
    ss = requirements.requirement("LAP-SS")
    der = bench.der
    nameplate = der.nameplate()
    rated_w = nameplate.max_power_w
    tolerance_w = ss.number("mra_multiple") * ss.number("mra_pct_of_rated_va") / 100.0 * nameplate.max_apparent_power_va
    bench.element("dut")  # the analyzer must measure the DUT terminals: a clear error otherwise
    dut_channel = "dut.p_w"

    start_s = clock.now()
    der.set_active_power_limit_pct(None)
    recorder.record("limit_w", rated_w, start_s)
    recorder.record("limit_tolerance_w", float("nan"), start_s)  # no tolerance band while the limit is lifted
    clock.sleep(plan.number("precondition_s"))

    limit_w = pct / 100.0 * rated_w
    t_cmd_s = clock.now()
    der.set_active_power_limit_pct(pct)
    recorder.record("limit_w", limit_w, t_cmd_s)
    recorder.record("limit_tolerance_w", limit_w + tolerance_w, t_cmd_s)
    recorder.event("command", test=verdicts.nodeid, limit_pct=pct, limit_w=limit_w, run=run)
    clock.sleep(plan.number("hold_s"))
    end_s = clock.now()

    response_time_s = rt.number("response_time_s")
    ss_start_s = t_cmd_s + ss.number("steady_state_from_s")
    ss_end_s = t_cmd_s + ss.number("steady_state_to_s")
    t, p = recorder.series(dut_channel, start_s, end_s)
    verdicts.check(
        evaluate.reaches_within(
            "LAP-RT", t, p, t_cmd_s=t_cmd_s, target=limit_w, tolerance=tolerance_w, max_time_s=response_time_s
        )
    )
    verdicts.check(
        evaluate.stays_at_or_below(
            "LAP-SS",
            t,
            p,
            start_s=ss_start_s,
            end_s=ss_end_s,
            limit=limit_w + tolerance_w,
            t_cmd_s=t_cmd_s,
            label="limit + 1.5 x MRA:",
        )
    )
    verdicts.evidence(
        title=f"Limit {pct:g} % of {rated_w:.0f} W (run {run})",
        t_cmd_s=t_cmd_s,
        start_s=start_s,
        end_s=end_s,
        channels={dut_channel: "DUT active power (analyzer)", "pcc.p_w": "PCC import (analyzer)"},
        steps={"limit_w": "limit", "limit_tolerance_w": "limit + 1.5 x MRA"},
        windows=[
            {"start_s": t_cmd_s, "end_s": t_cmd_s + response_time_s, "label": f"response window {response_time_s:g} s"},
            {"start_s": ss_start_s, "end_s": ss_end_s, "label": "steady-state window"},
        ],
    )
