"""UL 1741 PCS CRD operating modes: no exchange in the direction a mode forbids.

- import-only: the site must not export, even with PV at its rating and a light load;
- export-only: storage must not charge from the grid, even when asked to charge at its rating;
- no-exchange: neither export nor import once the PCS has responded.

Each forbidden flow is held to the declared accuracy, from the declared
open-loop response time after the step to the end of the observation. A mode
the device does not declare is skipped, with the reason in the report.
"""

import pytest

from flexbench.lab.plan import PCC_EXPORT, PCC_IMPORT, Conditions, Quantity, response_window

DECLARATION = "virtual-pcs"


def expect_forbidden_flow_held(procedure, quantity: Quantity, t_step_s: float, accuracy_w: float, response_s: float):
    """The forbidden flow within the declared accuracy from the response time on."""
    procedure.expect_settles(
        "PCS-MODE",
        quantity,
        at_or_below=accuracy_w,
        within_s=response_s,
        t_step_s=t_step_s,
        label=f"{quantity.name}: declared accuracy,",
    )
    procedure.expect_at_or_below(
        "PCS-MODE",
        quantity,
        limit=accuracy_w,
        start_s=t_step_s + response_s,
        end_s=procedure.now(),
        t_cmd_s=t_step_s,
        label=f"{quantity.name} held:",
    )


@pytest.mark.requirement("PCS-MODE")
@pytest.mark.parametrize("mode", ["import-only", "export-only", "no-exchange"])
def test_mode_forbids_its_direction(procedure, site, declaration, mode):
    d, p = declaration, procedure.params
    if mode not in d.modes:
        pytest.skip(f"mode {mode!r} is not declared in {d.path}")
    response_s = d.open_loop_response_time_s
    procedure.step(f"PCS in mode {mode}", clause="UL 1741 PCS CRD operating modes")
    site.program(mode)
    if mode == "export-only":
        pv_dc_w = 0.4 * d.pv_rated_power_w
        site.set_conditions(Conditions(pv_dc_w=pv_dc_w, load_w=p.light_load_w))
        procedure.wait(p.precondition_s)
        t_step_s = procedure.step("the battery asks to charge beyond the PV surplus")
        site.set_conditions(Conditions(pv_dc_w=pv_dc_w, load_w=p.light_load_w, battery_w=-d.battery_rated_power_w))
        procedure.wait(p.hold_s)
        storage_import = Quantity(PCC_IMPORT.channel, PCC_IMPORT.scale, "W", "PCC import caused by storage")
        expect_forbidden_flow_held(procedure, storage_import, t_step_s, d.import_accuracy_w, response_s)
    else:
        site.set_conditions(Conditions(pv_dc_w=0.3 * d.pv_rated_power_w, load_w=0.4 * d.pv_rated_power_w))
        procedure.wait(p.precondition_s)
        t_step_s = procedure.step("PV to its rating, the load drops: a large surplus")
        site.set_conditions(Conditions(pv_dc_w=d.pv_rated_power_w * 1.05, load_w=p.light_load_w))
        procedure.wait(p.hold_s)
        expect_forbidden_flow_held(procedure, PCC_EXPORT, t_step_s, d.export_accuracy_w, response_s)
        if mode == "no-exchange":
            expect_forbidden_flow_held(procedure, PCC_IMPORT, t_step_s, d.import_accuracy_w, response_s)
    procedure.evidence(f"Mode {mode}", t_step_s=t_step_s, windows=[response_window(t_step_s, response_s)])
