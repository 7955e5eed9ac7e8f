import numpy as np
import pytest

from flexbench.lab import evaluate


def first_order(t, t_cmd, start, target, tau):
    y = np.where(t < t_cmd, start, target + (start - target) * np.exp(-(t - t_cmd) / tau))
    return y


T = np.arange(0.0, 120.0, 0.5)


def test_response_time_of_first_order_step_matches_analytic_value():
    y = first_order(T, 10.0, 10_000.0, 6_600.0, 5.0)
    rt = evaluate.response_time_s(T, y, 10.0, 6_600.0, 750.0)
    expected = 5.0 * np.log(3_400.0 / 750.0)
    assert rt == pytest.approx(expected, abs=0.5)


def test_reaches_within_passes_fast_and_fails_slow_response_with_margin():
    fast = evaluate.reaches_within(
        "LAP-RT", T, first_order(T, 10.0, 10_000, 6_600, 2.0), t_cmd_s=10.0, target=6_600, tolerance=750, max_time_s=30
    )
    slow = evaluate.reaches_within(
        "LAP-RT", T, first_order(T, 10.0, 10_000, 6_600, 25.0), t_cmd_s=10.0, target=6_600, tolerance=750, max_time_s=30
    )
    assert fast.verdict == "pass" and fast.margin > 0 and fast.unit == "s"
    assert slow.verdict == "fail" and slow.margin < 0
    assert "late" in slow.message and slow.requirement_id == "LAP-RT"


def test_never_reaching_the_limit_fails_with_reason():
    y = np.full_like(T, 10_000.0)
    r = evaluate.reaches_within("LAP-RT", T, y, t_cmd_s=10.0, target=0, tolerance=750, max_time_s=30)
    assert r.verdict == "fail" and r.measured is None and "never reached" in r.message


def test_stays_at_or_below_reports_peak_margin_and_energy():
    y = np.where((T > 60) & (T < 70), 8_000.0, 6_000.0)
    r = evaluate.stays_at_or_below("LAP-SS", T, y, start_s=50, end_s=100, limit=7_350)
    assert r.verdict == "fail"
    assert r.measured == 8_000.0 and r.margin == pytest.approx(-650.0)
    assert r.details["energy_above_limit_wh"] == pytest.approx(650 * 10 / 3600, rel=0.1)
    ok = evaluate.stays_at_or_below("LAP-SS", T, np.full_like(T, 7_000.0), start_s=50, end_s=100, limit=7_350)
    assert ok.verdict == "pass" and ok.margin == pytest.approx(350.0)


def test_no_samples_is_an_error_not_a_pass():
    r = evaluate.stays_at_or_below("LAP-SS", T, np.ones_like(T), start_s=500, end_s=600, limit=1)
    assert r.verdict == "error"


def test_settling_overshoot_and_steady_state_error():
    t = np.arange(0, 100, 0.1)
    y = 5_000 - 5_000 * np.exp(-0.1 * t) * np.cos(1.0 * t)  # rings around 5 kW
    assert evaluate.overshoot_fraction(t, y, 0.0, 0.0, 5_000) > 0.5
    ts = evaluate.settling_time_s(t, y, 0.0, 5_000, 250)
    assert 25 < ts < 35  # envelope exp(-0.1 t) * 5000 < 250 at t = 30
    assert evaluate.steady_state_error(t, y + 100, 80, 100, 5_000) == pytest.approx(100, abs=5)
    assert evaluate.energy_above_limit_wh(np.array([0, 3600.0]), np.array([10.0, 10.0]), 0.0) == pytest.approx(10.0)


def test_worst_verdict_order():
    def mk(v):
        return evaluate.Result(
            requirement_id="X", criterion="", measured=None, limit=None, unit="", margin=None, verdict=v, message=""
        )

    assert evaluate.worst([mk("pass"), mk("fail")]) == "fail"
    assert evaluate.worst([mk("fail"), mk("error")]) == "error"
    assert evaluate.worst([mk("pass")]) == "pass"


def test_settles_within_measures_last_exceedance():
    t = np.arange(0.0, 60.0, 0.1)
    y = np.where(t < 3.0, 5_000.0, 2_800.0)
    ok = evaluate.settles_within("PCS-EXP", t, y, t_step_s=0.0, end_s=60, limit=3_250, max_time_s=5)
    assert ok.verdict == "pass" and ok.measured == pytest.approx(3.0, abs=0.11)
    late = evaluate.settles_within(
        "PCS-EXP", t, np.where(t < 8.0, 5_000.0, 2_800.0), t_step_s=0.0, end_s=60, limit=3_250, max_time_s=5
    )
    assert late.verdict == "fail" and late.margin == pytest.approx(-3.0, abs=0.11)
    ringing = 3_000 + 600 * np.sin(t)
    never = evaluate.settles_within("PCS-EXP", t, ringing, t_step_s=0.0, end_s=60, limit=3_250, max_time_s=5)
    assert never.verdict == "fail" and never.measured > 50 or "still above" in never.message
