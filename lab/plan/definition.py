"""A plan's declaration: its `[plans.NAME]` table, its requirement tables, and the profile they come from.

One `Plan` per plan: in the plan's test file, or in the conftest.py of a plan
folder whose files share it. Declaring it registers it by file, so the
pytest plugin finds the plan of every test it collects and validates the
profile before any test runs.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest

from flexbench.core import Criterion
from flexbench.lab.plan.params import PlanParams, RequirementParams, validate_table
from flexbench.lab.profile import Profile, ProfileError, profile_for

P = TypeVar("P", bound=PlanParams)

_DECLARED: dict[Path, Plan[Any]] = {}  # by the file that declares the plan
_CACHE_KEY = pytest.StashKey[dict[tuple[int, str], "Parameters[Any]"]]()  # validated once per run


@dataclass(frozen=True)
class Parameters(Generic[P]):
    """A plan's validated values from one profile: the plan table and each requirement table."""

    plan: P
    requirements: Mapping[str, RequirementParams]
    profile: Profile

    def requirement(self, requirement_id: str) -> Any:
        """The requirement's table, as the model the plan declared for it."""
        if requirement_id not in self.requirements:
            raise ProfileError(
                f"requirement {requirement_id!r} is not declared by the plan (declared: {', '.join(self.requirements)})"
            )
        return self.requirements[requirement_id]

    def criteria(self) -> list[Criterion]:
        return [table.describe(rid) for rid, table in self.requirements.items()]


class Plan(Generic[P]):
    """What a plan reads from its requirement profile, as typed models.

    `name` is the `[plans.NAME]` table, `profile` the default profile's name
    (`<profile>.toml` in the `profiles/` folder beside the plan's folder; `--profile`
    replaces it), `requirements` maps each requirement ID the plan checks to the
    model of its `[requirements.ID]` table.
    """

    def __init__(
        self,
        name: str,
        params: type[P],
        *,
        profile: str,
        requirements: Mapping[str, type[RequirementParams]],
        file: str | Path | None = None,
    ) -> None:
        self.name = name
        self.params_model = params
        self.profile_name = profile
        self.requirement_models = dict(requirements)
        declared_in = file if file is not None else sys._getframe(1).f_globals.get("__file__")
        if declared_in is None:
            raise ValueError(f"plan {name!r}: pass file=__file__")
        self.file = Path(declared_in).resolve()
        _DECLARED[self.file] = self

    def __repr__(self) -> str:
        return f"Plan({self.name!r}, {self.file})"

    def profile(self, config: Any) -> Profile:
        """The profile of this run (--profile, else the plan's default), with the bench's values in place."""
        return profile_for(config, str(self.file), self.profile_name)

    def load(self, config: Any) -> Parameters[P]:
        """Every table the plan reads, validated; ProfileError with one line per problem."""
        profile = self.profile(config)
        cache: dict[tuple[int, str], Parameters[Any]] = config.stash.setdefault(_CACHE_KEY, {})
        key = (id(self), str(profile.path.resolve()))
        if key not in cache:
            cache[key] = self.validate(profile)
        return cache[key]

    def validate(self, profile: Profile) -> Parameters[P]:
        errors: list[str] = []
        params: P | None = None
        requirements: dict[str, RequirementParams] = {}
        try:
            params = validate_table(profile, "plans", self.name, self.params_model)
        except ProfileError as exc:
            errors.append(str(exc))
        for rid, model in self.requirement_models.items():
            try:
                requirements[rid] = validate_table(profile, "requirements", rid, model)
            except ProfileError as exc:
                errors.append(str(exc))
        if errors or params is None:
            raise ProfileError("\n".join(errors))
        return Parameters(plan=params, requirements=requirements, profile=profile)

    def params(self, config: Any) -> P:
        """The `[plans.NAME]` table (at collection, e.g. to parametrize test points)."""
        return self.load(config).plan

    @staticmethod
    def of(path: str | Path) -> Plan[Any] | None:
        """The plan a test file belongs to: declared in the file, else in a conftest.py of its folder or above."""
        path = Path(path).resolve()
        if path in _DECLARED:
            return _DECLARED[path]
        for folder in path.parents:
            plan = _DECLARED.get(folder / "conftest.py")
            if plan is not None:
                return plan
        return None
