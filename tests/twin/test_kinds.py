"""Static (month x hour), variable (day-ahead) and dynamic (measured state) envelopes."""

from __future__ import annotations

import time

import numpy as np
import pytest

from flexbench.twin import MeasuredState, compute_envelope, synthetic_profiles
from flexbench.twin.operating_envelopes import estimate_state
from flexbench.twin.profiles import month_hour_worst
from flexbench.twin.verify import check_envelope


def test_static_envelope_is_month_by_hour_and_safe(ieee13):
    year = synthetic_profiles(ieee13.sites, "2025-01-01", 8760, "1h", seed=7)
    env = compute_envelope(ieee13, "static", profiles=year)
    assert env.shape == (15, 288)
    assert sorted(set(env.intervals["month"])) == list(range(1, 13))
    assert sorted(set(env.intervals["hour"])) == list(range(24))
    assert env.intervals["start"].isna().all()
    # firm is the worst month-hour: the traditional, whole-year value
    assert np.allclose(env.firm_import_w, np.maximum(env.import_limit_w.min(axis=1), 0))
    keys, imp, exp = month_hour_worst(year.for_sites(ieee13.site_ids))
    report = check_envelope(
        ieee13, env, imp.load_w.to_numpy(), imp.pv_w.to_numpy(), exp.load_w.to_numpy(), exp.pv_w.to_numpy()
    )
    assert report.ok, report.summary()


def test_variable_envelope_covers_72_hours_and_firm_below_all(ieee123):
    env = compute_envelope(
        ieee123, "variable", start="2025-07-14", horizon="72h", resolution="1h", sites=["s1a", "s47", "s65a", "s76a"]
    )
    assert env.shape == (4, 72)
    assert (env.intervals["start"].diff().dropna() == np.timedelta64(3600, "s")).all()
    assert np.all(env.import_limit_w >= env.firm_import_w[:, None] - 1e-6)
    # non-firm capacity exists in some intervals: the point of a variable envelope
    assert env.nonfirm_import_w.max() > 0


def test_variable_envelope_from_history_uses_a_forecast(ieee13):
    hist = synthetic_profiles(ieee13.sites, "2025-06-02", 24 * 28, "1h", seed=5)
    env = compute_envelope(ieee13, "variable", profiles=hist, start="2025-06-30", horizon="24h")
    assert env.shape == (15, 24) and env.verified


def test_dynamic_envelope_follows_the_measured_state(ieee123):
    sites = ["s1a", "s47"]
    low = MeasuredState("2025-07-14 18:00", {"s47": 20_000.0}, source_voltage_pu=1.0)
    started = time.monotonic()
    quiet = compute_envelope(ieee123, "dynamic", measured=low, sites=sites)
    elapsed = time.monotonic() - started
    busy = compute_envelope(
        ieee123,
        "dynamic",
        sites=sites,
        measured=MeasuredState("2025-07-14 18:00", {"s47": 300_000.0}, source_voltage_pu=1.0),
    )
    assert quiet.shape == (2, 1) and quiet.intervals["duration_s"][0] == 900
    assert quiet.forecast_import_w[1, 0] == pytest.approx(20_000.0)
    # a site measured at a heavy load has less import room left on top of it
    assert busy.import_limit_w[1, 0] - 300_000 < quiet.import_limit_w[1, 0] - 20_000
    assert elapsed < 5.0  # near-real-time on a 123-node feeder


def test_state_estimate_matches_feeder_head_power(ieee123):
    prior = synthetic_profiles(ieee123.sites, "2025-07-14 18:00", 1, "1h", seed=1)
    load, pv = prior.load_w.to_numpy()[0], prior.pv_w.to_numpy()[0]
    target = 1.2 * float((load - pv).sum())
    state = MeasuredState("2025-07-14 18:00", {"s1a": 30_000.0}, feeder_head_power_w=target)
    est_load, _ = estimate_state(ieee123, state, load, pv)
    assert est_load[ieee123.site_numbers(["s1a"])[0]] == pytest.approx(30_000.0)
    ieee123.set_operating_point(est_load, pv)
    ieee123.solve_forecast()
    head = -ieee123.engine.dss.Circuit.TotalPower()[0] * 1000
    assert head == pytest.approx(target, rel=2e-3)
    ieee123.set_source_pu(1.0)


def test_parallel_workers_give_the_same_envelope(ieee123):
    kw = dict(start="2025-07-14", horizon="26h", resolution="1h")
    one = compute_envelope(ieee123, "variable", **kw)
    two = compute_envelope(ieee123, "variable", workers=2, **kw)
    assert np.allclose(one.import_limit_w, two.import_limit_w, rtol=1e-3, atol=1.0)
    assert np.allclose(one.export_limit_w, two.export_limit_w, rtol=1e-3, atol=1.0)
