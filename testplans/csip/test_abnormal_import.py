"""Abnormal operation (CPUC R.21-06-017 ruling): a signaled maximum import obeyed within 30 s.

The site imports well above the signaled value; the operator signals abnormal
operation (an immediate maximum import in the higher-priority 2030.5
program). The PCC import must be at or below the value + meter accuracy
within the response time and stay there while the signal lasts.
"""

import pytest

from flexbench.core import SiteLimits
from flexbench.lab.plan import PCC_IMPORT, response_window


@pytest.mark.requirement("ABN-IMP")
def test_abnormal_maximum_import(procedure, site, headend):
    p, r = procedure.params, procedure.requirement("ABN-IMP")
    procedure.step("conditions that take the site far past the signaled import", clause="ruling: abnormal operation")
    site.stress("import")
    procedure.wait(p.precondition_s)

    t_signal_s = round(procedure.now())
    procedure.step(f"the operator signals abnormal operation: maximum import {p.abnormal_import_w:.0f} W")
    headend.abnormal(p.abnormal_import_w, start_s=t_signal_s, duration_s=int(p.control_duration_s))
    site.show_limit(SiteLimits(import_limit_w=p.abnormal_import_w))
    end_s = procedure.wait_until(t_signal_s + int(p.control_duration_s) - p.end_guard_s)

    procedure.expect_settles(
        "ABN-IMP",
        PCC_IMPORT,
        at_or_below=p.abnormal_import_w + r.accuracy_w(p.site_rating_w),
        within_s=r.response_time_s,
        t_step_s=float(t_signal_s),
        end_s=end_s,
        label="PCC import: signaled maximum + meter accuracy,",
    )
    site.show_limit(None)
    procedure.evidence(
        f"Abnormal operation: maximum import {p.abnormal_import_w:.0f} W",
        t_step_s=float(t_signal_s),
        end_s=end_s,
        windows=[response_window(t_signal_s, r.response_time_s)],
    )
