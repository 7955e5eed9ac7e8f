"""The plan language's part of the pytest plugin: profiles validated at collection, --req, the fixtures.

Registered by flexbench.lab.pytest_plugin. When pytest collects a test file it
finds the file's Plan and validates the requirement profile against the
plan's models; every problem is one line naming file, line and key, and the
run stops as a configuration error (pytest's usage error, `flexbench run`'s
exit code 2) before any test runs: never a FAIL of the device.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import pytest

from flexbench.lab.errors import UserError
from flexbench.lab.plan.definition import Parameters, Plan
from flexbench.lab.plan.procedure import Procedure

ERRORS_KEY = pytest.StashKey[dict[str, None]]()  # configuration errors found while collecting, in order


def configuration_errors(config: pytest.Config) -> list[str]:
    errors: dict[str, None] = config.stash.get(ERRORS_KEY, {})
    return list(errors)


def _error(config: pytest.Config, message: str) -> None:
    errors = config.stash.setdefault(ERRORS_KEY, {})
    for line in message.splitlines():
        errors[line] = None


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A plan file's profile is validated before its tests are collected (they may be parametrized from it)."""
    failed_import: Exception | None = None
    invalid = False
    if isinstance(collector, pytest.Module):
        try:
            collector.obj  # noqa: B018 (imports the test file, which declares or finds its plan)
        except Exception as exc:
            failed_import = exc
        else:
            invalid = not _valid(collector)
    report: pytest.CollectReport = yield
    if failed_import is not None:  # collecting imported the half-made module again: this failure is the story
        longrepr = collector.repr_failure(pytest.ExceptionInfo.from_exception(failed_import))
        return pytest.CollectReport(collector.nodeid, "failed", longrepr, [])
    if invalid:  # the errors are reported once, as configuration errors, when collection ends
        return pytest.CollectReport(collector.nodeid, "passed", None, [])
    return report


def _valid(module: pytest.Module) -> bool:
    plan = Plan.of(module.path)
    if plan is None:
        return True
    try:
        plan.load(module.config)
    except UserError as exc:
        _error(module.config, str(exc))
        return False
    return True


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Stop on configuration errors; check each test's requirement marks; keep only --req's tests."""
    for item in items:
        plan = Plan.of(item.path)
        if plan is None:
            continue
        for rid in requirement_ids(item):
            if rid not in plan.requirement_models:
                _error(
                    config,
                    f"{item.path}: {item.name}: requirement {rid!r} is not declared by plan {plan.name!r} "
                    f"({plan.file.name}: requirements = {', '.join(plan.requirement_models) or 'none'})",
                )
    errors = configuration_errors(config)
    if errors:
        raise pytest.UsageError("\n".join(errors))
    wanted = config.getoption("--req", None)
    if not wanted:
        return
    selected: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    for item in items:
        (selected if set(requirement_ids(item)) & set(wanted) else deselected).append(item)
    if not selected:
        known = sorted({rid for item in items for rid in requirement_ids(item)})
        raise pytest.UsageError(
            f"no test checks requirement {', '.join(wanted)} (requirements of these plans: {', '.join(known) or 'none'})"
        )
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def requirement_ids(item: pytest.Item) -> list[str]:
    ids: list[str] = []
    for mark in item.iter_markers("requirement"):
        ids.extend(str(a) for a in mark.args)
    return ids


# -- fixtures -----------------------------------------------------------------------


def _plan(request: pytest.FixtureRequest) -> Plan[Any]:
    plan = Plan.of(request.node.path)
    if plan is None:
        raise UserError(f"{request.node.path}: no plan declared: PLAN = Plan(...) in the file or its conftest.py")
    return plan


@pytest.fixture(scope="module")
def parameters(request: pytest.FixtureRequest) -> Parameters[Any]:
    """The plan's validated profile values: `.plan` and `.requirement(ID)`."""
    return _plan(request).load(request.config)


@pytest.fixture
def declared_values() -> Callable[[str], str] | None:
    """Per requirement ID, the device's declared values its checks are judged against (a plan's conftest
    overrides this where the device is held to its own declaration, as UL 3141 does)."""
    return None


@pytest.fixture
def procedure(parameters: Parameters[Any], recorder: Any, clock: Any, verdicts: Any, declared_values: Any) -> Procedure:
    """This test's procedure: steps, waits and checks on the bench."""
    return Procedure(parameters=parameters, recorder=recorder, clock=clock, verdicts=verdicts, declared=declared_values)
