"""Aggregator in the loop: several homes on one shared service transformer, coordinated by an aggregator under test.

These plans need an aggregator site (lab/benches/virtual-aggregator.toml):
homes whose meters and devices the aggregator reads and writes, the bench's
2030.5 server as the utility (the aggregator's certificate registered as a
CSIP-AUS aggregator managing every home), and an analyzer on each home's PCC
and on the transformer. The utility publishes each home's envelope: its share
of the transformer by the bench's allocation (equal, proportional or
max-total). Conditions (a home's load, what its EV asks for) and faults (a
home's communication lost) are operator actions: the virtual site carries
them out; on a real bench the operator is asked to.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flexbench.lab.aggregator_plan import Homes
from flexbench.lab.plan import Plan, PlanParams, RequirementParams
from flexbench.lab.virtual.aggregator_site.utility import register_group


class AggregatorPlan(PlanParams):
    """[plans.aggregator]"""

    precondition_s: float
    hold_s: float
    start_delay_s: float
    light_load_w: float
    heavy_load_w: float
    ev_charge_w: float
    lent_home: str
    reclaiming_homes: list[str]
    light_home: str
    near_share_load_w: float
    lost_home: str
    lost_home_load_w: float


class Accuracy(RequirementParams):
    response_time_s: float
    accuracy_w: float


class Reallocation(Accuracy):
    min_lent_w: float


class Abnormal(Accuracy):
    group_max_import_w: float


class Loss(RequirementParams):
    fail_safe_time_s: float
    loss_hold_s: float
    accuracy_w: float


PLAN = Plan(
    "aggregator",
    AggregatorPlan,
    profile="aggregator",
    requirements={
        "AGG-SITE": Accuracy,
        "AGG-XFMR": Accuracy,
        "AGG-REALLOC": Reallocation,
        "AGG-ABN": Abnormal,
        "AGG-LOSS": Loss,
    },
)


@pytest.fixture(scope="module")
def homes(bench, recorder, clock) -> Iterator[Homes]:
    """The aggregator's homes, registered on the bench's 2030.5 server as its sites."""
    if bench.controller is None:
        from flexbench.lab.errors import UserError

        raise UserError(
            f"{bench.config.path}: the aggregator plans need an aggregator under test: a [controller] table and "
            '[virtual] site = "aggregator" (see lab/benches/virtual-aggregator.toml)'
        )
    h = Homes(bench, recorder, clock, register_group(bench))
    yield h
    h.cancel()


@pytest.fixture
def fresh(homes) -> Iterator[Homes]:
    """The homes, their controls cancelled after the test."""
    yield homes
    homes.cancel()
