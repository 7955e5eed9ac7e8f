"""Typed plan parameters: a plan declares the tables it reads from the requirement profile as models.

`PlanParams` is one `[plans.NAME]` table, `RequirementParams` one
`[requirements.ID]` table (title, criterion and source, plus the numbers the
check needs). Models are strict: an unknown key, a wrong type and a missing
key are each one line naming the file, the line and the key, found when
pytest collects the plan, before any test runs.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from flexbench.core import Criterion
from flexbench.lab.profile import Profile, ProfileError
from flexbench.lab.toml_lines import where

M = TypeVar("M", bound=BaseModel)


class PlanParams(BaseModel):
    """The numbers of one `[plans.NAME]` table; field names carry their units."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    source: str = ""
    """The clause of the standard the procedure follows."""


class RequirementParams(BaseModel):
    """One `[requirements.ID]` table: what the requirement is, where it comes from, and its numbers."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    title: str
    criterion: str
    """The pass criterion in words, as the standard states it (the checks state it with numbers)."""
    source: str

    def describe(self, requirement_id: str) -> Criterion:
        return Criterion(requirement_id=requirement_id, title=self.title, criterion=self.criterion, source=self.source)


def validate_table(profile: Profile, kind: str, name: str, model: type[M]) -> M:
    """The `[kind.name]` table of a profile as `model`; ProfileError with one line per problem."""
    tables = profile.data.get(kind, {})
    if name not in tables:
        raise ProfileError(
            f"{where(profile.path, profile.lines, kind)}: no [{kind}.{name}] table "
            f"(defined: {', '.join(tables) or 'none'})"
        )
    data = tables[name]
    if not isinstance(data, dict):
        raise ProfileError(f"{where(profile.path, profile.lines, kind, name)}: {kind}.{name}: expected a table")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # a misspelt key is one mistake: the unknown key says which known one it means, not also "missing"
        meant = {_hint(model, str(e["loc"][0])) for e in errors if e["type"] == "extra_forbidden" and e["loc"]}
        errors = [e for e in errors if not (e["type"] == "missing" and e["loc"] and e["loc"][0] in meant)]
        lines = [_line(profile, kind, name, model, error) for error in errors]
        raise ProfileError("\n".join(dict.fromkeys(lines))) from None


def _hint(model: type[BaseModel], key: str) -> str | None:
    hint = difflib.get_close_matches(key, list(model.model_fields), n=1)
    return hint[0] if hint else None


def _line(profile: Profile, kind: str, name: str, model: type[BaseModel], error: Mapping[str, Any]) -> str:
    """One validation error as `file:line: kind.name.key: reason`."""
    loc = [str(part) for part in error["loc"]]
    key = loc[0] if loc else None
    table = profile.origin(kind, name, key) if key is not None else f"{kind}.{name}"
    dotted = ".".join([table, *loc])
    kind_of_error = error["type"]
    if kind_of_error == "missing":
        return f"{where(profile.path, profile.lines, table)}: {dotted}: missing (the plan needs it)"
    if kind_of_error == "extra_forbidden" and key is not None:
        hint = _hint(model, key)
        known = f"did you mean '{hint}'?" if hint else f"known keys: {', '.join(model.model_fields)}"
        return f"{where(profile.path, profile.lines, table, key)}: {dotted}: unknown key ({known})"
    return f"{where(profile.path, profile.lines, table, key)}: {dotted}: {_expected(error)}, got {error['input']!r}"


_EXPECTED = {
    "float_type": "expected a number",
    "int_type": "expected an integer",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "list_type": "expected a list",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "literal_error": "expected one of the allowed values",
}


def _expected(error: Mapping[str, Any]) -> str:
    text = _EXPECTED.get(error["type"])
    if text is not None:
        return text
    msg = str(error.get("msg", "not valid"))
    return msg[0].lower() + msg[1:] if msg else "not valid"


def default_profile_path(plan_file: str | Path, profile: str) -> Path:
    """testplans/profiles/<profile>.toml beside the plan's folder (a plan folder's parent holds `profiles/`)."""
    return Path(plan_file).resolve().parents[1] / "profiles" / f"{profile}.toml"
