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

from flexbench.core import Result, Verdict
from flexbench.lab.envelope_plan import limit_w
from flexbench.lab.plan import PCC_EXPORT, Window


@pytest.mark.requirement_by_transport(csip="CSIP-LOSS", opcua="OPC-LOSS")
def test_firm_limits_on_loss_of_communication(procedure, twin_plan, envelope, site, link):
    if link.through_device:
        pytest.skip("the heartbeat is for sites of the envelope server; this PCS is written through its own server")
    rid = link.loss_requirement
    p, r = procedure.params, procedure.requirement(rid)
    window_s, accuracy_w = r.response_window_s, r.meter_accuracy_w
    cached_mode = link.name == "csip"  # 2030.5 caches the schedule; OPC-UA falls back on the heartbeat's loss
    band_w = r.cached_band_w if cached_mode else 0.0
    guard_s = r.end_guard_s if cached_mode else 0.0
    n = p.loss_cached_intervals
    intervals = envelope.intervals
    if not 1 <= n <= len(intervals):
        raise twin_plan.error(
            "loss_cached_intervals", f"must be between 1 and the envelope's {len(intervals)} intervals"
        )
    exports_w = [limit_w(i.limits, "export") for i in intervals]
    k = max(range(len(intervals) - n + 1), key=lambda j: min(exports_w[j : j + n]))
    cached = intervals[k : k + n]
    firm_w = limit_w(envelope.firm, "export")
    lowest_w = min(exports_w[k : k + n])
    if lowest_w - band_w <= firm_w + 2 * accuracy_w:
        raise twin_plan.error(
            "site_export_w",
            f"the envelope's export limits ({lowest_w:.0f} W at best over {n} intervals) are too close to the "
            f"firm {firm_w:.0f} W to tell one from the other",
        )
    twin_plan.check_binds("export", max(exports_w[k : k + n]), accuracy_w)

    procedure.step("the site exporting past its limits", clause="CPUC R.21-06-017, loss of communication")
    site.stress("export")
    procedure.wait(p.precondition_s)
    t0_s = math.ceil(procedure.now() + p.start_delay_s)
    schedule = twin_plan.on_bench(cached, t0_s)
    end_s = schedule[-1].end_s
    if not cached_mode and t0_s + 2 * window_s + link.comm_loss_s + p.loss_hold_s > end_s:
        raise twin_plan.error(
            "loss_cached_intervals",
            f"the schedule ({end_s - t0_s:g} bench s) must outlast the heartbeat timeout ({link.comm_loss_s:g} s), "
            "the response window and loss_hold_s",
        )
    procedure.step(f"the {n} intervals with the most non-firm export sent over {link.name}", start_s=t0_s)
    link.publish(schedule)
    procedure.wait_until(t0_s)
    site.show_limit(schedule[0].limits)
    t_loss_s = procedure.wait_until(t0_s + window_s)
    procedure.step(f"communication lost ({link.name})")
    with link.lost():
        if cached_mode:
            for item in schedule[1:]:
                procedure.wait_until(item.start_s)
                site.show_limit(item.limits)
            t_firm_s = float(end_s)
        else:
            t_firm_s = t_loss_s + link.comm_loss_s
        procedure.wait_until(t_firm_s)
        site.show_limit(envelope.firm)
        stop_s = procedure.wait(window_s + p.loss_hold_s)
    procedure.step(f"communication restored ({link.name})")
    link.withdraw()
    site.show_limit(None)

    if cached_mode:
        for number, item in enumerate(schedule):
            begin_s, until_s = item.start_s + window_s, item.end_s - guard_s
            label = f"cached interval {number}"
            item_w = limit_w(item.limits, "export")
            procedure.expect_at_or_below(
                rid,
                PCC_EXPORT,
                limit=item_w + accuracy_w,
                start_s=begin_s,
                end_s=until_s,
                t_cmd_s=t_loss_s,
                label=f"{label}: PCC export",
            )
            t, export_w = procedure.series(PCC_EXPORT, end_s=stop_s)
            procedure.record(_kept(rid, t, export_w, begin_s, until_s, item_w, band_w, firm_w, label))
    procedure.expect_at_or_below(
        rid,
        PCC_EXPORT,
        limit=firm_w + accuracy_w,
        start_s=t_firm_s + window_s,
        end_s=stop_s,
        t_cmd_s=t_loss_s,
        label="firm export limit + meter accuracy: PCC export",
    )
    procedure.evidence(
        f"{envelope.feeder} {envelope.site_id}: communication lost over {link.name}, firm export {firm_w:.0f} W",
        t_step_s=t_loss_s,
        windows=[
            Window(t_loss_s, t_firm_s + window_s, f"response window {round(t_firm_s + window_s - t_loss_s, 1):g} s")
        ],
    )


def _kept(
    rid: str, t, export_w, start_s: float, end_s: float, limit_w: float, band_w: float, firm_w: float, label: str
) -> Result:
    """The cached interval is used: export stays near its limit instead of dropping to the firm limit."""
    criterion = (
        f"{label} kept: PCC export within {band_w:.0f} W below its {limit_w:.0f} W limit "
        f"(not dropped to the firm {firm_w:.0f} W)"
    )
    mask = (t >= start_s) & (t <= end_s) & np.isfinite(export_w)
    if not mask.any():
        return Result.error(rid, criterion, "no samples in the interval")
    low_w = float(export_w[mask].min())
    floor_w = limit_w - band_w
    return Result(
        requirement_id=rid,
        criterion=criterion,
        measured=low_w,
        limit=floor_w,
        unit="W",
        margin=low_w - floor_w,
        verdict=Verdict.PASS if low_w >= floor_w else Verdict.FAIL,
        message=f"lowest export {low_w:.0f} W in the interval",
    )
