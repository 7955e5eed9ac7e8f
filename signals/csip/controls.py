"""Control values in engineering units, and their exact 2030.5 encoding.

The operator thinks in watts and percent; 2030.5 carries ActivePower as a
16-bit value with a power-of-ten multiplier, percentages in hundredths and
ramp times in hundredths of a second. Encoding here is the single place those
conversions happen, so what is published is what a client decodes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from flexbench.core import SiteLimits
from flexbench.signals.csip.models import ActivePower, DERControlBase

INT16_MAX = 32767
MULTIPLIER_RANGE = range(-3, 10)
SITE_SIDES = ("import_limit_w", "export_limit_w")


@dataclass(frozen=True, kw_only=True)
class ControlValues:
    """One DERControlBase, in engineering units; None means the element is absent.

    The flat form (as_dict / from_dict: import_limit_w, export_limit_w, generation_limit_w, ...)
    is what the operator API and the head-end's JSON carry.
    """

    limits: SiteLimits = field(default_factory=SiteLimits)  # csipaus:opModImpLimW / opModExpLimW, at the PCC
    generation_limit_w: float | None = None  # csipaus:opModGenLimW
    load_limit_w: float | None = None  # csipaus:opModLoadLimW
    max_limit_pct: float | None = None  # opModMaxLimW, percent of the DER's setMaxW
    target_w: float | None = None  # opModTargetW
    fixed_w_pct: float | None = None  # opModFixedW, percent of setMaxW (signed)
    connect: bool | None = None  # opModConnect
    energize: bool | None = None  # opModEnergize
    ramp_time_s: float | None = None  # rampTms

    @property
    def import_limit_w(self) -> float | None:
        return self.limits.import_limit_w

    @property
    def export_limit_w(self) -> float | None:
        return self.limits.export_limit_w

    def elements(self) -> frozenset[str]:
        """Names of the 2030.5 elements present: what supersede compares."""
        return frozenset(ELEMENT_NAMES[name] for name in self.as_dict())

    def is_empty(self) -> bool:
        return not self.elements()

    def as_dict(self) -> dict[str, Any]:
        """The elements present, flat, by field name (the site limits' two sides as their own keys)."""
        out: dict[str, Any] = dict(self.limits.as_dict())
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "limits" and value is not None:
                out[f.name] = value
        return out

    def merged_over(self, fallback: ControlValues) -> ControlValues:
        """These values, with absent elements taken from `fallback`."""
        return ControlValues.from_dict({**fallback.as_dict(), **self.as_dict()})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ControlValues:
        """From the flat form; unknown keys are refused, naming the known ones."""
        unknown = set(data) - set(ELEMENT_NAMES)
        if unknown:
            raise ValueError(f"unknown control value(s) {sorted(unknown)}; known: {sorted(ELEMENT_NAMES)}")
        others = {k: v for k, v in data.items() if k not in SITE_SIDES}
        return cls(limits=SiteLimits(**{k: v for k, v in data.items() if k in SITE_SIDES}), **others)


ELEMENT_NAMES: dict[str, str] = {
    "import_limit_w": "opModImpLimW",
    "export_limit_w": "opModExpLimW",
    "generation_limit_w": "opModGenLimW",
    "load_limit_w": "opModLoadLimW",
    "max_limit_pct": "opModMaxLimW",
    "target_w": "opModTargetW",
    "fixed_w_pct": "opModFixedW",
    "connect": "opModConnect",
    "energize": "opModEnergize",
    "ramp_time_s": "rampTms",
}
ACTIVE_POWER_FIELDS = ("import_limit_w", "export_limit_w", "generation_limit_w", "load_limit_w", "target_w")
LIMIT_FIELDS = ("import_limit_w", "export_limit_w", "generation_limit_w", "load_limit_w")


def active_power(watts: float, rounding: Callable[[float], int] = round) -> tuple[int, int]:
    """(value, multiplier) with value in int16: exact when possible, else rounded by `rounding`
    (the closest by default; limits pass math.trunc, so the wire never allows more than was meant)."""
    if watts != watts or watts in (float("inf"), float("-inf")):
        raise ValueError(f"power must be finite, got {watts}")
    # Exact representations, smallest magnitude of multiplier first.
    for multiplier in sorted(MULTIPLIER_RANGE, key=lambda m: (abs(m), -m)):
        value = round(watts / 10**multiplier) if multiplier >= 0 else round(watts * 10**-multiplier)
        if abs(value) <= INT16_MAX and _decode(value, multiplier) == watts:
            return value, multiplier
    for multiplier in range(0, 10):
        value = rounding(watts / 10**multiplier)
        if abs(value) <= INT16_MAX:
            return value, multiplier
    raise ValueError(f"power {watts} W does not fit a 2030.5 ActivePower")


def _decode(value: int, multiplier: int) -> float:
    return value * 10**multiplier if multiplier >= 0 else value / 10**-multiplier


def watts(power: ActivePower) -> float:
    """Watts of an ActivePower: value x 10^multiplier."""
    return _decode(power.value, power.multiplier)


def encode(values: ControlValues) -> DERControlBase:
    """ControlValues -> DERControlBase (the exact wire values)."""
    kwargs: dict[str, Any] = {}
    for name in ACTIVE_POWER_FIELDS:
        w = getattr(values, name)
        if w is not None:
            value, multiplier = active_power(float(w), math.trunc if name in LIMIT_FIELDS else round)
            kwargs[ELEMENT_NAMES[name]] = ActivePower(value=value, multiplier=multiplier)
    if values.max_limit_pct is not None:
        if not 0 <= values.max_limit_pct <= 100:
            raise ValueError(f"max_limit_pct must be within 0..100, got {values.max_limit_pct}")
        kwargs["opModMaxLimW"] = round(values.max_limit_pct * 100)
    if values.fixed_w_pct is not None:
        kwargs["opModFixedW"] = round(values.fixed_w_pct * 100)
    if values.connect is not None:
        kwargs["opModConnect"] = values.connect
    if values.energize is not None:
        kwargs["opModEnergize"] = values.energize
    if values.ramp_time_s is not None:
        kwargs["rampTms"] = round(values.ramp_time_s * 100)
    return DERControlBase(**kwargs)


def decode(base: DERControlBase) -> ControlValues:
    """DERControlBase -> ControlValues, the way a client applies it (IntervalError for a negative site limit)."""
    kwargs: dict[str, Any] = {}
    for name in ACTIVE_POWER_FIELDS:
        power = getattr(base, ELEMENT_NAMES[name])
        if power is not None:
            kwargs[name] = watts(power)
    if base.opModMaxLimW is not None:
        kwargs["max_limit_pct"] = base.opModMaxLimW / 100
    if base.opModFixedW is not None:
        kwargs["fixed_w_pct"] = base.opModFixedW / 100
    if base.opModConnect is not None:
        kwargs["connect"] = base.opModConnect
    if base.opModEnergize is not None:
        kwargs["energize"] = base.opModEnergize
    if base.rampTms is not None:
        kwargs["ramp_time_s"] = base.rampTms / 100
    return ControlValues.from_dict(kwargs)


def wire_values(base: DERControlBase) -> dict[str, Any]:
    """The raw wire values of a DERControlBase: ActivePower as (value, multiplier)."""
    out: dict[str, Any] = {}
    for _name, element in ELEMENT_NAMES.items():
        raw = getattr(base, element)
        if raw is None:
            continue
        out[element] = [raw.value, raw.multiplier] if isinstance(raw, ActivePower) else raw
    return out
