"""IEEE 1547.1-2020 clause 5.13: limit maximum active power (IEEE 1547-2018 clause 4.6.2).

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

from flexbench.lab.plan import (
    DUT_POWER,
    DutPowerLimit,
    Plan,
    PlanParams,
    RequirementParams,
    Window,
    response_window,
)


class LimitActivePower(PlanParams):
    """[plans.limit_active_power]"""

    limits_pct: list[float]
    """Limits as percent of rated active power (LAP-PTS)."""
    repeats: int
    nominal_voltage_v: float
    nominal_frequency_hz: float
    precondition_s: float
    """Limit lifted: the output settles at available power before each step."""
    hold_s: float
    """Observation after each command."""


class ReachTheLimit(RequirementParams):
    response_time_s: float


class SteadyState(RequirementParams):
    mra_pct_of_rated_va: float
    mra_multiple: float
    steady_state_from_s: float
    steady_state_to_s: float


PLAN = Plan(
    "limit_active_power",
    LimitActivePower,
    profile="ieee1547-2018",
    requirements={"LAP-RT": ReachTheLimit, "LAP-SS": SteadyState},
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """LAP-PTS: each limit of the profile, repeated."""
    if "test_point" not in metafunc.fixturenames:
        return
    p = PLAN.params(metafunc.config)
    points = [(pct, run) for run in range(1, p.repeats + 1) for pct in p.limits_pct]
    metafunc.parametrize("test_point", points, ids=[f"{pct:g}pct-run{run}" for pct, run in points])


@pytest.fixture(scope="module")
def dut_limit(bench, recorder, clock, parameters) -> DutPowerLimit:
    """5.13: the DUT at nominal voltage and frequency, its limit sent through SunSpec model 704."""
    p = parameters.plan
    bench.grid.set_voltage(p.nominal_voltage_v)
    bench.grid.set_frequency(p.nominal_frequency_hz)
    bench.grid.set_output(True)
    bench.element("dut")  # the analyzer must measure the DUT terminals: a clear error otherwise
    return DutPowerLimit(bench, recorder, clock)


@pytest.mark.requirement("LAP-RT", "LAP-SS")
def test_limit_active_power(procedure, dut_limit, test_point):
    pct, run = test_point
    p, rt, ss = procedure.params, procedure.requirement("LAP-RT"), procedure.requirement("LAP-SS")
    mra_w = ss.mra_pct_of_rated_va / 100.0 * dut_limit.rated_va
    tolerance_w = ss.mra_multiple * mra_w

    procedure.step("limit lifted; the DUT settles at its available power", clause="IEEE 1547.1 5.13")
    dut_limit.send_pct(None)
    procedure.wait(p.precondition_s)

    t_cmd_s = procedure.step(f"limit set to {pct:g} % of rated power (run {run})", clause="IEEE 1547.1 5.13")
    limit_w = dut_limit.send_pct(pct, tolerance_w=tolerance_w)
    procedure.wait(p.hold_s)

    procedure.expect_reaches(
        "LAP-RT", DUT_POWER, target=limit_w, tolerance=tolerance_w, within_s=rt.response_time_s, t_cmd_s=t_cmd_s
    )
    ss_window = Window(t_cmd_s + ss.steady_state_from_s, t_cmd_s + ss.steady_state_to_s, "steady-state window")
    procedure.expect_at_or_below(
        "LAP-SS",
        DUT_POWER,
        limit=limit_w + tolerance_w,
        start_s=ss_window.start_s,
        end_s=ss_window.end_s,
        t_cmd_s=t_cmd_s,
        label=f"limit + {ss.mra_multiple:g} x MRA:",
    )
    procedure.evidence(
        f"Limit {pct:g} % of {dut_limit.rated_w:.0f} W (run {run})",
        t_step_s=t_cmd_s,
        channels={DUT_POWER.channel: "DUT active power (analyzer)", "pcc.p_w": "PCC import (analyzer)"},
        steps={"limit_w": "limit", "limit_tolerance_w": f"limit + {ss.mra_multiple:g} x MRA"},
        windows=[response_window(t_cmd_s, rt.response_time_s), ss_window],
    )
