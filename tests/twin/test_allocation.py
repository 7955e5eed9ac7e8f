"""Allocation semantics on small linear problems (no feeder needed)."""

from __future__ import annotations

import numpy as np
import pytest

from flexbench.twin.allocation import JointRows, allocate


def _rows(s, margin):
    s = np.atleast_2d(np.asarray(s, dtype=float))
    return JointRows(np.arange(len(s)), s, np.asarray(margin, dtype=float))


def test_equal_shares_a_constraint_equally_and_respects_own_headroom():
    # three sites on one transformer (usage 1 per W each, margin 30), one limited to 5 alone
    x, stop = allocate(_rows([[1, 1, 1]], [30]), np.array([100.0, 100.0, 5.0]), np.ones(3), "equal")
    assert x[2] == pytest.approx(5.0)
    assert x[0] == pytest.approx(x[1], rel=1e-3)
    assert x.sum() == pytest.approx(30.0, rel=1e-3)
    assert stop[0] == 0 and stop[2] == -1


def test_sites_not_sharing_a_constraint_keep_rising():
    # sites 0, 1 share row 0; site 2 is alone on row 1
    s = [[1, 1, 0], [0, 0, 1]]
    x, _ = allocate(_rows(s, [10, 50]), np.full(3, 100.0), np.ones(3), "equal")
    assert x[:2] == pytest.approx([5.0, 5.0], rel=1e-3)
    assert x[2] == pytest.approx(50.0, rel=1e-3)


def test_proportional_follows_ratings():
    x, _ = allocate(_rows([[1, 1]], [30]), np.full(2, 100.0), np.array([1.0, 2.0]), "proportional")
    assert x[1] == pytest.approx(2 * x[0], rel=1e-3)
    assert x.sum() == pytest.approx(30.0, rel=1e-3)


def test_max_total_puts_headroom_where_it_costs_least():
    # site 1 loads the constraint a quarter as much per W: it takes the room first
    x, _ = allocate(_rows([[1.0, 0.25]], [10]), np.array([100.0, 20.0]), np.ones(2), "max-total")
    assert x[1] == pytest.approx(20.0)
    assert x[0] == pytest.approx(5.0)
    eq, _ = allocate(_rows([[1.0, 0.25]], [10]), np.array([100.0, 20.0]), np.ones(2), "equal")
    assert x.sum() > eq.sum()


def test_unknown_allocation_is_refused():
    with pytest.raises(ValueError, match="equal"):
        allocate(_rows([[1]], [1]), np.ones(1), np.ones(1), "fair")
