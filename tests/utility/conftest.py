"""Small synthetic utilities for the utility-scale tests (IEEE 13 instances, short horizons)."""

from __future__ import annotations

import pytest

from flexbench.twin.synthetic import FeederInstance, generate_instances


@pytest.fixture
def small_instances() -> list[FeederInstance]:
    """Four IEEE 13 instances of 3 h at 15 min: fast, and different in loads, PV and sites."""
    return generate_instances(4, bases=("ieee13",), seed=11, horizon="3h")
