"""UL 3141 current limiting on a busbar (NEC 705.13 use).

The PV and battery inverters feed a busbar whose current the PCS limits. With
PV at its rating and the battery discharging at its rating, the busbar would
carry more than the setting; the PCS must bring the current to or below
setting + declared accuracy within the declared open-loop response time and
keep it there. The load is high so the PCC limits play no part.
"""

import pytest

from flexbench.lab import evaluate
from flexbench.lab.declaration import not_applicable

PROFILE = "ul3141"
DECLARATION = "virtual-pcs"


@pytest.mark.requirement("PCS-CUR")
def test_current_limiting(site, declaration, verdicts, clock):
    d = declaration
    if (why := not_applicable(d, "current-limiting")) is not None:
        pytest.skip(why)
    site.program("unrestricted", current_limit_a=d.current_limit_a)
    heavy_load_w = 3 * 4_000.0  # absorbs the sources: the PCC stays an import
    site.conditions(pv_dc_w=0.3 * d.pv_rated_power_w, load_w=heavy_load_w)
    start_s = site.settle()

    assert d.max_busbar_current_a > d.current_limit_a + d.current_accuracy_a, "the step cannot exceed the setting"
    t_step_s = clock.now()
    site.conditions(pv_dc_w=d.pv_rated_power_w * 1.05, load_w=heavy_load_w, battery_w=d.battery_rated_power_w)
    step = site.hold(start_s, t_step_s)

    t, current_a = site.series("busbar.i_a", step)
    limit_a = d.current_limit_a + d.current_accuracy_a
    site.check(
        verdicts,
        evaluate.settles_within(
            "PCS-CUR",
            t,
            current_a,
            t_step_s=t_step_s,
            end_s=step.end_s,
            limit=limit_a,
            unit="A",
            max_time_s=d.open_loop_response_time_s,
            label="busbar current: setting + declared accuracy,",
        ),
    )
    site.check(
        verdicts,
        evaluate.stays_at_or_below(
            "PCS-CUR",
            t,
            current_a,
            start_s=t_step_s + d.open_loop_response_time_s,
            end_s=step.end_s,
            limit=limit_a,
            unit="A",
            t_cmd_s=t_step_s,
            label="busbar current held at steady state:",
        ),
    )
    site.evidence(verdicts, step, f"Current limiting: setting {d.current_limit_a:g} A", current=True)
