"""Typed plan parameters: a plan declares the tables it reads from the requirement profile as models.

`PlanParams` is one `[plans.NAME]` table, `RequirementParams` one
`[requirements.ID]` table (title, criterion and source, plus the numbers the
check needs). Models are strict (lab.config_errors): an unknown key, a wrong
type and a missing key are each one line naming the file, the line and the
key, found when pytest collects the plan, before any test runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel

from flexbench.core import Criterion
from flexbench.lab.config_errors import Locator, Table, validate
from flexbench.lab.profile import Profile, ProfileError

M = TypeVar("M", bound=BaseModel)


class PlanParams(Table):
    """The numbers of one `[plans.NAME]` table; field names carry their units."""

    source: str = ""
    """The clause of the standard the procedure follows."""


class RequirementParams(Table):
    """One `[requirements.ID]` table: what the requirement is, where it comes from, and its numbers."""

    title: str
    criterion: str
    """The pass criterion in words, as the standard states it (the checks state it with numbers)."""
    source: str

    def describe(self, requirement_id: str) -> Criterion:
        return Criterion(requirement_id=requirement_id, title=self.title, criterion=self.criterion, source=self.source)


@dataclass(frozen=True)
class _ProfileLocator(Locator):
    """Names the line in the bench's `[benches.BENCH.kind.name]` table when that table sets the key."""

    profile: Profile | None = None

    def where(self, table: str, key: str | None = None) -> str:
        kind, _, name = table.partition(".")
        if self.profile is not None and key is not None and kind in ("plans", "requirements") and name:
            origin = self.profile.origin(kind, name, key)
            if origin != table:
                return super().where(origin, key)
        return super().where(table, key)


def validate_table(profile: Profile, kind: str, name: str, model: type[M]) -> M:
    """The `[kind.name]` table of a profile as `model`; ProfileError with one line per problem."""
    locator = _ProfileLocator(profile.path, profile.lines, profile)
    tables = profile.data.get(kind, {})
    if name not in tables:
        raise locator.error(
            kind, None, f"no [{kind}.{name}] table (defined: {', '.join(tables) or 'none'})", ProfileError
        )
    return validate(model, tables[name], locator, ProfileError, table=f"{kind}.{name}")
