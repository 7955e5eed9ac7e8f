"""A site import limit over 2030.5 (opModImpLimW) on a controller site, where the battery is the only lever.

A heavy load and little PV make the site import well above the limit; the
utility publishes an import limit the battery can meet. After the soft-limit
window the PCC import must be at or below the limit + accuracy until the
control ends. (The CSIP plan's CSIP-LOA-01 steps an EV charger a controller
site does not have.)
"""

import pytest

from flexbench.core import SiteLimits
from flexbench.lab.plan import PCC_IMPORT, Conditions, limit_sent, response_window


@pytest.mark.requirement("CTL-IMP")
def test_import_limit_held_with_the_battery(procedure, site, headend):
    p, r = procedure.params, procedure.requirement("CTL-IMP")
    limit = SiteLimits(import_limit_w=p.import_limit_w)

    procedure.step("a heavy load and little PV: the site imports well above the limit", clause="CSIP-AUS LOA-01")
    site.set_conditions(Conditions(pv_dc_w=p.import_pv_dc_w, load_w=p.import_load_w))
    procedure.wait(p.precondition_s)
    t0_s = round(procedure.now() + p.start_delay_s)
    sent = f"import {limit_sent(p.import_limit_w, p.control_ramp_s)}"
    window = response_window(float(t0_s), r.soft_limit_window_s, p.control_ramp_s)
    procedure.step(f"{sent} published over 2030.5", start_s=t0_s)
    headend.control(limit, start_s=t0_s, duration_s=p.control_duration_s, ramp_s=p.control_ramp_s)
    procedure.wait_until(t0_s)
    site.show_limit(limit)
    end_s = procedure.wait_until(t0_s + p.control_duration_s)
    site.show_limit(None)

    procedure.expect_at_or_below(
        "CTL-IMP",
        PCC_IMPORT,
        limit=p.import_limit_w + r.accuracy_w,
        start_s=window.end_s,
        end_s=t0_s + p.control_duration_s - p.end_guard_s,
        t_cmd_s=float(t0_s),
        label=f"PCC import ({sent}): limit + accuracy after the {window.label},",
    )
    procedure.step("back to PV at its rating and a light load")
    site.set_conditions(Conditions(pv_dc_w=p.pv_dc_w, load_w=p.light_load_w))
    procedure.evidence(
        f"Import {limit_sent(p.import_limit_w, p.control_ramp_s)} via 2030.5, held by the battery",
        t_step_s=float(t0_s),
        end_s=end_s,
        windows=[window],
    )
