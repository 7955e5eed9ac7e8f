"""How the suite shares two cores (make test runs it on two pytest-xdist workers, `--dist loadgroup`).

Tests that run a bench in real time (a plan at a time scale, a co-simulation loop, a browser on a live run)
are one group, run one after the other on one worker: two of them at once would each get less CPU than
their time scale assumes. Everything else is spread over both workers beside them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REAL_TIME_MODULES = {
    "test_controller_mode.py",
    "test_controller_session.py",
    "test_csip_plans.py",
    "test_envelope_plans.py",
    "test_independent_controller.py",
    "test_opcua_plans.py",
    "test_pcs_plans.py",
    "test_plan_example.py",
    "test_plan_runs.py",
    "test_replay.py",
    "test_live_browser.py",
    "test_cosim_loop.py",
    "test_cosim_helics.py",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).name in REAL_TIME_MODULES or "plans" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("real-time"))
