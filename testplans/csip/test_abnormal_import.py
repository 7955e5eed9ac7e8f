"""Abnormal operation (the ruling): a signaled maximum import obeyed within 30 s.

The site imports well above the signaled value; the operator signals abnormal
operation (an immediate maximum import in the higher-priority program). The
PCC import must be at or below the value + meter accuracy within the response
time and stay there while the signal lasts.
"""

import pytest

from flexbench.lab import evaluate

PROFILE = "csip-aus"


@pytest.mark.requirement("ABN-IMP")
def test_abnormal_maximum_import(site, verdicts, clock):
    plan = site.plan
    r = site.requirements.requirement("ABN-IMP")
    response_time_s = r.number("response_time_s")
    limit_w = plan.number("abnormal_import_w") + site.accuracy_w("ABN-IMP")
    duration = int(plan.number("control_duration_s"))
    site.stress("import")
    start_s = site.settle()
    t_signal = round(clock.now())
    site.headend.signal_abnormal(site.lfdi, plan.number("abnormal_import_w"), duration_s=duration, start=t_signal)
    site.record_limit(import_limit_w=plan.number("abnormal_import_w"))
    clock.sleep_until(t_signal + duration - plan.number("end_guard_s"))
    step = site.hold(start_s, float(t_signal), hold_s=0)
    t, import_w = site.series("pcc.p_w", step)
    verdicts.check(
        evaluate.settles_within(
            "ABN-IMP",
            t,
            import_w,
            t_step_s=step.t_step_s,
            end_s=step.end_s,
            limit=limit_w,
            max_time_s=response_time_s,
            label="PCC import: signaled maximum + meter accuracy,",
        )
    )
    site.record_limit()
    site.response_time_s = response_time_s
    site.evidence(verdicts, step, f"Abnormal operation: maximum import {plan.number('abnormal_import_w'):.0f} W")
