"""How well the lab reproduced the field: normalized RMSE and response-time difference.

Both traces are compared in field units (the lab's divided by the bench
ratio) on the field's time grid, time 0 being the event's start.

- NRMSE: RMSE of lab minus field over the field record, divided by the
  field trace's range (2nd to 98th percentile, so noise spikes do not set it).
- Response time: from the trigger entry until a trace has covered 90 % of
  the field's step (the field's mean over the last 10 s of the response
  window minus its mean over the 10 s before the trigger), each trace from
  its own level before the trigger. A lab that never gets there has no
  response time and fails.

Each is a Result with criterion, measured value, limit and margin, named
REPLAY-NRMSE and REPLAY-RT.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flexbench.core import Verdict
from flexbench.lab.evaluate import ERROR, FAIL, PASS, Result
from flexbench.lab.replay.event import ReplayEvent

LEVEL_S = 10.0  # seconds averaged for a level before the trigger and at the end of the window
STEP_FRACTION = 0.9  # response: this share of the field's step covered
MIN_STEP_FRACTION = 0.05  # a field step smaller than this share of its range cannot be timed


@dataclass
class Score:
    nrmse: float | None
    field_response_s: float | None
    lab_response_s: float | None
    response_diff_s: float | None
    field_step: float | None
    trigger_t_s: float | None
    results: list[Result]

    @property
    def verdict(self) -> Verdict:
        verdicts = {r.verdict for r in self.results}
        return ERROR if ERROR in verdicts else FAIL if FAIL in verdicts else PASS

    def as_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "nrmse": self.nrmse,
            "field_response_s": self.field_response_s,
            "lab_response_s": self.lab_response_s,
            "response_diff_s": self.response_diff_s,
            "field_step": self.field_step,
            "trigger_t_s": self.trigger_t_s,
        }


def lab_on_field_grid(field_t: np.ndarray, lab_t: np.ndarray, lab_y: np.ndarray) -> np.ndarray:
    """Lab values at the field's times (NaN where the lab has no samples around)."""
    ok = np.isfinite(lab_y)
    lab_t, lab_y = lab_t[ok], lab_y[ok]
    out = np.full(len(field_t), np.nan)
    if len(lab_t) < 2:
        return out
    inside = (field_t >= lab_t[0]) & (field_t <= lab_t[-1])
    out[inside] = np.interp(field_t[inside], lab_t, lab_y)
    return out


def nrmse(field_y: np.ndarray, lab_y: np.ndarray) -> float | None:
    both = np.isfinite(field_y) & np.isfinite(lab_y)
    if both.sum() < 2:
        return None
    span = float(np.percentile(field_y[both], 98) - np.percentile(field_y[both], 2))
    rmse = float(np.sqrt(np.mean((lab_y[both] - field_y[both]) ** 2)))
    return rmse / max(span, 1e-9)


def _mean(t: np.ndarray, y: np.ndarray, start_s: float, end_s: float) -> float | None:
    m = (t >= start_s) & (t <= end_s) & np.isfinite(y)
    return float(y[m].mean()) if m.any() else None


def response_s(t: np.ndarray, y: np.ndarray, t0_s: float, window_s: float, step: float) -> float | None:
    """Time after t0 until the trace first covers STEP_FRACTION of `step` from its level before t0."""
    before = _mean(t, y, t0_s - LEVEL_S, t0_s)
    if before is None:
        return None
    target = before + STEP_FRACTION * step
    m = (t >= t0_s) & (t <= t0_s + window_s) & np.isfinite(y)
    tt, yy = t[m], y[m]
    hit = np.flatnonzero(yy <= target) if step < 0 else np.flatnonzero(yy >= target)
    return float(tt[hit[0]] - t0_s) if hit.size else None


def score(replay: ReplayEvent, lab_t_s: np.ndarray, lab_field_units: np.ndarray) -> Score:
    """Score the lab trace (times from the event start, field units) against the field trace."""
    spec = replay.score
    channel = spec.channel
    field = replay.event.field
    field_t = field["time_s"].to_numpy(float)
    field_y = field[channel].to_numpy(float)
    lab_y = lab_on_field_grid(field_t, np.asarray(lab_t_s, float), np.asarray(lab_field_units, float))
    results: list[Result] = []

    err = nrmse(field_y, lab_y)
    criterion = f"NRMSE of {channel} (RMSE / field range) at or below {spec.nrmse_max:g}"
    if err is None:
        results.append(Result.error("REPLAY-NRMSE", criterion, "no lab samples over the field record"))
    else:
        ok = err <= spec.nrmse_max
        results.append(
            Result(
                requirement_id="REPLAY-NRMSE",
                criterion=criterion,
                measured=err,
                limit=spec.nrmse_max,
                unit="",
                margin=spec.nrmse_max - err,
                verdict=PASS if ok else FAIL,
                message=f"NRMSE {err:.3f}" + ("" if ok else f", {err - spec.nrmse_max:.3f} above the band"),
            )
        )

    trigger = replay.trigger_entry()
    field_rt = lab_rt = diff = step = t0 = None
    tol = spec.response_time_tolerance_s
    if trigger is None:
        results.append(Result.error("REPLAY-RT", "response time", "the timeline has no entry after the start"))
    else:
        t0 = trigger.t_s
        window = spec.response_window_s
        criterion = (
            f"lab response time within {tol:g} s of the field's ({STEP_FRACTION:.0%} of the field's step "
            f"after entry {trigger.number}, {trigger.action} at {t0:g} s)"
        )
        before = _mean(field_t, field_y, t0 - LEVEL_S, t0)
        after = _mean(field_t, field_y, t0 + window - LEVEL_S, t0 + window)
        span = float(np.nanpercentile(field_y, 98) - np.nanpercentile(field_y, 2))
        if before is None or after is None or abs(after - before) < MIN_STEP_FRACTION * max(span, 1e-9):
            results.append(
                Result.error("REPLAY-RT", criterion, "the field trace has no step to time after the trigger")
            )
        else:
            step = after - before
            field_rt = response_s(field_t, field_y, t0, window, step)
            lab_rt = response_s(field_t, lab_y, t0, window, step)
            if field_rt is None:
                results.append(Result.error("REPLAY-RT", criterion, "the field trace never covers its own step"))
            elif lab_rt is None:
                results.append(
                    Result(
                        requirement_id="REPLAY-RT",
                        criterion=criterion,
                        measured=None,
                        limit=tol,
                        unit="s",
                        margin=None,
                        verdict=FAIL,
                        message=f"the lab never covered {STEP_FRACTION:.0%} of the field's step in the "
                        f"{window:g} s window (field: {field_rt:.1f} s)",
                    )
                )
            else:
                diff = lab_rt - field_rt
                ok = abs(diff) <= tol
                results.append(
                    Result(
                        requirement_id="REPLAY-RT",
                        criterion=criterion,
                        measured=diff,
                        limit=tol,
                        unit="s",
                        margin=tol - abs(diff),
                        verdict=PASS if ok else FAIL,
                        message=f"lab {lab_rt:.1f} s, field {field_rt:.1f} s: {diff:+.1f} s"
                        + ("" if ok else f", {abs(diff) - tol:.1f} s outside the band"),
                    )
                )
    return Score(err, field_rt, lab_rt, diff, step, t0, results)
