"""Tightness: single-site limits of the fast method against bisection with full power flows."""

from __future__ import annotations

import numpy as np

from flexbench.twin import synthetic_profiles
from flexbench.twin.compute import EnvelopeSettings, IntervalEngine

START = "2025-07-14 06:00"


def _compare(twin, sites, hours=2, seed=1):
    prof = synthetic_profiles(twin.sites, START, hours, "1h", seed=seed, pv_share=0.5)
    pos = twin.site_numbers(sites)
    fast = IntervalEngine(twin, pos, EnvelopeSettings(method="fast", allocation="none"))
    ref = IntervalEngine(twin, pos, EnvelopeSettings(method="reference", allocation="none"))
    rows = []
    for k in range(hours):
        load, pv = prof.load_w.to_numpy()[k], prof.pv_w.to_numpy()[k]
        f = fast.interval(load, pv, reset=True)
        r = ref.interval(load, pv, reset=True)
        for a, b in ((f.import_headroom_w, r.import_headroom_w), (f.export_headroom_w, r.export_headroom_w)):
            rows.append(np.c_[a, b])
        assert f.verified and r.verified
    got = np.vstack(rows)
    gap = np.abs(got[:, 0] - got[:, 1])
    allowed = np.maximum(0.02 * got[:, 1], 1000.0)
    return got, gap, allowed


def test_ieee13_fast_within_2_percent_of_reference(ieee13):
    got, gap, allowed = _compare(ieee13, ["671", "634a", "645", "692", "611", "652"])
    assert np.all(gap <= allowed), np.c_[got, gap][gap > allowed]


def test_ieee123_fast_within_2_percent_of_reference(ieee123):
    rng = np.random.default_rng(2)
    sites = rng.choice(ieee123.site_ids, 10, replace=False).tolist()
    got, gap, allowed = _compare(ieee123, sites)
    assert np.all(gap <= allowed), np.c_[got, gap][gap > allowed]


def test_ieee8500_sample_fast_within_2_percent_of_reference(ieee8500):
    rng = np.random.default_rng(4)
    sites = rng.choice(ieee8500.site_ids, 6, replace=False).tolist()
    got, gap, allowed = _compare(ieee8500, sites, hours=1)
    assert np.all(gap <= allowed), np.c_[got, gap][gap > allowed]
