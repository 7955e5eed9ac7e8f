"""Evaluation of recorded responses: signal assertions that return results, never bare booleans.

Each check returns a Result that names its requirement, states the criterion,
and carries the measured value, the limit it was held to, the margin (positive
means room to spare) and the verdict, so a report can say why a device failed.
"""

from __future__ import annotations

import numpy as np

from flexbench.core import Result, Verdict
from flexbench.core import worst as core_worst

PASS, FAIL, ERROR = Verdict.PASS, Verdict.FAIL, Verdict.ERROR
__all__ = ["ERROR", "FAIL", "PASS", "Result", "Verdict"]


# -- measures -------------------------------------------------------------------


def _after(t: np.ndarray, y: np.ndarray, t0_s: float) -> tuple[np.ndarray, np.ndarray]:
    mask = t >= t0_s
    return t[mask], y[mask]


def response_time_s(
    t: np.ndarray, y: np.ndarray, t_cmd_s: float, target: float, tolerance: float, direction: str = "down"
) -> float | None:
    """Time from the command until the signal first reaches target + tolerance (or - tolerance going up)."""
    tt, yy = _after(np.asarray(t, float), np.asarray(y, float), t_cmd_s)
    reached = yy <= target + tolerance if direction == "down" else yy >= target - tolerance
    idx = np.flatnonzero(reached)
    return float(tt[idx[0]] - t_cmd_s) if idx.size else None


def settling_time_s(t: np.ndarray, y: np.ndarray, t_cmd_s: float, target: float, band: float) -> float | None:
    """Time from the command after which the signal stays within target +/- band to the end of the record."""
    tt, yy = _after(np.asarray(t, float), np.asarray(y, float), t_cmd_s)
    if tt.size == 0:
        return None
    outside = np.flatnonzero(np.abs(yy - target) > band)
    if outside.size == 0:
        return 0.0
    last = outside[-1]
    if last + 1 >= tt.size:
        return None
    return float(tt[last + 1] - t_cmd_s)


def overshoot_fraction(t: np.ndarray, y: np.ndarray, t_cmd_s: float, initial: float, target: float) -> float:
    """Largest excursion past the target in the direction of travel, as a fraction of the step."""
    _, yy = _after(np.asarray(t, float), np.asarray(y, float), t_cmd_s)
    step = target - initial
    if yy.size == 0 or step == 0:
        return 0.0
    beyond = (yy - target) / step
    return float(max(beyond.max(), 0.0))


def steady_state_error(t: np.ndarray, y: np.ndarray, start_s: float, end_s: float, target: float) -> float | None:
    """Mean of the signal over [start_s, end_s] minus the target."""
    t = np.asarray(t, float)
    y = np.asarray(y, float)
    mask = (t >= start_s) & (t <= end_s) & np.isfinite(y)
    return float(y[mask].mean() - target) if mask.any() else None


def energy_above_limit_wh(t: np.ndarray, y: np.ndarray, limit: float | np.ndarray) -> float:
    """Energy (W x h) the signal spent above the limit, trapezoidal."""
    t = np.asarray(t, float)
    excess = np.clip(np.asarray(y, float) - limit, 0.0, None)
    if t.size < 2:
        return 0.0
    return float(np.sum((excess[1:] + excess[:-1]) / 2.0 * np.diff(t)) / 3600.0)


# -- assertions returning results ---------------------------------------------------


def reaches_within(
    requirement_id: str,
    t: np.ndarray,
    y: np.ndarray,
    *,
    t_cmd_s: float,
    target: float,
    tolerance: float,
    max_time_s: float,
    unit: str = "W",
    direction: str = "down",
) -> Result:
    """Pass when the signal reaches target (+/- tolerance) within max_time_s of the command."""
    criterion = (
        f"reaches {target:.0f} {unit} {'+' if direction == 'down' else '-'} {tolerance:.0f} {unit} "
        f"within {max_time_s:g} s of the command"
    )
    if len(t) == 0 or np.asarray(t).max() < t_cmd_s:
        return Result.error(requirement_id, criterion, "no samples after the command")
    rt = response_time_s(t, y, t_cmd_s, target, tolerance, direction)
    if rt is None:
        observed = float(np.asarray(t).max() - t_cmd_s)
        return Result(
            requirement_id=requirement_id,
            criterion=criterion,
            measured=None,
            limit=max_time_s,
            unit="s",
            margin=None,
            verdict=FAIL,
            message=f"never reached the limit in the {observed:.1f} s observed after the command",
        )
    verdict = PASS if rt <= max_time_s else FAIL
    message = (
        f"reached the limit {rt:.1f} s after the command"
        if verdict == PASS
        else f"too slow: reached the limit {rt:.1f} s after the command, {rt - max_time_s:.1f} s late"
    )
    return Result(
        requirement_id=requirement_id,
        criterion=criterion,
        measured=rt,
        limit=max_time_s,
        unit="s",
        margin=max_time_s - rt,
        verdict=verdict,
        message=message,
    )


def settles_within(
    requirement_id: str,
    t: np.ndarray,
    y: np.ndarray,
    *,
    t_step_s: float,
    end_s: float,
    limit: float,
    max_time_s: float,
    unit: str = "W",
    label: str = "",
) -> Result:
    """Pass when, after a step at t_step_s, the signal is at or below the limit from max_time_s on.

    The measured value is the response time: from the step to the last sample above the
    limit (0 when it never went above), over the observation up to end_s.
    """
    criterion = (
        f"{label + ' ' if label else ''}back at or below {limit:.5g} {unit} within {max_time_s:g} s "
        f"of the step and staying there"
    )
    t = np.asarray(t, float)
    y = np.asarray(y, float)
    mask = (t >= t_step_s) & (t <= end_s) & np.isfinite(y)
    if not mask.any():
        return Result.error(requirement_id, criterion, "no samples after the step")
    tt, yy = t[mask], y[mask]
    above = np.flatnonzero(yy > limit)
    peak = float(yy.max())
    if above.size == 0:
        rt = 0.0
    elif above[-1] + 1 >= tt.size:
        return Result(
            requirement_id=requirement_id,
            criterion=criterion,
            measured=None,
            limit=max_time_s,
            unit="s",
            margin=None,
            verdict=FAIL,
            message=f"still above the limit at the end of the observation ({yy[-1]:.5g} {unit}, "
            f"{tt[-1] - t_step_s:.1f} s after the step)",
            details={"peak": peak},
        )
    else:
        rt = float(tt[above[-1] + 1] - t_step_s)
    verdict = PASS if rt <= max_time_s else FAIL
    message = (
        f"within the limit {rt:.1f} s after the step (peak {peak:.5g} {unit})"
        if verdict == PASS
        else f"too slow: above the limit until {rt:.1f} s after the step, {rt - max_time_s:.1f} s late "
        f"(peak {peak:.5g} {unit})"
    )
    return Result(
        requirement_id=requirement_id,
        criterion=criterion,
        measured=rt,
        limit=max_time_s,
        unit="s",
        margin=max_time_s - rt,
        verdict=verdict,
        message=message,
        details={"peak": peak},
    )


def stays_at_or_below(
    requirement_id: str,
    t: np.ndarray,
    y: np.ndarray,
    *,
    start_s: float,
    end_s: float,
    limit: float,
    unit: str = "W",
    label: str = "",
    t_cmd_s: float = 0.0,
) -> Result:
    """Pass when the signal never exceeds the limit over the window [start_s, end_s].

    The criterion states the window relative to `t_cmd_s` (the command), as a person reads it.
    """
    after = " after the command" if t_cmd_s else ""
    criterion = (
        f"{label + ' ' if label else ''}at or below {limit:.5g} {unit} "
        f"from {round(start_s - t_cmd_s, 1):g} s to {round(end_s - t_cmd_s, 1):g} s{after}"
    )
    t = np.asarray(t, float)
    y = np.asarray(y, float)
    mask = (t >= start_s) & (t <= end_s) & np.isfinite(y)
    if not mask.any():
        return Result.error(requirement_id, criterion, "no samples in the window")
    peak = float(y[mask].max())
    margin = limit - peak
    energy = energy_above_limit_wh(t[mask], y[mask], limit)
    verdict = PASS if margin >= 0 else FAIL
    message = (
        f"peak {peak:.5g} {unit}, {margin:.4g} {unit} below the limit"
        if verdict == PASS
        else f"exceeded the limit by {-margin:.4g} {unit} (peak {peak:.5g} {unit}, {energy:.2f} Wh above the limit)"
    )
    return Result(
        requirement_id=requirement_id,
        criterion=criterion,
        measured=peak,
        limit=limit,
        unit=unit,
        margin=margin,
        verdict=verdict,
        message=message,
        details={"energy_above_limit_wh": energy, "samples": int(mask.sum())},
    )


def worst(results: list[Result]) -> str:
    """The verdict of a set of results: the worst of theirs (PASS for none)."""
    return core_worst([r.verdict for r in results])
