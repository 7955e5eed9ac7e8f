"""Findings about the controller under test that no plan asks for: it stayed alive, it tells the truth.

- CTL-ALIVE: the controller process ran until the bench closed; a crash is a
  failed verdict naming the exit code, when, and the last lines of its log;
  a restart (its local API away, then back) is one too.
- CTL-TELEM: every PCC power reading the controller mirrored to the bench's
  2030.5 server during a test agrees with the plant's own PCC power (sampled
  from the virtual site as `truth.pcc_p_w`) within the bench file's
  telemetry_tolerance_w, at some instant within TELEMETRY_WINDOW_S before
  the reading's time stamp (a reading is stamped in whole seconds when it is
  posted, and reflects a meter reading taken some control periods before:
  late is tolerated, wrong or stale for longer is not). Once the bench
  has kept the site meter from the controller for the controller's declared
  fail-safe time (METER_SILENT_CHANNEL at 1 from then), the controller has no
  reading it may mirror: one stamped more than TELEMETRY_WINDOW_S later is
  stale by construction, and a failure whatever its value (a controller that
  keeps going without its meter mirrors its last reading as if it were
  current). Tied to the declared time, the rule never fails a controller that
  goes to its fail-safe as CTL-METER requires, however slow its host.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from flexbench.core import channels
from flexbench.lab.evaluate import FAIL, PASS, Result

if TYPE_CHECKING:
    from flexbench.lab.bench import Bench
    from flexbench.lab.recorder import SampleLog

TRUTH_CHANNEL = channels.TRUTH_PCC_P_W
METER_SILENT_CHANNEL = channels.FAULT_METER_SILENT
TELEMETRY_WINDOW_S = 10.0
SITE_POWER = "Site active power (import positive)"


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
        readings = [
            r
            for r in bench.csip.headend.telemetry(bench.csip.lfdis[ctl.csip_device], since=int(start_s))
            if r["description"] == SITE_POWER and start_s + TELEMETRY_WINDOW_S <= r["time_s"] <= end_s
        ]
    except Exception:
        return None
    t, truth = recorder.series(TRUTH_CHANNEL, start_s, end_s + 1.0)
    if not readings or t.size == 0:
        return None
    tolerance_w = ctl.telemetry_tolerance_w
    criterion = (
        f"mirrored PCC power within {tolerance_w:g} W of the plant's, never a reading its silent meter cannot give"
    )
    silent_since = _meter_silent_since(recorder, start_s, end_s)
    stale = [r for r in readings if _stale(r["time_s"], silent_since)]
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
            f"over {TELEMETRY_WINDOW_S:g} s (stale); first {first['scaled_value']:.0f} W "
            f"{first['time_s'] - start_s:.1f} s into the test",
        )
    worst_w, worst = 0.0, None
    for r in readings:
        mask = (t >= r["time_s"] - TELEMETRY_WINDOW_S) & (t <= r["time_s"] + 1.0)
        if not mask.any():
            continue
        window = truth[mask]
        error_w = max(float(window.min()) - r["scaled_value"], r["scaled_value"] - float(window.max()), 0.0)
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
        message=f"{len(readings)} readings; worst {worst['scaled_value']:.0f} W, "
        f"{worst['time_s'] - start_s:.1f} s into the test, is {worst_w:.0f} W from the plant's PCC power",
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
    """A reading stamped over TELEMETRY_WINDOW_S into a span of meter silence: none could have been taken."""
    return any(a + TELEMETRY_WINDOW_S < time_s <= b for a, b in spans)


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
