"""Operating envelopes over OPC-UA, judged at the PCC (CPUC R.21-06-017 ruling; PG&E FlexConnect):

- OE-NRT: a limit step obeyed in near-real time;
- OE-FOLLOW: a schedule of export limits followed;
- OPC-LOSS: loss of the heartbeat: the site falls back to its firm limits;
- ABN-IMP: the abnormal-operation signal (a maximum import) obeyed.
"""

import pytest

from flexbench.core import Interval, SiteLimits
from flexbench.lab.plan import PCC_EXPORT, PCC_IMPORT, response_window


@pytest.mark.requirement("OE-NRT")
def test_limit_step_obeyed_in_near_real_time(procedure, site, envelope_server):
    p, r = procedure.params, procedure.requirement("OE-NRT")
    limits = SiteLimits(export_limit_w=p.limit_step_export_w)
    bound_w = p.limit_step_export_w + r.meter_accuracy_w
    procedure.step("PV at its rating, a light load: export far past the new limit", clause="ruling: near-real time")
    site.stress("export")
    procedure.wait(p.precondition_s)

    t_step_s = procedure.step(f"the operator sets the export limit to {p.limit_step_export_w:.0f} W")
    envelope_server.set_limits(limits)
    site.show_limit(limits)

    def settled() -> bool:  # within the bound for settled_hold_s: no need to watch the whole budget
        t, export_w = procedure.series(PCC_EXPORT, start_s=t_step_s)
        above = t[export_w > bound_w]
        return procedure.now() - (above[-1] if above.size else t_step_s) >= r.settled_hold_s

    procedure.wait_for(settled, timeout_s=r.response_time_s, poll_s=1.0)
    end_s = procedure.now()
    procedure.expect_settles(
        "OE-NRT",
        PCC_EXPORT,
        at_or_below=bound_w,
        within_s=r.response_time_s,
        t_step_s=t_step_s,
        end_s=end_s,
        label="PCC export: new limit + meter accuracy,",
    )
    envelope_server.set_limits(None)  # back to the limits in force
    site.show_limit(None)
    procedure.evidence(
        f"OPC-UA limit step to {p.limit_step_export_w:.0f} W export",
        t_step_s=t_step_s,
        end_s=end_s,
        windows=[response_window(t_step_s, min(r.response_time_s, end_s - t_step_s))],
    )


@pytest.mark.requirement("OE-FOLLOW")
def test_schedule_followed(procedure, site, envelope_server):
    p, r = procedure.params, procedure.requirement("OE-FOLLOW")
    procedure.step("PV at its rating, a light load: export far past every limit", clause="ruling: variable envelope")
    site.stress("export")
    procedure.wait(p.precondition_s)

    t0_s = round(procedure.now() + 2.0)
    rated_import_w = envelope_server.rated["rated_import_w"]
    schedule = [
        Interval(
            start_s=t0_s + k * r.interval_s,
            duration_s=r.interval_s,
            limits=SiteLimits(import_limit_w=rated_import_w, export_limit_w=w),
        )
        for k, w in enumerate(r.export_limits_w)
    ]
    procedure.step(f"the operator publishes a schedule of {len(schedule)} intervals", start_s=t0_s)
    envelope_server.schedule(schedule)
    for interval in schedule:
        procedure.wait_until(interval.start_s)
        site.show_limit(SiteLimits(export_limit_w=interval.export_limit_w))
    end_s = procedure.wait_until(t0_s + len(schedule) * r.interval_s)
    site.show_limit(None)

    for interval in schedule:
        procedure.expect_at_or_below(
            "OE-FOLLOW",
            PCC_EXPORT,
            limit=interval.export_limit_w + r.meter_accuracy_w,
            start_s=interval.start_s + r.response_window_s,
            end_s=interval.end_s - 1.0,
            t_cmd_s=float(t0_s),
            label=f"interval at +{interval.start_s - t0_s:.0f} s: PCC export",
        )
    procedure.evidence(
        f"OPC-UA schedule: {', '.join(f'{w:.0f}' for w in r.export_limits_w)} W",
        t_step_s=float(t0_s),
        end_s=end_s,
        windows=[response_window(t0_s, r.response_window_s)],
    )


@pytest.mark.requirement("OPC-LOSS")
def test_heartbeat_loss_leads_to_firm_limits(procedure, site, envelope_server):
    if envelope_server.device is not None:
        pytest.skip("the heartbeat is for sites of the envelope server; this PCS is written through its own server")
    p, r = procedure.params, procedure.requirement("OPC-LOSS")
    firm_w = envelope_server.rated["firm_export_limit_w"]
    non_firm = SiteLimits(export_limit_w=r.non_firm_export_w)
    procedure.step(f"a non-firm export limit of {r.non_firm_export_w:.0f} W", clause="ruling: loss of communication")
    site.stress("export")
    envelope_server.set_limits(non_firm)
    site.show_limit(non_firm)
    procedure.wait(p.precondition_s)

    t_loss_s = procedure.step("the server stops its heartbeat to the site")
    with envelope_server.heartbeat_paused():
        end_s = procedure.wait(envelope_server.comm_loss_s + r.response_window_s + 20.0)
    site.show_limit(None)

    procedure.expect_at_or_below(
        "OPC-LOSS",
        PCC_EXPORT,
        limit=firm_w + r.meter_accuracy_w,
        start_s=t_loss_s + envelope_server.comm_loss_s + r.response_window_s,
        end_s=end_s,
        t_cmd_s=t_loss_s,
        label="after the heartbeat timeout, the firm export limit: PCC export",
    )
    procedure.evidence(
        f"Heartbeat lost: {r.non_firm_export_w:.0f} W non-firm to {firm_w:.0f} W firm",
        t_step_s=t_loss_s,
        end_s=end_s,
        windows=[response_window(t_loss_s, envelope_server.comm_loss_s)],
    )


@pytest.mark.requirement("ABN-IMP")
def test_abnormal_signal_obeyed(procedure, site, envelope_server):
    p, r = procedure.params, procedure.requirement("ABN-IMP")
    procedure.step("a heavy load and the EV charging: import far past the signal", clause="ruling: abnormal operation")
    site.stress("import")
    procedure.wait(p.precondition_s)

    t_signal_s = procedure.step(f"the operator signals abnormal operation: maximum import {r.max_import_w:.0f} W")
    envelope_server.abnormal(r.max_import_w, duration_s=r.duration_s)
    site.show_limit(SiteLimits(import_limit_w=r.max_import_w))
    try:
        end_s = procedure.wait(r.duration_s - 5.0)
    finally:
        envelope_server.clear_abnormal()
    site.show_limit(None)

    procedure.expect_settles(
        "ABN-IMP",
        PCC_IMPORT,
        at_or_below=r.max_import_w + r.meter_accuracy_w,
        within_s=r.response_time_s,
        t_step_s=t_signal_s,
        end_s=end_s,
        label="PCC import: signaled maximum + meter accuracy,",
    )
    procedure.evidence(
        f"OPC-UA abnormal operation: maximum import {r.max_import_w:.0f} W",
        t_step_s=t_signal_s,
        end_s=end_s,
        windows=[response_window(t_signal_s, r.response_time_s)],
    )
