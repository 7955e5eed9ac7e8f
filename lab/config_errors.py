"""Configuration files checked by typed models, every mistake one line: `FILE:LINE: table.key: what is wrong`.

A TOML file is read with `load_toml`, which keeps its text to find lines again
(tomllib gives values without positions). A pydantic model describes a table
(`Table`: unknown keys forbidden, types strict, as TOML has them); `validate`
checks a table against it and turns each problem pydantic finds into one line
naming the file, the line of the key and the dotted key: a typo ("unknown
key, did you mean ...?"), a wrong type ("expected a number, got 'ten'") and a
missing key ("missing") alike. Checks a model cannot state (one value against
another) use `Locator.error` for the same line.

    data, locate = load_toml(path, DeclarationError, "declaration file")
    declaration = validate(DeclarationFile, data, locate, DeclarationError)
    nested = validate(PlantModel, data["virtual"]["plant"], locate, BenchError, table="virtual.plant")
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

from flexbench.lab.errors import UserError
from flexbench.lab.toml_lines import line_of

M = TypeVar("M", bound=BaseModel)


class Table(BaseModel):
    """Base of a model of one TOML table: unknown keys are mistakes, values keep their TOML types."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


@dataclass(frozen=True)
class Locator:
    """A file's path and lines, to name where a table or key is written."""

    path: Path
    lines: list[str]

    def where(self, table: str, key: str | None = None) -> str:
        """`file:line` of the key (or of the table), just `file` when it cannot be found."""
        line = None
        if key is not None:  # a sub-table has a header of its own
            line = line_of(self.lines, f"{table}.{key}" if table else key)
        if line is None and table:
            line = line_of(self.lines, table, key)
        return f"{self.path}:{line}" if line else str(self.path)

    def error(self, table: str, key: str | None, reason: str, error: type[UserError] = UserError) -> UserError:
        """The one-line error about `table.key` (or the table itself when key is None)."""
        dotted = ".".join(part for part in (table, key) if part)
        return error(f"{self.where(table, key)}: {dotted}: {reason}" if dotted else f"{self.where('')}: {reason}")


def load_toml(
    path: str | Path, error: type[UserError] = UserError, what: str = "file"
) -> tuple[dict[str, Any], Locator]:
    """The parsed file and its locator; a missing file or bad TOML is one line too."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None
    return data, Locator(path, text.splitlines())


def validate(model: type[M], data: Any, locator: Locator, error: type[UserError] = UserError, table: str = "") -> M:
    """`data` (the table at dotted `table`, "" for the whole file) as `model`, or `error` with one line per key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # a union reports each alternative: the one that went deepest into the value is the one meant
        problems = sorted(((_data_path(data, p["loc"]), p) for p in exc.errors()), key=lambda e: -len(e[1]["loc"]))
        typos = {tuple(path[:-1]) + (hint,) for path, p in problems for hint in _hint(model, path, p)}
        found: dict[str, str] = {}
        for path, problem in problems:
            dotted = ".".join(part for part in (table, *path) if part)
            if dotted in found or (problem["type"] == "missing" and tuple(path) in typos):
                continue  # one line per key; a typo's key is not reported missing too
            parent = ".".join(part for part in (table, *path[:-1]) if part)
            key = path[-1] if path else None
            found[dotted] = f"{locator.where(parent, key)}: {dotted or '(file)'}: {_reason(problem, model, path)}"
        raise error("\n".join(found.values())) from None


def _hint(model: type[BaseModel], path: list[str], problem: Mapping[str, Any]) -> list[str]:
    """The known key an unknown key is a typo of, if any."""
    if problem["type"] != "extra_forbidden" or not path:
        return []
    return difflib.get_close_matches(path[-1], _known_keys(model, path[:-1]), n=1)


def _data_path(data: Any, loc: tuple[int | str, ...]) -> list[str]:
    """The keys of `loc` that name tables and keys of the file (list items and union branches left out)."""
    path: list[str] = []
    here = data
    for part in loc:
        if isinstance(here, Mapping):
            path.append(str(part))
            if part not in here:
                break  # a missing key, or an unknown key's value below it
            here = here[part]
        elif isinstance(here, list) and isinstance(part, int) and 0 <= part < len(here):
            here = here[part]
        else:
            break  # the name of a union's alternative, or a scalar's inside
    return path


_EXPECTED = {
    "float_type": "expected a number",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "dataclass_type": "expected a table",
}


def _reason(problem: Mapping[str, Any], model: type[BaseModel], path: list[str]) -> str:
    kind = problem["type"]
    value = problem.get("input")
    if kind == "missing":
        return "missing"
    if kind == "extra_forbidden":
        known = _known_keys(model, path[:-1])
        hint = _hint(model, path, problem)
        return "unknown key" + (
            f" (did you mean '{hint[0]}'?)" if hint else f" (known: {', '.join(known)})" if known else ""
        )
    if kind in _EXPECTED:
        return f"{_EXPECTED[kind]}, got {_toml_type(value)} {value!r}"
    ctx = problem.get("ctx") or {}
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}, got {value!r}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()), "")
        return (
            f"must be {words} {bound:g}, got {value!r}"
            if isinstance(bound, float)
            else f"must be {words} {bound}, got {value!r}"
        )
    if kind == "value_error":
        return str(ctx.get("error", problem["msg"]))
    if kind == "too_short":
        return f"must not be empty, got {value!r}"
    msg = str(problem["msg"])
    return msg[:1].lower() + msg[1:] + f", got {value!r}"


def _toml_type(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _known_keys(model: type[BaseModel], path: list[str]) -> list[str]:
    """The keys the model allows in the table at `path` (empty when that table's model is not found)."""
    current: Any = model
    for part in path:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            if field is None:
                return []
            current = _unwrap(field.annotation)
        elif get_origin(current) in (dict, Mapping) and get_args(current):
            current = _unwrap(get_args(current)[-1])  # a table of named entries: `part` is an entry's name
        else:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """The model inside `Model | None`, else the annotation itself."""
    for arg in get_args(annotation) if get_origin(annotation) is not dict else ():
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return annotation
