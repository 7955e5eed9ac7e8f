"""`flexbench plans [PLAN...]`: the plans, their tests, and the requirements each test checks.

Collects the plans as `flexbench run` would (so a profile error shows here
too, with file, line and key) and prints, per plan, each test with its
requirement IDs, and per requirement its title, criterion and source clause
from the requirement profile.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flexbench.core import Criterion
from flexbench.lab.errors import CONFIGURATION_ERROR, UserError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plans",
        help="list test plans, their tests and the requirements they check",
        description="List test plans -> tests -> requirement IDs -> criterion and source clause, "
        "from each plan's requirement profile. Select a requirement's tests with `flexbench run PLAN --req ID`.",
    )
    p.add_argument("plans", nargs="*", metavar="PLAN", help="test plan files or folders (default: testplans)")
    p.add_argument("--bench", help="bench file (default: the embedded virtual bench)")
    p.add_argument("--profile", help="requirement profile file (default: each plan's own)")
    p.set_defaults(func=run)


@dataclass
class Test:
    name: str
    points: int = 0
    requirement_ids: list[str] = field(default_factory=list)


@dataclass
class PlanListing:
    """One plan as listed: its folder or file, name, profile, tests and requirements."""

    where: str
    name: str
    source: str
    profile: str
    tests: dict[str, Test] = field(default_factory=dict)
    criteria: dict[str, Criterion] = field(default_factory=dict)


def run(args: argparse.Namespace) -> int:
    import pytest

    paths = args.plans or ["testplans"]
    for path in paths:
        if not Path(path.split("::")[0]).exists():
            raise UserError(f"test plan not found: {path}")
    collector = _Collector()
    pytest_args = [*paths, "--collect-only", "-q", "-p", "no:cacheprovider"]
    if args.bench:
        pytest_args += ["--bench", args.bench]
    if args.profile:
        pytest_args += ["--profile", args.profile]
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = pytest.main(pytest_args, plugins=[collector])
    if code == pytest.ExitCode.USAGE_ERROR:
        return CONFIGURATION_ERROR
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        raise UserError(f"the plans could not be collected:\n{out.getvalue().strip()[-3000:]}")
    if not collector.plans:
        raise UserError(f"no test plans in {', '.join(paths)}")
    print(render(collector.plans))
    return 0


class _Collector:
    """A pytest plugin that keeps what `flexbench plans` lists of every collected test."""

    def __init__(self) -> None:
        self.plans: dict[str, PlanListing] = {}

    @staticmethod
    def _requirement_ids(item: Any) -> list[str]:
        return [str(a) for mark in item.iter_markers("requirement") for a in mark.args]

    @staticmethod
    def _relative(path: Path) -> str:
        try:
            return str(path.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(path)

    def pytest_collection_finish(self, session: Any) -> None:
        for item in session.items:
            listing = self._listing(item)
            if listing is None:
                continue
            name = f"{item.path.name}::{getattr(item, 'originalname', item.name)}"
            test = listing.tests.setdefault(name, Test(name))
            test.points += 1
            for rid in self._requirement_ids(item):
                if rid not in test.requirement_ids:
                    test.requirement_ids.append(rid)
                if rid not in listing.criteria:
                    listing.criteria[rid] = self._criterion(item, rid)

    def _listing(self, item: Any) -> PlanListing | None:
        from flexbench.lab.plan import Plan

        plan = Plan.of(item.path)
        folder = self._relative(item.path.parent)
        if plan is not None:
            key = f"{folder}:{plan.name}"
            if key not in self.plans:
                params = plan.load(item.config)
                self.plans[key] = PlanListing(
                    folder, plan.name, params.plan.source, self._relative(params.profile.path)
                )
            return self.plans[key]
        default = getattr(getattr(item, "module", None), "PROFILE", None)
        if default is None and item.config.getoption("--profile") is None:
            return None  # not a plan: a test with no requirement profile
        from flexbench.lab.profile import profile_for

        profile = profile_for(item.config, str(item.path), default)
        key = f"{folder}:{profile.path}"
        if key not in self.plans:
            self.plans[key] = PlanListing(folder, item.path.parent.name, "", self._relative(profile.path))
        return self.plans[key]

    @staticmethod
    def _criterion(item: Any, rid: str) -> Criterion:
        from flexbench.lab.plan import Plan
        from flexbench.lab.profile import profile_for

        plan = Plan.of(item.path)
        if plan is not None and rid in plan.requirement_models:
            return plan.load(item.config).requirement(rid).describe(rid)
        profile = profile_for(item.config, str(item.path), getattr(getattr(item, "module", None), "PROFILE", None))
        table = profile.data.get("requirements", {}).get(rid, {})
        return Criterion(
            requirement_id=rid,
            title=str(table.get("title", "")),
            criterion=str(table.get("criterion", "")),
            source=str(table.get("source", "")),
        )


def render(plans: dict[str, PlanListing]) -> str:
    """Plans -> tests -> requirement IDs, then each requirement's title, criterion and source."""
    lines: list[str] = []
    for listing in plans.values():
        source = f" ({listing.source})" if listing.source else ""
        lines.append(f"{listing.where}  plan {listing.name}{source}, profile {listing.profile}")
        for test in listing.tests.values():
            points = f"  [{test.points} test points]" if test.points > 1 else ""
            lines.append(f"  {test.name}{points}: {', '.join(test.requirement_ids) or 'no requirement'}")
        for rid, c in listing.criteria.items():
            lines.append(f"    {rid}: {c.title}")
            if c.criterion:
                lines.append(f"      criterion: {c.criterion}")
            if c.source:
                lines.append(f"      source: {c.source}")
        lines.append("")
    return "\n".join(lines).rstrip()
