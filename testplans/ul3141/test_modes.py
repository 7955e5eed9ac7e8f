"""UL 1741 PCS CRD operating modes: no exchange in the direction a mode forbids.

- import-only: the site must not export, even with PV at its rating and a light load;
- export-only: storage must not charge from the grid, even when asked to charge at its rating;
- no-exchange: neither export nor import once the PCS has responded.

Each forbidden flow is held to the declared accuracy, from the declared
open-loop response time after the step to the end of the observation. A mode
the device does not declare is skipped, with the reason in the report.
"""

import pytest

from flexbench.lab import evaluate

PROFILE = "ul3141"
DECLARATION = "virtual-pcs"


def _held(verdicts, site, step, channel_scale: float, limit_w: float, what: str) -> None:
    d = site.declaration
    t, y = site.series("pcc.p_w", step, scale=channel_scale)
    site.check(
        verdicts,
        evaluate.settles_within(
            "PCS-MODE",
            t,
            y,
            t_step_s=step.t_step_s,
            end_s=step.end_s,
            limit=limit_w,
            max_time_s=d.open_loop_response_time_s,
            label=f"{what}: declared accuracy,",
        ),
    )
    site.check(
        verdicts,
        evaluate.stays_at_or_below(
            "PCS-MODE",
            t,
            y,
            start_s=step.t_step_s + d.open_loop_response_time_s,
            end_s=step.end_s,
            limit=limit_w,
            t_cmd_s=step.t_step_s,
            label=f"{what} held:",
        ),
    )


@pytest.mark.requirement("PCS-MODE")
@pytest.mark.parametrize("mode", ["import-only", "export-only", "no-exchange"])
def test_mode_forbids_its_direction(site, declaration, verdicts, clock, mode):
    d = declaration
    if mode not in d.modes:
        pytest.skip(f"mode {mode!r} is not declared in {d.path}")
    site.program(mode)
    light_load_w = site.plan.number("light_load_w")
    if mode == "export-only":
        pv_dc_w = 0.4 * d.pv_rated_power_w
        site.conditions(pv_dc_w=pv_dc_w, load_w=light_load_w)
        start_s = site.settle()
        t_step_s = clock.now()  # the battery asks to charge beyond the PV surplus
        site.conditions(pv_dc_w=pv_dc_w, load_w=light_load_w, battery_w=-d.battery_rated_power_w)
        step = site.hold(start_s, t_step_s)
        _held(verdicts, site, step, 1.0, d.import_accuracy_w, "PCC import caused by storage")
    else:
        site.conditions(pv_dc_w=0.3 * d.pv_rated_power_w, load_w=0.4 * d.pv_rated_power_w)
        start_s = site.settle()
        t_step_s = clock.now()  # PV to its rating, the load drops: a large surplus
        site.conditions(pv_dc_w=d.pv_rated_power_w * 1.05, load_w=light_load_w)
        step = site.hold(start_s, t_step_s)
        _held(verdicts, site, step, -1.0, d.export_accuracy_w, "PCC export")
        if mode == "no-exchange":
            _held(verdicts, site, step, 1.0, d.import_accuracy_w, "PCC import")
    site.evidence(verdicts, step, f"Mode {mode}")
