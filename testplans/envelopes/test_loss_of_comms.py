"""Loss of communication: the site falls back to the firm limits of the twin's envelope.

The firm limits (the worst interval of the location's envelope, mapped to
the site) are the transport's fallback: DefaultDERControl over 2030.5, the
site's firm limits over OPC-UA. A schedule of the intervals with the most
non-firm export is sent, the site exports at its limits (PV at its rating,
a light load), and communication is lost in the first interval:

- 2030.5 (CSIP-LOSS): the server goes away. The site keeps following its
  cached schedule (each interval's export limit, used, not dropped to firm),
  then, with no event left, the firm limits within the response window.
- OPC-UA (OPC-LOSS): the heartbeat stops. After the bench's comm_loss_s the
  site has lost communication and must be at its firm limits within the
  response window, although the server still shows the non-firm schedule.
"""

import math

import numpy as np
import pytest

from flexbench.lab import evaluate

PROFILE = "envelopes"


@pytest.mark.requirement_by_transport(csip="CSIP-LOSS", opcua="OPC-LOSS")
def test_firm_limits_on_loss_of_communication(plan, envelope, site, link, verdicts, clock):
    if getattr(link, "through_device", False):
        pytest.skip("the heartbeat is for sites of the envelope server; this PCS is written through its own server")
    rid = link.loss_requirement
    r = site.requirements.requirement(rid)
    window_s, accuracy_w = r.number("response_window_s"), r.number("meter_accuracy_w")
    cached_mode = link.name == "csip"
    band_w = r.number("cached_band_w") if cached_mode else 0.0
    guard_s = r.number("end_guard_s") if cached_mode else 0.0
    n = site.plan.integer("loss_cached_intervals")
    hold_s = site.plan.number("loss_hold_s")
    intervals = envelope.intervals
    if not 1 <= n <= len(intervals):
        raise plan.error("loss_cached_intervals", f"must be between 1 and the envelope's {len(intervals)} intervals")
    k = max(range(len(intervals) - n + 1), key=lambda j: min(i.export_limit_w for i in intervals[j : j + n]))
    cached = intervals[k : k + n]
    firm_w = envelope.firm.export_limit_w
    lowest_w = min(i.export_limit_w for i in cached)
    if lowest_w - band_w <= firm_w + 2 * accuracy_w:
        raise plan.error(
            "site_export_w",
            f"the envelope's export limits ({lowest_w:.0f} W at best over "
            f"{n} intervals) are too close to the firm {firm_w:.0f} W to tell one from the other",
        )
    site.check_binds("export", max(i.export_limit_w for i in cached), accuracy_w)
    site.stress("export")
    start_s = site.settle()
    t0 = math.ceil(clock.now() + site.plan.number("start_delay_s"))
    schedule = plan.on_bench(cached, t0)
    end_s = schedule[-1].end_s
    if not cached_mode and t0 + 2 * window_s + link.comm_loss_s + hold_s > end_s:
        raise plan.error(
            "loss_cached_intervals",
            f"the schedule ({end_s - t0} bench s) must outlast the heartbeat "
            f"timeout ({link.comm_loss_s:g} s), the response window and loss_hold_s",
        )
    link.publish(schedule)
    clock.sleep_until(t0)
    site.record_limits(schedule[0].limits)
    clock.sleep_until(t0 + window_s)
    t_loss = clock.now()
    site.recorder.event("communication_lost", transport=link.name)
    with link.lost():
        if cached_mode:
            for item in schedule[1:]:
                clock.sleep_until(item.start_s)
                site.record_limits(item.limits)
            t_firm = float(end_s)
        else:
            t_firm = t_loss + link.comm_loss_s
        clock.sleep_until(t_firm)
        site.record_limits(envelope.firm)
        clock.sleep(window_s + hold_s)
    site.recorder.event("communication_restored", transport=link.name)
    step = site.hold(start_s, t_loss, hold_s=0)
    link.withdraw()
    site.record_limits(None)
    t, export_w = site.flow("export", step.start_s, step.end_s)
    if cached_mode:
        for number, item in enumerate(schedule):
            begin_s, stop_s = item.start_s + window_s, item.end_s - guard_s
            label = f"cached interval {number}"
            verdicts.check(
                evaluate.stays_at_or_below(
                    rid,
                    t,
                    export_w,
                    start_s=begin_s,
                    end_s=stop_s,
                    limit=item.export_limit_w + accuracy_w,
                    t_cmd_s=t_loss,
                    label=f"{label}: PCC export",
                )
            )
            verdicts.check(_kept(rid, t, export_w, begin_s, stop_s, item.export_limit_w, band_w, firm_w, label))
    verdicts.check(
        evaluate.stays_at_or_below(
            rid,
            t,
            export_w,
            start_s=t_firm + window_s,
            end_s=step.end_s,
            limit=firm_w + accuracy_w,
            t_cmd_s=t_loss,
            label="firm export limit + meter accuracy: PCC export",
        )
    )
    site.response_time_s = t_firm + window_s - t_loss
    site.evidence(
        verdicts,
        step,
        f"{envelope.feeder} {envelope.site_id}: communication lost over {link.name}, firm export {firm_w:.0f} W",
    )


def _kept(
    rid: str, t, export_w, start_s: float, end_s: float, limit_w: float, band_w: float, firm_w: float, label: str
) -> evaluate.Result:
    """The cached interval is used: export stays near its limit instead of dropping to the firm limit."""
    criterion = (
        f"{label} kept: PCC export within {band_w:.0f} W below its {limit_w:.0f} W limit "
        f"(not dropped to the firm {firm_w:.0f} W)"
    )
    mask = (t >= start_s) & (t <= end_s) & np.isfinite(export_w)
    if not mask.any():
        return evaluate.Result.error(rid, criterion, "no samples in the interval")
    low_w = float(export_w[mask].min())
    floor_w = limit_w - band_w
    return evaluate.Result(
        requirement_id=rid,
        criterion=criterion,
        measured=low_w,
        limit=floor_w,
        unit="W",
        margin=low_w - floor_w,
        verdict=evaluate.PASS if low_w >= floor_w else evaluate.FAIL,
        message=f"lowest export {low_w:.0f} W in the interval",
    )
