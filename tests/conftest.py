"""The order the parallel workers take the tests in: plan runs first, spread over the workers.

pytest-xdist hands each worker one contiguous slice of the collection and lets an idle
worker take the tail of a busy one's queue. In file order the long plan runs of tests/lab
sit in two or three slices, and a run of a minute or two that starts last ends the suite
late. So the modules whose tests each run a bench for tens of seconds (the list below,
longest per test first, measured on two cores) are dealt out in turn to the front of the
workers' slices; the short tests fill the slices in file order, so a module's tests still
share its fixtures in one worker, and even out the end. A module missing from the list
only runs in file order.
"""

from __future__ import annotations

import os

import pytest

LONG_FIRST = (
    "tests/lab/test_independent_controller.py",  # about 42 s per test (the controller's own clock: time scale 1)
    "tests/lab/test_aggregator_plans.py",
    "tests/lab/test_csip_plans.py",
    "tests/lab/test_opcua_plans.py",
    "tests/lab/test_pcs_plans.py",
    "tests/lab/test_controller_mode.py",  # one test of about 105 s
    "tests/lab/test_live_browser.py",
    "tests/lab/test_controller_session.py",
    "tests/lab/test_plan_runs.py",
    "tests/lab/test_price_plans.py",
    "tests/lab/test_schedule_plans.py",
    "tests/lab/test_envelope_plans.py",
    "tests/instruments/test_new_instrument_example.py",
    "tests/lab/test_bench_faults.py",
    "tests/utility/test_distributed.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2:
        return
    rank = {path: i for i, path in enumerate(LONG_FIRST)}
    root = config.rootpath

    def module(item: pytest.Item) -> str:
        try:
            return item.path.relative_to(root).as_posix()
        except ValueError:
            return ""

    long = sorted((item for item in items if module(item) in rank), key=lambda item: rank[module(item)])
    light = iter([item for item in items if module(item) not in rank])  # in file order: modules stay together
    ordered: list[pytest.Item] = []
    left = len(items)
    for k in range(workers):
        # xdist's first split: each worker in turn gets an even share of what is left, from the front
        size = left // (workers - k)
        mine = long[k::workers]
        ordered += mine + [item for _, item in zip(range(size - len(mine)), light)]
        left -= size
    items[:] = ordered + list(light)
