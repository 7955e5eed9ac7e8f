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
from flexbench.lab import evaluate

PROFILE = "envelopes"


@pytest.mark.requirement("ABN-IMP")
def test_abnormal_maximum_import(plan, envelope, site, link, verdicts, clock):
    r = site.requirements.requirement("ABN-IMP")
    accuracy_w, response_time_s = r.number("meter_accuracy_w"), r.number("response_time_s")
    max_import_w = site.plan.number("abnormal_import_w")
    duration_s = int(site.plan.number("abnormal_duration_s"))
    in_force = max(envelope.intervals, key=lambda i: i.import_limit_w)
    if max_import_w + accuracy_w >= in_force.import_limit_w - accuracy_w:
        raise plan.error(
            "abnormal_import_w",
            f"{max_import_w:.0f} W is not clearly below the envelope's import "
            f"limit {in_force.import_limit_w:.0f} W: the signal would not show",
        )
    if duration_s <= response_time_s:
        raise plan.error("abnormal_duration_s", f"must be longer than the {response_time_s:g} s response time")
    site.check_binds("import", in_force.import_limit_w, accuracy_w)
    site.stress("import")
    precondition_s = site.plan.number("precondition_s")
    start_s = clock.now()
    t0 = math.ceil(start_s + site.plan.number("start_delay_s"))
    link.publish(
        [Interval(start_s=t0, duration_s=math.ceil(precondition_s + duration_s + 10.0), limits=in_force.limits)]
    )
    clock.sleep_until(t0)
    site.record_limits(in_force.limits)
    clock.sleep(precondition_s)
    t_signal = math.ceil(clock.now())
    clock.sleep_until(t_signal)
    link.abnormal(Interval(start_s=t_signal, duration_s=duration_s, limits=SiteLimits(import_limit_w=max_import_w)))
    site.record_limit(import_limit_w=max_import_w, export_limit_w=in_force.export_limit_w)
    clock.sleep_until(t_signal + duration_s - r.number("end_guard_s"))
    step = site.hold(start_s, float(t_signal), hold_s=0)
    link.withdraw()
    site.record_limits(None)
    t, import_w = site.flow("import", step.start_s, step.end_s)
    verdicts.check(
        evaluate.settles_within(
            "ABN-IMP",
            t,
            import_w,
            t_step_s=t_signal,
            end_s=step.end_s,
            limit=max_import_w + accuracy_w,
            max_time_s=response_time_s,
            label="PCC import: signaled maximum + meter accuracy,",
        )
    )
    site.response_time_s = response_time_s
    site.evidence(
        verdicts,
        step,
        f"{envelope.feeder} {envelope.site_id}: abnormal operation over {link.name}, "
        f"maximum import {max_import_w:.0f} W under the envelope's "
        f"{in_force.import_limit_w:.0f} W",
    )
