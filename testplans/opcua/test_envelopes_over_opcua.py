"""Operating envelopes over OPC-UA: a limit step (OE-NRT), a schedule (OE-FOLLOW), loss of the
heartbeat (OPC-LOSS) and the abnormal-operation signal (ABN-IMP), each judged at the PCC."""

import pytest

from flexbench.core import Envelope
from flexbench.lab import evaluate

PROFILE = "opcua"


def _light_load_export(site):
    site.stress("export")


@pytest.mark.requirement("OE-NRT")
def test_limit_step_obeyed_in_near_real_time(site, verdicts, clock):
    r = site.requirements.requirement("OE-NRT")
    limit_w = site.plan.number("limit_step_export_w")
    budget_s, hold_s = r.number("response_time_s"), r.number("settled_hold_s")
    _light_load_export(site)
    start_s = site.settle()
    t_step = clock.now()
    site.opcua.set_limits(site.name, export_limit_w=limit_w)
    site.record_limit(export_limit_w=limit_w)
    bound_w = limit_w + r.number("meter_accuracy_w")
    while clock.now() < t_step + budget_s:  # watch until settled for hold_s, or the budget is spent
        clock.sleep(1.0)
        t, export_w = site.recorder.series("pcc.p_w", t_step, clock.now())
        above = t[-export_w > bound_w]
        since_s = above[-1] if above.size else t_step
        if clock.now() - since_s >= hold_s:
            break
    step = site.hold(start_s, t_step, hold_s=0)
    t, export_w = site.series("pcc.p_w", step, scale=-1.0)
    verdicts.check(
        evaluate.settles_within(
            "OE-NRT",
            t,
            export_w,
            t_step_s=t_step,
            end_s=step.end_s,
            limit=bound_w,
            max_time_s=budget_s,
            label="PCC export: new limit + meter accuracy,",
        )
    )
    site.opcua.set_limits(site.name)  # back to the limits in force
    site.record_limit()
    site.response_time_s = min(budget_s, step.end_s - t_step)
    site.evidence(verdicts, step, f"OPC-UA limit step to {limit_w:.0f} W export")


@pytest.mark.requirement("OE-FOLLOW")
def test_schedule_followed(site, verdicts, clock):
    r = site.requirements.requirement("OE-FOLLOW")
    window_s, interval_s = r.number("response_window_s"), r.number("interval_s")
    limits_w = r.numbers("export_limits_w")
    _light_load_export(site)
    start_s = site.settle()
    t0 = round(clock.now() + 2.0)
    intervals = [
        {
            "start": t0 + k * interval_s,
            "duration_s": interval_s,
            "import_limit_w": site.rated["rated_import_w"],
            "export_limit_w": w,
        }
        for k, w in enumerate(limits_w)
    ]
    site.opcua.publish_envelope(site.name, Envelope.of(intervals))
    for item in intervals:
        clock.sleep_until(item["start"])
        site.record_limit(export_limit_w=item["export_limit_w"])
    clock.sleep_until(t0 + len(limits_w) * interval_s)
    site.record_limit()
    step = site.hold(start_s, float(t0), hold_s=0)
    for item in intervals:
        site.held(
            verdicts,
            "OE-FOLLOW",
            step,
            start_s=item["start"] + window_s,
            end_s=item["start"] + interval_s - 1.0,
            limit_w=item["export_limit_w"] + r.number("meter_accuracy_w"),
            export=True,
            label=f"interval at +{item['start'] - t0:.0f} s: PCC export",
        )
    site.response_time_s = window_s
    site.evidence(verdicts, step, f"OPC-UA schedule: {', '.join(f'{w:.0f}' for w in limits_w)} W")


@pytest.mark.requirement("OPC-LOSS")
def test_heartbeat_loss_leads_to_firm_limits(site, verdicts, clock):
    if site.device is not None:
        pytest.skip("the heartbeat is for sites of the envelope server; this PCS is written through its own server")
    r = site.requirements.requirement("OPC-LOSS")
    firm_w = site.rated["firm_export_limit_w"]
    non_firm_w = r.number("non_firm_export_w")
    comm_loss_s = site.opcua.config.comm_loss_s
    _light_load_export(site)
    site.opcua.set_limits(site.name, export_limit_w=non_firm_w)
    site.record_limit(export_limit_w=non_firm_w)
    start_s = site.settle()
    t_loss = clock.now()
    site.opcua.pause_heartbeat([site.name])
    try:
        clock.sleep(comm_loss_s + r.number("response_window_s") + 20.0)
    finally:
        site.opcua.resume_heartbeat([site.name])
        site.opcua.set_limits(site.name)
    step = site.hold(start_s, t_loss, hold_s=0)
    site.record_limit()
    site.held(
        verdicts,
        "OPC-LOSS",
        step,
        start_s=t_loss + comm_loss_s + r.number("response_window_s"),
        end_s=step.end_s,
        limit_w=firm_w + r.number("meter_accuracy_w"),
        export=True,
        label="after the heartbeat timeout, the firm export limit: PCC export",
    )
    site.response_time_s = comm_loss_s
    site.evidence(verdicts, step, f"Heartbeat lost: {non_firm_w:.0f} W non-firm to {firm_w:.0f} W firm")


@pytest.mark.requirement("ABN-IMP")
def test_abnormal_signal_obeyed(site, verdicts, clock):
    r = site.requirements.requirement("ABN-IMP")
    max_import_w = r.number("max_import_w")
    site.stress("import")
    start_s = site.settle()
    t_signal = clock.now()
    site.opcua.signal_abnormal(max_import_w, r.number("duration_s"), [site.name])
    site.record_limit(import_limit_w=max_import_w)
    try:
        clock.sleep(r.number("duration_s") - 5.0)
    finally:
        site.opcua.clear_abnormal([site.name])
    step = site.hold(start_s, t_signal, hold_s=0)
    site.record_limit()
    t, import_w = site.series("pcc.p_w", step)
    verdicts.check(
        evaluate.settles_within(
            "ABN-IMP",
            t,
            import_w,
            t_step_s=t_signal,
            end_s=step.end_s,
            limit=max_import_w + r.number("meter_accuracy_w"),
            max_time_s=r.number("response_time_s"),
            label="PCC import: signaled maximum + meter accuracy,",
        )
    )
    site.response_time_s = r.number("response_time_s")
    site.evidence(verdicts, step, f"OPC-UA abnormal operation: maximum import {max_import_w:.0f} W")
