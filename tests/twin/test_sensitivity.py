"""The sensitivity model's set-up shortcuts give what the plain computation gives."""

from __future__ import annotations

import numpy as np

from flexbench.twin.limits import _segment_topk
from flexbench.twin.sensitivity import LinearModel


def test_site_columns_solved_by_a_helper_process_match_those_solved_here(ieee123) -> None:
    sites = np.arange(len(ieee123.sites))
    here = LinearModel(ieee123, sites)
    helper = LinearModel(ieee123, sites, background=True)
    helper.wait()
    np.testing.assert_array_equal(helper.zs, here.zs)
    np.testing.assert_array_equal(helper.zs_r, here.zs_r)


def _plain_topk(values: np.ndarray, seg: np.ndarray, nseg: int, k: int) -> np.ndarray:
    """The k smallest finite values of each segment, first index on ties (-1 where fewer)."""
    out = np.full((nseg, k), -1, dtype=int)
    for s in range(nseg):
        idx = np.flatnonzero((seg == s) & np.isfinite(values))
        idx = idx[np.argsort(values[idx], kind="stable")][:k]
        out[s, : len(idx)] = idx
    return out


def test_candidate_ranking_keeps_the_k_smallest_of_each_site_ties_to_the_first() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        nseg = int(rng.integers(1, 30))
        seg = np.repeat(np.arange(nseg), rng.integers(0, 12, nseg))
        values = rng.integers(0, 5, len(seg)).astype(float)  # many ties
        values[rng.random(len(seg)) < 0.3] = np.inf
        k = int(rng.integers(1, 5))
        np.testing.assert_array_equal(_segment_topk(values, seg, nseg + 1, k), _plain_topk(values, seg, nseg + 1, k))
