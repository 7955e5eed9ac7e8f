"""A power analyzer's input set-up from the bench file, checked before anything is sent.

A test per IEEE 1547.1 needs the analyzer's ranges, wiring, synchronization
source and line filter known, not whatever the front panel had. Each of these
driver options is optional; a value for every element, or a table by element
number::

    [instruments.analyzer.options]
    voltage_range_v = 300                  # or "auto", or { 1 = 300, 2 = 600 }
    current_range_a = { 1 = 20, 2 = "auto" }
    wiring = "P1W2"                        # the manual's token; a list for several wiring units
    sync_source = "U1"                     # per element: U<n>, I<n>, EXT, NONE (as the model allows)
    line_filter_hz = "off"                 # or a cut-off frequency
    harmonics = true                       # read THD (needs the analyzer's harmonics option)

A driver sets what is given on connect, reads every setting back and records
them all in its snapshot (station.json), configured or not, so a report says
what the analyzer measured with. A value the model does not have is a
ValueError naming the option, which the bench reports with its file and table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..scpi import parse_bool, parse_float

AUTO = "auto"
OFF = "off"
RANGE_KEYS = (("voltage_range_v", "VOLTage", "V"), ("current_range_a", "CURRent", "A"))
SETUP_KEYS = ("voltage_range_v", "current_range_a", "wiring", "sync_source", "line_filter_hz", "harmonics")

T = TypeVar("T")


def elements_option(options: Mapping[str, Any], count: int, noun: str) -> tuple[int, ...]:
    """The `elements` option: distinct input numbers 1..count, default [1, 2]."""
    elements = options.get("elements", [1, 2])
    if isinstance(elements, int) or not elements:
        raise ValueError(f"option elements must be a non-empty list of {noun} numbers, got {elements!r}")
    checked: list[int] = []
    for e in elements:
        if not isinstance(e, int) or isinstance(e, bool) or not 1 <= e <= count or e in checked:
            raise ValueError(f"option elements: {e!r} is not a distinct {noun} number 1..{count}")
        checked.append(e)
    return tuple(checked)


def range_commands(template: str, ranges: Mapping[str, Mapping[int, float | str]], units: bool) -> list[str]:
    """The commands that set ranges: `template` has {quantity}, {what} (AUTO or RANGe), {e} and {value}."""
    commands = []
    for key, quantity, unit in RANGE_KEYS:
        for e, value in ranges[key].items():
            if value == AUTO:
                commands.append(template.format(quantity=quantity, what="AUTO", e=e, value="ON"))
            else:
                text = f"{value:g}{unit if units else ''}"
                commands.append(template.format(quantity=quantity, what="RANGe", e=e, value=text))
    return commands


def read_ranges(query: Callable[[str], str], template: str, elements: Iterable[int]) -> dict[str, Any]:
    """Every element's voltage and current range ("auto" where auto range is on), read with `template`
    ({quantity}, {what}, {e}) as a query."""
    out: dict[str, Any] = {}
    for key, quantity, _ in RANGE_KEYS:
        values: dict[int, float | str] = {}
        for e in elements:
            auto = parse_bool(query(template.format(quantity=quantity, what="AUTO", e=e) + "?"))
            values[e] = (
                AUTO if auto else parse_float(query(template.format(quantity=quantity, what="RANGe", e=e) + "?"))
            )
        out[key] = values
    return out


def per_element(
    options: Mapping[str, Any], key: str, elements: Iterable[int], check: Callable[[Any], T]
) -> dict[int, T]:
    """An option given once for every element or as a table by element number, each value checked."""
    value = options.get(key)
    elements = tuple(elements)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        return {e: _checked(key, check, value) for e in elements}
    out: dict[int, T] = {}
    for raw, item in value.items():
        try:
            element = int(raw)
        except ValueError:
            raise ValueError(f"option {key}: {raw!r} is not an element number") from None
        if element not in elements:
            raise ValueError(f"option {key}: element {element} is not one the bench reads ({list(elements)})")
        out[element] = _checked(f"{key}.{element}", check, item)
    return out


def _checked(key: str, check: Callable[[Any], T], value: Any) -> T:
    try:
        return check(value)
    except ValueError as exc:
        raise ValueError(f"option {key}: {exc}") from None


def range_check(allowed: tuple[float, ...] | None, unit: str) -> Callable[[Any], float | str]:
    """A range: "auto", or one of the model's ranges (any positive number when `allowed` is None)."""

    def check(value: Any) -> float | str:
        if isinstance(value, str) and value.lower() == AUTO:
            return AUTO
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"{value!r} is not a range in {unit} or {AUTO!r}")
        if allowed is not None and not any(math.isclose(value, r, rel_tol=1e-9) for r in allowed):
            raise ValueError(f"{value!r} is not a range of the model ({', '.join(f'{r:g}' for r in allowed)} {unit})")
        return float(value)

    return check


def choice_check(allowed: Iterable[str], aliases: Mapping[str, str] | None = None) -> Callable[[Any], str]:
    """One of the model's tokens (any case; aliases map long forms to the token the model replies)."""
    tokens = {a.upper(): a.upper() for a in allowed}
    tokens.update({k.upper(): v.upper() for k, v in (aliases or {}).items()})

    def check(value: Any) -> str:
        token = tokens.get(str(value).upper()) if isinstance(value, str) else None
        if token is None:
            raise ValueError(f"{value!r} is not one of {', '.join(sorted(set(tokens.values())))}")
        return token

    return check


@dataclass(frozen=True)
class AnalyzerSetup:
    """What the bench file asks of an analyzer's inputs; empty tables are settings left as found."""

    voltage_range_v: dict[int, float | str]
    current_range_a: dict[int, float | str]
    wiring: tuple[str, ...]
    sync_source: dict[int, str]
    line_filter_hz: dict[int, float | str]
    harmonics: bool


def configured(options: Mapping[str, Any]) -> list[str]:
    """The set-up options the bench file gives (the rest is as the analyzer had it)."""
    return [k for k in SETUP_KEYS if k in options]


def wiring_option(options: Mapping[str, Any], allowed: Iterable[str]) -> tuple[str, ...]:
    """The wiring option: one token, or a list of them (one per wiring unit)."""
    value = options.get("wiring")
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ValueError(f"option wiring: expected a token or a list of tokens, got {value!r}")
    check = choice_check(allowed)
    return tuple(_checked("wiring", check, item) for item in items)


def harmonics_option(options: Mapping[str, Any]) -> bool:
    value = options.get("harmonics", True)
    if not isinstance(value, bool):
        raise ValueError(f"option harmonics must be true or false, got {value!r}")
    return value


def unsupported(options: Mapping[str, Any], keys: Iterable[str], model: str) -> None:
    """Refuse options whose commands the model's driver does not have (rather than ignore them)."""
    for key in keys:
        if key in options:
            raise ValueError(f"option {key}: the {model} driver cannot set it (no command for it in its spec)")


def same_setting(wanted: float | str, got: float | str) -> bool:
    """Whether a read-back value is the one set (numbers compared to the instrument's resolution)."""
    if isinstance(wanted, str) or isinstance(got, str):
        return str(wanted).upper() == str(got).upper()
    return math.isclose(wanted, got, rel_tol=1e-6)


def mismatches(wanted: Mapping[int, float | str], got: Mapping[int, float | str], key: str) -> list[str]:
    """Each element whose read-back differs from what was set, as 'key[element]: set X, reads Y'."""
    return [
        f"{key}[{e}]: set {value!r}, reads back {got.get(e)!r}"
        for e, value in wanted.items()
        if e not in got or not same_setting(value, got[e])
    ]
