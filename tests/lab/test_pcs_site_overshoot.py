"""The `overshoot` PCS rings past a busbar current setting whatever the spacing of the bench's steps.

On a bench the PV simulator and the battery get their new conditions one after
the other, so the gap between them in bench time grows with host load. Two
sources ringing at one frequency, reached half a period apart, cancel on the
busbar, and the fault would pass UL 3141 current limiting on a busy host.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from flexbench.lab.declaration import load_pcs_declaration
from flexbench.lab.virtual.dynamics import substeps
from flexbench.lab.virtual.pcs_site import PCS_FAULTS, Conditions, PCSSite, PCSSiteParameters

# the setting, accuracy and response time the UL 3141 plans judge the virtual PCS by
DECLARED = load_pcs_declaration(Path(__file__).resolve().parents[2] / "testplans/declarations/virtual-pcs.toml")
LIMIT_WITH_ACCURACY_A = DECLARED.current_limit_a + DECLARED.current_accuracy_a
STEP_S = 0.25  # one wall step of the virtual plant at time scale 25


def _peak_after_response_a(profile: str, battery_after_s: float) -> float:
    """The busbar current's peak from the response time on, when the battery's request lands this
    long after the PV's rise (the current-limiting test's step, taken apart)."""
    site = PCSSite(PCSSiteParameters(), PCS_FAULTS[profile])
    site.controller.settings.current_limit_a = DECLARED.current_limit_a
    site.conditions = Conditions(grid_on=True, pv_available_dc_w=3_000.0, load_w=12_000.0)
    t_s = 0.0

    def run_to(end_s: float) -> None:
        nonlocal t_s
        while t_s < end_s - 1e-9:
            n, h = substeps(min(STEP_S, end_s - t_s))
            for _ in range(n):
                t_s += h
                site.step(t_s, h)

    run_to(20.0)
    t_step_s = t_s
    site.conditions = replace(site.conditions, pv_available_dc_w=10_500.0)
    run_to(t_step_s + battery_after_s)
    site.conditions = replace(site.conditions, battery_request_w=5_000.0)
    peak_a = 0.0
    while t_s < t_step_s + 60.0:
        run_to(t_s + 0.1)
        if t_s >= t_step_s + DECLARED.open_loop_response_time_s:
            peak_a = max(peak_a, site.busbar_current_a())
    return peak_a


@pytest.mark.parametrize("battery_after_s", [0.0, 0.5, 1.0, 1.3, 1.9, 2.1, 3.0, 4.2, 5.0])
def test_overshoot_rings_past_the_setting_however_far_apart_the_sources_are_stepped(battery_after_s):
    assert _peak_after_response_a("overshoot", battery_after_s) > LIMIT_WITH_ACCURACY_A + 1.0


@pytest.mark.parametrize("battery_after_s", [0.0, 1.3, 5.0])
def test_a_healthy_pcs_holds_the_setting_after_the_same_steps(battery_after_s):
    assert _peak_after_response_a("healthy", battery_after_s) <= LIMIT_WITH_ACCURACY_A
