"""UL 3141 current limiting on a busbar (NEC 705.13 power control systems).

The PV and battery inverters feed a busbar whose current the PCS limits. With
PV at its rating and the battery discharging at its rating, the busbar would
carry more than the setting; the PCS must bring the current to or below
setting + declared accuracy within the declared open-loop response time and
keep it there. The load is high so the PCC limits play no part.
"""

import pytest

from flexbench.lab.declaration import not_applicable
from flexbench.lab.plan import BUSBAR_CURRENT, Conditions, response_window

DECLARATION = "virtual-pcs"
HEAVY_LOAD_W = 3 * 4_000.0  # absorbs the sources: the PCC stays an import


@pytest.mark.requirement("PCS-CUR")
def test_current_limiting(procedure, site, declaration):
    d, p = declaration, procedure.params
    if (why := not_applicable(d, "current-limiting")) is not None:
        pytest.skip(why)
    procedure.step("PCS at its declared busbar current setting; a heavy load", clause="UL 3141 current limiting")
    site.program("unrestricted", current_limit_a=d.current_limit_a)
    site.set_conditions(Conditions(pv_dc_w=0.3 * d.pv_rated_power_w, load_w=HEAVY_LOAD_W))
    procedure.wait(p.precondition_s)

    assert d.max_busbar_current_a > d.current_limit_a + d.current_accuracy_a, "the step cannot exceed the setting"
    t_step_s = procedure.step("PV to its rating, battery discharging: busbar current far past the setting")
    site.set_conditions(
        Conditions(pv_dc_w=d.pv_rated_power_w * 1.05, load_w=HEAVY_LOAD_W, battery_w=d.battery_rated_power_w)
    )
    procedure.wait(p.hold_s)

    limit_a = d.current_limit_a + d.current_accuracy_a
    procedure.expect_settles(
        "PCS-CUR",
        BUSBAR_CURRENT,
        at_or_below=limit_a,
        within_s=d.open_loop_response_time_s,
        t_step_s=t_step_s,
        label="busbar current: setting + declared accuracy,",
    )
    procedure.expect_at_or_below(
        "PCS-CUR",
        BUSBAR_CURRENT,
        limit=limit_a,
        start_s=t_step_s + d.open_loop_response_time_s,
        end_s=procedure.now(),
        t_cmd_s=t_step_s,
        label="busbar current held at steady state:",
    )
    procedure.evidence(
        f"Current limiting: setting {d.current_limit_a:g} A",
        t_step_s=t_step_s,
        windows=[response_window(t_step_s, d.open_loop_response_time_s)],
        channels={"busbar.i_a": "busbar current (analyzer)"},
        steps={"limit.busbar_a": "current setting"},
        unit_scale=1.0,
        ylabel="current (A)",
    )
