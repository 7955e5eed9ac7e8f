"""ABN-IMP: under the twin's envelope, an abnormal-operation maximum import obeyed within 30 s.

The interval of the location's envelope with the largest import limit is in
force and the site imports at that limit (a heavy load, the EV charging);
the operator then signals abnormal operation with a lower maximum import
(over 2030.5 a control in the higher-priority program; over OPC-UA the
abnormal signal). The PCC import must be at or below the signaled value plus
meter accuracy within the response time, in device seconds, and stay there.
"""

import math

import pytest

from flexbench.core import Interval, SiteLimits
from flexbench.lab.envelope_plan import limit_w
from flexbench.lab.plan import PCC_IMPORT, response_window


@pytest.mark.requirement("ABN-IMP")
def test_abnormal_maximum_import(procedure, twin_plan, envelope, site, link):
    p, r = procedure.params, procedure.requirement("ABN-IMP")
    accuracy_w = r.meter_accuracy_w
    in_force = max(envelope.intervals, key=lambda i: limit_w(i.limits, "import"))
    envelope_import_w = limit_w(in_force.limits, "import")
    if p.abnormal_import_w + accuracy_w >= envelope_import_w - accuracy_w:
        raise twin_plan.error(
            "abnormal_import_w",
            f"{p.abnormal_import_w:.0f} W is not clearly below the envelope's import limit "
            f"{envelope_import_w:.0f} W: the signal would not show",
        )
    if p.abnormal_duration_s <= r.response_time_s:
        raise twin_plan.error("abnormal_duration_s", f"must be longer than the {r.response_time_s:g} s response time")
    twin_plan.check_binds("import", envelope_import_w, accuracy_w)

    procedure.step(
        f"the envelope's interval with the largest import limit ({envelope_import_w:.0f} W) in force over "
        f"{link.name}; the site importing past it",
        clause="CPUC R.21-06-017, abnormal operation",
    )
    site.stress("import")
    t0_s = math.ceil(procedure.now() + p.start_delay_s)
    link.publish(
        [
            Interval(
                start_s=t0_s,
                duration_s=math.ceil(p.precondition_s + p.abnormal_duration_s + 10.0),
                limits=in_force.limits,
            )
        ]
    )
    procedure.wait_until(t0_s)
    site.show_limit(in_force.limits)
    procedure.wait(p.precondition_s)

    t_signal_s = math.ceil(procedure.now())
    procedure.wait_until(t_signal_s)
    procedure.step(f"abnormal operation signaled: maximum import {p.abnormal_import_w:.0f} W")
    link.abnormal(
        Interval(
            start_s=t_signal_s,
            duration_s=p.abnormal_duration_s,
            limits=SiteLimits(import_limit_w=p.abnormal_import_w),
        )
    )
    site.show_limit(SiteLimits(import_limit_w=p.abnormal_import_w, export_limit_w=in_force.export_limit_w))
    end_s = procedure.wait_until(t_signal_s + p.abnormal_duration_s - r.end_guard_s)
    link.withdraw()
    site.show_limit(None)

    procedure.expect_settles(
        "ABN-IMP",
        PCC_IMPORT,
        at_or_below=p.abnormal_import_w + accuracy_w,
        within_s=r.response_time_s,
        t_step_s=t_signal_s,
        end_s=end_s,
        label="PCC import: signaled maximum + meter accuracy,",
    )
    procedure.evidence(
        f"{envelope.feeder} {envelope.site_id}: abnormal operation over {link.name}, maximum import "
        f"{p.abnormal_import_w:.0f} W under the envelope's {envelope_import_w:.0f} W",
        t_step_s=t_signal_s,
        windows=[response_window(t_signal_s, r.response_time_s)],
    )
