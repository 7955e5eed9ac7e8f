"""Findings about the controller under test that no plan asks for: it stayed alive, it tells the truth.

- CTL-ALIVE: the controller process ran until the bench closed; a crash is a
  failed verdict naming the exit code, when, and the last lines of its log;
  a restart (its local API away, then back) is one too.
- CTL-TELEM: every PCC power reading the controller mirrored to the bench's
  2030.5 server during a test agrees with the plant's own PCC power (sampled
  from the virtual site as `truth.pcc_p_w`) within the bench file's
  telemetry_tolerance_w, at some instant within TELEMETRY_WINDOW_S before
  the reading's time stamp, or STAMP_SLACK_S after it (stamped in whole
  seconds, when the meter was read or when it was posted: late is tolerated,
  wrong or stale for longer is not).
  A reading is the site's active power by its meaning, whatever its
  description: on a MirrorUsagePoint whose roleFlags mark the premises
  aggregation point, in W (uom 38), of kind power (37), for the total of the
  phases; export positive when its flowDirection is reverse (19). A controller
  that mirrors readings but none of these gets NOT APPLICABLE, with what it
  mirrored, never a silent gap in the matrix. Once the bench
  has kept the site meter from the controller for the controller's declared
  fail-safe time (METER_SILENT_CHANNEL at 1 from then), the controller has no
  reading it may mirror: one stamped more than TELEMETRY_WINDOW_S later is
  stale by construction, and a failure whatever its value (a controller that
  keeps going without its meter mirrors its last reading as if it were
  current). Tied to the declared time, the rule never fails a controller that
  goes to its fail-safe as CTL-METER requires, however slow its host.
- Site writes: every write a site device refused, or took with registers it
  ignored (a model header, read-only points), during a test: not a verdict
  but what may explain one, listed beside the test's verdicts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flexbench.core import channels
from flexbench.core.results import Verdict
from flexbench.lab.evaluate import FAIL, PASS, Result

if TYPE_CHECKING:
    from flexbench.lab.bench import Bench
    from flexbench.lab.recorder import SampleLog
    from flexbench.signals.csip.record_types import TelemetryRecord

TRUTH_CHANNEL = channels.TRUTH_PCC_P_W
METER_SILENT_CHANNEL = channels.FAULT_METER_SILENT
TELEMETRY_WINDOW_S = 10.0
# a stamp is in whole seconds (truncated) and a client's clock agrees with the server's Time to about half a
# second: the instant a reading was taken may lie this long after its stamp
STAMP_SLACK_S = 2.0
PREMISES_AGGREGATION_POINT = 0x02  # roleFlags bit: the MirrorUsagePoint measures the whole site
UOM_W, KIND_POWER, FLOW_REVERSE = 38, 37, 19
TOTAL_PHASES = {None, 0, 224}  # PhaseCode not applicable, or ABC


def site_power_w(reading: TelemetryRecord) -> float | None:
    """A mirrored reading as the site's import in W, or None when it is not the site's active power."""
    try:
        role_flags = int(str(reading.role_flags or "0"), 16)
    except ValueError:
        return None
    if not role_flags & PREMISES_AGGREGATION_POINT or reading.uom != UOM_W:
        return None
    if reading.kind not in (None, KIND_POWER) or reading.phase not in TOTAL_PHASES:
        return None
    value_w = float(reading.scaled_value)
    return -value_w if reading.flow_direction == FLOW_REVERSE else value_w


@dataclass(frozen=True, slots=True)
class _SitePower:
    """A mirrored reading that is the site's active power: its time stamp and the site's import in W."""

    time_s: int
    site_w: float


def bench_clock(t_s: float) -> str:
    """A bench time as a time of day (UTC), to the tenth of a second: what a reader can place."""
    stamp = dt.datetime.fromtimestamp(t_s, dt.UTC)
    return stamp.strftime("%H:%M:%S.") + f"{stamp.microsecond // 100_000}"


def restarted(supervisor: Any) -> Result | None:
    """CTL-ALIVE for each restart not yet reported; None when there is none."""
    if supervisor is None or len(supervisor.restarts) <= supervisor.restarts_reported:
        return None
    new = supervisor.restarts[supervisor.restarts_reported :]
    supervisor.restarts_reported = len(supervisor.restarts)
    spans = ", ".join(f"{bench_clock(r['down_s'])} to {bench_clock(r['up_s'])}" for r in new)
    return Result(
        requirement_id="CTL-ALIVE",
        criterion="the controller runs until the bench stops it",
        measured=float(len(new)),
        limit=0.0,
        unit="restarts",
        margin=None,
        verdict=FAIL,
        message=f"the controller restarted: its local API was away from {spans} (bench clock); its log "
        f"({supervisor.log_file.name}) ends: {new[-1]['log_tail']}",
        details={"restarts": new},
    )


def alive(supervisor: Any) -> Result | None:
    """CTL-ALIVE, once, when the controller has ended on its own; None while it runs."""
    if supervisor is None or supervisor.exit is None or supervisor.reported:
        return None
    supervisor.reported = True
    e = supervisor.exit
    return Result(
        requirement_id="CTL-ALIVE",
        criterion="the controller runs until the bench stops it",
        measured=float(e["returncode"]),
        limit=None,
        unit="",
        margin=None,
        verdict=FAIL,
        message=f"the controller crashed: exited with code {e['returncode']} at {bench_clock(e['t_s'])} "
        f"(bench clock); its log ({supervisor.log_file.name}) ends: {e['log_tail']}",
        details={"exit": e},
    )


def telemetry(bench: Bench, recorder: SampleLog, start_s: float, end_s: float) -> Result | None:
    """CTL-TELEM for the readings mirrored in [start_s, end_s]; None when there are none to judge."""
    ctl = bench.config.controller
    if ctl is None or bench.csip is None or ctl.csip_device is None:
        return None
    try:
        mirrored = [
            r
            for r in bench.csip.headend.telemetry(bench.csip.lfdis[ctl.csip_device], since=int(start_s))
            if start_s + TELEMETRY_WINDOW_S <= r.time_s <= end_s
        ]
    except Exception:
        return None
    tolerance_w = ctl.telemetry_tolerance_w
    criterion = (
        f"mirrored PCC power within {tolerance_w:g} W of the plant's, never a reading its silent meter cannot give"
    )
    readings = [_SitePower(r.time_s, w) for r in mirrored if (w := site_power_w(r)) is not None]
    if mirrored and not readings:
        seen = sorted({f"{r.description!r} (roleFlags {r.role_flags}, uom {r.uom})" for r in mirrored})
        return Result(
            requirement_id="CTL-TELEM",
            criterion=criterion,
            verdict=Verdict.NOT_APPLICABLE,
            message=f"{len(mirrored)} readings mirrored, none of the site's total active power in W "
            f"(roleFlags with the premises aggregation point, uom 38, kind 37): {', '.join(seen)}",
        )
    t, truth = recorder.series(TRUTH_CHANNEL, start_s, end_s + STAMP_SLACK_S)
    if not readings or t.size == 0:
        return None
    silent_since = _meter_silent_since(recorder, start_s, end_s)
    stale = [r for r in readings if _stale(r.time_s, silent_since)]
    if stale:
        first = stale[0]
        return Result(
            requirement_id="CTL-TELEM",
            criterion=criterion,
            measured=float(len(stale)),
            limit=0.0,
            unit="readings",
            margin=None,
            verdict=FAIL,
            message=f"{len(stale)} of {len(readings)} readings mirrored while the site meter had been silent for "
            f"over {TELEMETRY_WINDOW_S:g} s (stale); first {first.site_w:.0f} W "
            f"{first.time_s - start_s:.1f} s into the test",
        )
    worst_w, worst = 0.0, None
    for r in readings:
        mask = (t >= r.time_s - TELEMETRY_WINDOW_S) & (t <= r.time_s + STAMP_SLACK_S)
        if not mask.any():
            continue
        window = truth[mask]
        error_w = max(float(window.min()) - r.site_w, r.site_w - float(window.max()), 0.0)
        if worst is None or error_w > worst_w:
            worst_w, worst = error_w, r
    if worst is None:
        return None
    ok = worst_w <= tolerance_w
    return Result(
        requirement_id="CTL-TELEM",
        criterion=criterion,
        measured=worst_w,
        limit=tolerance_w,
        unit="W",
        margin=tolerance_w - worst_w,
        verdict=PASS if ok else FAIL,
        message=f"{len(readings)} readings; worst {worst.site_w:.0f} W, "
        f"{worst.time_s - start_s:.1f} s into the test, is {worst_w:.0f} W from the plant's PCC power",
    )


def _meter_silent_since(recorder: SampleLog, start_s: float, end_s: float) -> list[tuple[float, float]]:
    """Spans (silent from, silent until) of the site meter as the bench recorded them, over the test."""
    t, state = recorder.series(METER_SILENT_CHANNEL, 0.0, end_s + 1.0)
    spans: list[tuple[float, float]] = []
    began: float | None = None
    for ti, on in zip(t, state):
        if on > 0.5 and began is None:
            began = float(ti)
        elif on <= 0.5 and began is not None:
            spans.append((began, float(ti)))
            began = None
    if began is not None:
        spans.append((began, end_s + 1.0))
    return [(a, b) for a, b in spans if b >= start_s]


def _stale(time_s: float, spans: list[tuple[float, float]]) -> bool:
    """A reading stamped over TELEMETRY_WINDOW_S into a span of meter silence: none could have been taken. One
    taken as the meter came back may be stamped up to STAMP_SLACK_S before it (whole seconds)."""
    return any(a + TELEMETRY_WINDOW_S < time_s <= b - STAMP_SLACK_S for a, b in spans)


def site_writes(bench: Bench, start_s: float, end_s: float) -> list[str]:
    """The site devices' refused or partly ignored writes in [start_s, end_s]; none on a site that cannot tell."""
    site = getattr(getattr(bench, "virtual_lab", None), "site", None)
    findings = getattr(site, "write_findings", None)
    return list(findings(start_s, end_s)) if callable(findings) else []


def truth_source(site: Any) -> Any:
    """A recorder source sampling the plant's PCC power (and each device's output) from the virtual site."""

    def read() -> dict[str, float]:
        truth = site.truth()
        values = {TRUTH_CHANNEL: float(truth["pcc_p_w"])}
        for name, device in truth.get("devices", {}).items():
            p_w = device.get("p_w") if isinstance(device, dict) else None
            if isinstance(p_w, (int, float)):
                values[f"{channels.TRUTH}.{name}.{channels.P_W}"] = float(p_w)
        return values

    return read
