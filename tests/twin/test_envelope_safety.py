"""Safety: with every site at its allocated limit at once, a full power flow finds no violation."""

from __future__ import annotations

import numpy as np
import pytest

from flexbench.twin import compute_envelope, synthetic_profiles
from flexbench.twin.verify import check_envelope

START = "2025-07-14"


def _run(twin, allocation, hours, sites=None, seed=3, pv_share=0.4, method="fast"):
    prof = synthetic_profiles(twin.sites, START, hours, "1h", seed=seed, pv_share=pv_share)
    env = compute_envelope(
        twin,
        "variable",
        sites=sites,
        profiles=prof,
        start=START,
        horizon=f"{hours}h",
        resolution="1h",
        allocation=allocation,
        method=method,
    )
    report = check_envelope(twin, env, prof.load_w.to_numpy(), prof.pv_w.to_numpy())
    return env, report


@pytest.mark.parametrize("allocation", ["equal", "proportional", "max-total"])
def test_ieee13_all_limits_at_once(ieee13, allocation):
    env, report = _run(ieee13, allocation, 24)
    assert env.verified
    assert report.ok, report.summary()


def test_ieee13_reference_method_allocations_are_safe_too(ieee13):
    for allocation in ("equal", "max-total"):
        env, report = _run(ieee13, allocation, 4, method="reference")
        assert env.verified and env.method == "reference"
        assert report.ok, report.summary()


@pytest.mark.parametrize("allocation", ["equal", "proportional", "max-total"])
def test_ieee123_all_limits_at_once(ieee123, allocation):
    env, report = _run(ieee123, allocation, 24)
    assert env.verified
    assert report.ok, report.summary()
    if allocation != "max-total":
        # the allocation leaves room: not everyone is held at the forecast
        assert (env.import_limit_w > env.forecast_import_w + 1.0).mean() > 0.5


def test_ieee8500_sample_all_limits_at_once(ieee8500):
    rng = np.random.default_rng(5)
    sites = sorted(rng.choice(ieee8500.site_ids, 40, replace=False).tolist())
    for allocation in ("equal", "proportional"):
        env, report = _run(ieee8500, allocation, 3, sites=sites)
        assert env.verified
        assert report.ok, report.summary()


def test_limits_bracket_the_forecast_and_firm_is_the_worst_interval(ieee123):
    env, _ = _run(ieee123, "equal", 24)
    assert np.all(env.import_limit_w >= env.forecast_import_w - 1e-6)
    assert np.all(-env.export_limit_w <= env.forecast_import_w + 1e-6)
    assert np.allclose(env.firm_import_w, np.maximum(env.import_limit_w.min(axis=1), 0))
    assert np.all(env.nonfirm_import_w >= 0) and np.all(env.nonfirm_export_w >= 0)
