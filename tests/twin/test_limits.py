"""The crossing of a linearized phasor with its limit, against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from flexbench.twin.limits import EXPORT, IMPORT, _lower_root, _upper_root


@pytest.mark.parametrize("seed", range(4))
def test_crossings_match_a_fine_scan(seed):
    rng = np.random.default_rng(seed)
    xs = np.linspace(0.0, 400.0, 200_001)
    for _ in range(100):
        a = complex(*rng.normal(size=2)) + 1.0
        b = complex(*rng.normal(size=2)) * 0.01
        lim = abs(a) * rng.uniform(0.9, 1.1)
        a2, pr, q = abs(a) ** 2, (np.conj(a) * b).real, abs(b) ** 2
        for direction, sign in ((IMPORT, 1.0), (EXPORT, -1.0)):
            mags = np.abs(a + sign * b * xs)
            if lim >= abs(a):
                root = _upper_root(a2, pr, q, lim, direction)
                beyond = mags > lim
            else:
                root = _lower_root(a2, pr, q, lim, direction)
                beyond = mags < lim
            scan = xs[np.argmax(beyond)] if beyond.any() else np.inf
            if np.isfinite(scan):
                assert root == pytest.approx(scan, abs=4e-3)
            else:
                assert root > xs[-1]
