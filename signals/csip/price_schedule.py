"""The DER side of 2030.5 Pricing: the tariff tree read into a schedule of prices per kWh.

From each FunctionSetAssignments' TariffProfileList, every RateComponent is read
with its ReadingType (what its prices are per: energy imported, flowDirection 1,
or exported, 19) and its TimeTariffIntervals, each with its
ConsumptionTariffIntervals (blocks of consumption from startValue on). Cancelled
and superseded intervals are dropped; where intervals overlap, the TariffProfile
with the lower primacy wins, then the newer interval. A price is
ConsumptionTariffInterval.price x 10^pricePowerOfTenMultiplier of the currency per
ReadingType unit (Wh x 10^powerOfTenMultiplier), given here per kWh.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from flexbench.signals.csip import models as m
from flexbench.signals.csip import pricing_models as pm

LIVE_STATUSES = (0, 1)  # EventStatus scheduled, active
FLOWS = {1: "import", 19: "export"}  # ReadingType flowDirection
WH = 72  # UomType


@dataclass(frozen=True)
class PricePeriod:
    """One TimeTariffInterval as the device reads it: prices per kWh of one flow, by block (from kWh on)."""

    flow: str  # "import" or "export"
    start_s: int
    end_s: int
    blocks: tuple[tuple[float, float], ...]  # (from kWh, price per kWh), the first from 0
    primacy: int
    creation_s: int
    tou_tier: int
    currency: int | None
    mrid: str

    @property
    def price_per_kwh(self) -> float:
        """The price of the first block (the price in force at the start of the interval)."""
        return self.blocks[0][1]


@dataclass(frozen=True)
class PriceSchedule:
    """Every live price period the server lists; `price_at` is the one in force at a server time."""

    periods: tuple[PricePeriod, ...] = ()

    def in_force(self, flow: str, t_s: float) -> PricePeriod | None:
        covering = [p for p in self.periods if p.flow == flow and p.start_s <= t_s < p.end_s]
        if not covering:
            return None
        return min(covering, key=lambda p: (p.primacy, -p.creation_s))

    def price_at(self, t_s: float, flow: str = "import") -> float | None:
        """Price per kWh of `flow` in force at server time t_s (first block); None where none is published."""
        period = self.in_force(flow, t_s)
        return None if period is None else period.price_per_kwh

    def upcoming(self, t_s: float, flow: str = "import") -> list[PricePeriod]:
        """The periods of `flow` in force now or later, in time order: what a site schedules its storage by."""
        later = sorted({p.start_s for p in self.periods if p.flow == flow and p.end_s > t_s} | {int(t_s)})
        out: list[PricePeriod] = []
        for start_s in later:
            period = self.in_force(flow, max(start_s, t_s))
            if period is not None and period not in out:
                out.append(period)
        return out


Getter = Callable[..., Awaitable[Any]]
ListGetter = Callable[[str, type, str], Awaitable[list[Any]]]


class TariffReader:
    """Reads the tariff tree through the client's GETs; ReadingTypes and blocks are kept by href and version."""

    def __init__(self, get: Getter, get_list: ListGetter) -> None:
        self.get = get
        self.get_list = get_list
        self._reading_types: dict[str, Any] = {}
        self._blocks: dict[tuple[str, int | None], tuple[tuple[float, float], ...]] = {}

    async def read(self, fsas: list[Any]) -> PriceSchedule:
        periods: list[PricePeriod] = []
        for fsa in fsas:
            if fsa.TariffProfileListLink is None:
                continue
            for profile in await self.get_list(fsa.TariffProfileListLink.href, pm.TariffProfileList, "profiles"):
                if profile.RateComponentListLink is not None:
                    periods += await self._profile_periods(profile)
        return PriceSchedule(tuple(periods))

    async def _profile_periods(self, profile: Any) -> list[PricePeriod]:
        out: list[PricePeriod] = []
        components = await self.get_list(profile.RateComponentListLink.href, pm.RateComponentList, "components")
        for component in components:
            reading_type = await self._reading_type(component.ReadingTypeLink.href)
            flow = FLOWS.get(int(reading_type.flowDirection or 0))
            if flow is None:
                continue
            scale = _per_kwh_scale(profile, reading_type)
            href = component.TimeTariffIntervalListLink.href
            for tti in await self.get_list(href, pm.TimeTariffIntervalList, "intervals"):
                if (
                    int(tti.EventStatus_.currentStatus) not in LIVE_STATUSES
                    or tti.ConsumptionTariffIntervalListLink is None
                ):
                    continue
                blocks = await self._interval_blocks(tti, scale)
                if not blocks:
                    continue
                out.append(
                    PricePeriod(
                        flow=flow,
                        start_s=int(tti.interval.start),
                        end_s=int(tti.interval.start) + int(tti.interval.duration),
                        blocks=blocks,
                        primacy=int(profile.primacy),
                        creation_s=int(tti.creationTime),
                        tou_tier=int(tti.touTier),
                        currency=profile.currency,
                        mrid=tti.mRID.upper(),
                    )
                )
        return out

    async def _reading_type(self, href: str) -> Any:
        if href not in self._reading_types:
            self._reading_types[href] = await self.get(href, m.ReadingType)
        return self._reading_types[href]

    async def _interval_blocks(self, tti: Any, scale: tuple[float, float]) -> tuple[tuple[float, float], ...]:
        key = (tti.href or tti.mRID, tti.version)
        if key not in self._blocks:
            price_scale, kwh_per_unit = scale
            href = tti.ConsumptionTariffIntervalListLink.href
            listed = await self.get_list(href, pm.ConsumptionTariffIntervalList, "blocks")
            listed.sort(key=lambda b: int(b.startValue))
            self._blocks[key] = tuple(
                (int(b.startValue) * kwh_per_unit, float(b.price) * price_scale / kwh_per_unit)
                for b in listed
                if b.price is not None
            )
        return self._blocks[key]


def _per_kwh_scale(profile: Any, reading_type: Any) -> tuple[float, float]:
    """(currency per price unit, kWh per ReadingType unit): energy in Wh at its power of ten, else kWh."""
    price_scale = 10.0 ** int(profile.pricePowerOfTenMultiplier or 0)
    if reading_type.uom is not None and int(reading_type.uom) == WH:
        return price_scale, 10.0 ** int(reading_type.powerOfTenMultiplier or 0) / 1000.0
    return price_scale, 1.0
