"""The aggregator site's part of a bench file: [virtual.plant], [virtual.transformer], [virtual.homes].

    [virtual.transformer]
    feeder = "ieee8500"            # the embedded feeder whose service transformer the homes share
    name = "T5321859B"             # a 25 kVA single-phase transformer of IEEE 8500; or rating_kva = 25.0
    power_factor = 1.0             # rating in W = kVA x power factor
    allocation = "equal"           # how the utility shares it: equal | proportional | max-total

    [virtual.homes]                # every home alike unless a [virtual.homes.NAME] table says otherwise
    names = ["home1", "home2", "home3", "home4"]
    pv_w = 5000.0                  # device ratings (0: the home has none; a home needs one at least)
    battery_w = 5000.0
    ev_w = 7200.0
    load_w = 1500.0                # uncontrolled load at start
    service_import_limit_w = 12000.0   # what the home's service may draw: its own limit in the allocation
    service_export_limit_w = 8000.0

Every mistake names the file, line (when read from the bench file), table and key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from flexbench.lab.bench_config import BenchError
from flexbench.lab.virtual.aggregator_site.transformer import service_transformer_kva
from flexbench.twin.allocation import ALLOCATIONS


@dataclass(frozen=True)
class HomeSpec:
    name: str
    pv_w: float = 5000.0
    battery_w: float = 5000.0
    ev_w: float = 7200.0
    load_w: float = 1500.0
    service_import_limit_w: float = 12000.0
    service_export_limit_w: float = 8000.0


@dataclass(frozen=True)
class TransformerSpec:
    name: str
    rating_kva: float
    power_factor: float
    allocation: str

    @property
    def rating_w(self) -> float:
        return self.rating_kva * 1000.0 * self.power_factor


_HOME_KEYS = {f.name for f in fields(HomeSpec)} - {"name"}
_DEVICE_KEYS = ("pv_w", "battery_w", "ev_w", "load_w")  # 0 allowed: the home has none (no load)
_TRANSFORMER_KEYS = {"feeder", "name", "rating_kva", "power_factor", "allocation"}
DEFAULT_HOMES = ("home1", "home2", "home3", "home4")
# error(table, key, reason): the bench file's reader names file, line and key (lab.bench_config); alone, the table
Error = Callable[[str, "str | None", str], BenchError]


def plain_error(path: Any) -> Error:
    """Errors naming the file, table and key (the bench file's reader adds the line)."""
    return lambda table, key, reason: BenchError(f"{path} [{table}]: {key + ': ' if key else ''}{reason}")


def _number(error: Error, table: str, key: str, value: Any, zero_ok: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (value == 0 and not zero_ok):
        raise error(table, key, f"must be a {'non-negative' if zero_ok else 'positive'} number, got {value!r}")
    return float(value)


def _home_values(error: Error, table_name: str, table: dict[str, Any]) -> dict[str, float]:
    unknown = set(table) - _HOME_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise error(table_name, key, f"unknown key (known: {', '.join(sorted(_HOME_KEYS))})")
    return {key: _number(error, table_name, key, value, key in _DEVICE_KEYS) for key, value in table.items()}


def parse_homes(error: Error, table: Any) -> list[HomeSpec]:
    """[virtual.homes]: the homes' names, what they share, and a [virtual.homes.NAME] table per home that differs."""
    table = dict(table or {})
    names = table.pop("names", list(DEFAULT_HOMES))
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.isidentifier() for n in names):
        raise error("virtual.homes", "names", 'must be a list of home names, e.g. ["home1", "home2"]')
    if len(set(names)) != len(names):
        raise error("virtual.homes", "names", "repeats a home")
    overrides = {k: table.pop(k) for k in list(table) if isinstance(table[k], dict)}
    base = _home_values(error, "virtual.homes", table)
    homes = []
    for name in names:
        where = f"virtual.homes.{name}"
        values: dict[str, Any] = {**base, **_home_values(error, where, overrides.pop(name, {}))}
        home = replace(HomeSpec(name), **values)
        if not (home.pv_w or home.battery_w or home.ev_w):
            raise error(where, None, "a home needs a device (pv_w, battery_w or ev_w above 0)")
        homes.append(home)
    if overrides:
        raise error(f"virtual.homes.{next(iter(overrides))}", None, f"not one of the homes ({', '.join(names)})")
    return homes


def parse_transformer(error: Error, table: Any) -> TransformerSpec:
    """[virtual.transformer]: the shared service transformer, its rating and how the utility shares it."""
    table = dict(table or {})
    for key in table:
        if key not in _TRANSFORMER_KEYS:
            raise error("virtual.transformer", key, f"unknown key (known: {', '.join(sorted(_TRANSFORMER_KEYS))})")
    feeder = table.get("feeder", "ieee8500")
    if feeder != "ieee8500":
        raise error("virtual.transformer", "feeder", f'only "ieee8500" has service transformers, got {feeder!r}')
    name = table.get("name", "T5321859B")
    if "rating_kva" in table:
        rating_kva = _number(error, "virtual.transformer", "rating_kva", table["rating_kva"])
    else:
        try:
            rating_kva = service_transformer_kva(str(name))
        except KeyError as exc:
            raise error("virtual.transformer", "name", exc.args[0]) from None
    pf = _number(error, "virtual.transformer", "power_factor", table.get("power_factor", 1.0))
    if pf > 1.0:
        raise error("virtual.transformer", "power_factor", f"must be at most 1, got {pf!r}")
    allocation = table.get("allocation", "equal")
    if allocation not in ALLOCATIONS:
        raise error("virtual.transformer", "allocation", f"must be one of {', '.join(ALLOCATIONS)}, got {allocation!r}")
    return TransformerSpec(str(name), rating_kva, pf, allocation)


__all__ = ["HomeSpec", "TransformerSpec", "parse_homes", "parse_transformer", "plain_error"]
