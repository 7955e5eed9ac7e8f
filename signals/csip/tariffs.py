"""The server's book of prices: TariffProfiles, their RateComponents and TimeTariffIntervals.

A device's TariffProfile (by name) is listed in one of its FunctionSetAssignments;
it has a RateComponent for energy imported and, once a schedule carries export
prices, one for energy exported. Each interval of a published schedule becomes a
TimeTariffInterval of each component, with its consumption blocks. EventStatus is
computed at read time as for DERControls: a newer interval supersedes the older
ones of the same component that it overlaps, from its start (at once if started).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from flexbench.signals.csip.prices import PriceInterval
from flexbench.signals.csip.registry import new_mrid
from flexbench.signals.csip.schedule import ACTIVE, event_status
from flexbench.signals.csip.store import Store

FLOWS = ("import", "export")
MAX_TOU_TIER = 15  # TOUType: 0 not applicable, 1-15 tiers A-O


@dataclass(frozen=True)
class TariffTerms:
    """What the operator says of a TariffProfile besides its prices."""

    name: str = "tariff"
    fsa: int = 1  # the FunctionSetAssignments that lists it
    primacy: int = 1  # 2030.5 PrimacyType: 1 contracted premises service provider; the lower wins
    currency: int = 840  # ISO 4217 number: US dollar
    price_multiplier: int = -4  # prices go out as integers of 10^this of the currency
    rate_code: str | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a TariffProfile needs a name")
        for key, top in (("primacy", 255), ("currency", 999)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
                raise ValueError(f"{key} must be a whole number from 0 to {top}, got {value!r}")
        if not isinstance(self.price_multiplier, int) or not -9 <= self.price_multiplier <= 9:
            raise ValueError(f"price_multiplier must be a whole number from -9 to 9, got {self.price_multiplier!r}")
        if self.rate_code is not None and len(self.rate_code.encode()) > 20:
            raise ValueError(f"rateCode is a String20, got {self.rate_code!r}")


@dataclass(frozen=True)
class Tariff:
    """One TariffProfile; prices go out as integers times 10^price_multiplier."""

    id: int
    edev_id: int
    name: str
    mrid: str
    fsa: int
    primacy: int
    currency: int
    price_multiplier: int
    rate_code: str | None
    version: int


@dataclass(frozen=True)
class RateComponentRow:
    id: int
    tariff_id: int
    flow: str  # "import" or "export"
    mrid: str


@dataclass(frozen=True)
class TariffInterval:
    """One TimeTariffInterval as stored; blocks are (from kWh, price per kWh), the first from 0."""

    id: int
    rate_component_id: int
    mrid: str
    creation_s: int
    start_s: int
    duration_s: int
    tou_tier: int
    blocks: tuple[tuple[float, float], ...]
    cancelled_s: int | None
    superseded_at_s: int | None
    version: int

    @property
    def end_s(self) -> int:
        return self.start_s + self.duration_s

    def status(self, now_s: float) -> tuple[int, int]:
        return event_status(self.start_s, self.creation_s, now_s, self.cancelled_s, False, self.superseded_at_s)

    def is_active(self, now_s: float) -> bool:
        return self.start_s <= now_s < self.end_s and self.status(now_s)[0] == ACTIVE

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> TariffInterval:
        return cls(
            id=row["id"],
            rate_component_id=row["rate_component_id"],
            mrid=row["mrid"],
            creation_s=row["creation_s"],
            start_s=row["start_s"],
            duration_s=row["duration_s"],
            tou_tier=row["tou_tier"],
            blocks=tuple((float(a), float(b)) for a, b in json.loads(row["blocks_json"])),
            cancelled_s=row["cancelled_s"],
            superseded_at_s=row["superseded_at_s"],
            version=row["version"],
        )


def encode_price(price_per_kwh: float, multiplier: int) -> int:
    """A price as the Int32 2030.5 carries, in units of 10^multiplier of the currency per kWh."""
    value = round(price_per_kwh / 10.0**multiplier)
    if not -(2**31) <= value < 2**31:
        raise ValueError(
            f"price {price_per_kwh} per kWh does not fit an Int32 at pricePowerOfTenMultiplier {multiplier}"
        )
    return value


def tou_tiers(intervals: list[PriceInterval]) -> list[int]:
    """touTier of each interval: the rank of its import price, 1 the cheapest; 0 (not applicable) past 15 prices."""
    prices = sorted({i.import_price_per_kwh for i in intervals})
    if len(prices) > MAX_TOU_TIER:
        return [0] * len(intervals)
    return [prices.index(i.import_price_per_kwh) + 1 for i in intervals]


class TariffBook:
    def __init__(self, store: Store) -> None:
        self.store = store

    # Tariff profiles ---------------------------------------------------------------
    def put_tariff(self, edev_id: int, terms: TariffTerms) -> Tariff:
        """Make the device's TariffProfile of this name, or update it (its version then rises)."""
        t = terms
        self.store.run(
            "INSERT INTO tariff_profiles (edev_id, name, mrid, fsa, primacy, currency, price_multiplier, rate_code)"
            " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (edev_id, name) DO UPDATE SET fsa=excluded.fsa,"
            " primacy=excluded.primacy, currency=excluded.currency, price_multiplier=excluded.price_multiplier,"
            " rate_code=excluded.rate_code, version=version+1",
            (edev_id, t.name, new_mrid(), t.fsa, t.primacy, t.currency, t.price_multiplier, t.rate_code),
        )
        row = self.store.one("SELECT * FROM tariff_profiles WHERE edev_id=? AND name=?", (edev_id, t.name))
        assert row is not None
        return _tariff(row)

    def tariffs(self, edev_id: int, fsa: int | None = None) -> list[Tariff]:
        rows = self.store.all("SELECT * FROM tariff_profiles WHERE edev_id=? ORDER BY primacy, id", (edev_id,))
        return [_tariff(r) for r in rows if fsa is None or r["fsa"] == fsa]

    def tariff(self, edev_id: int, tariff_id: int) -> Tariff | None:
        row = self.store.one("SELECT * FROM tariff_profiles WHERE edev_id=? AND id=?", (edev_id, tariff_id))
        return _tariff(row) if row else None

    # Rate components -------------------------------------------------------------------
    def rate_component(self, tariff_id: int, flow: str) -> RateComponentRow:
        """The tariff's component for this flow, made when first used."""
        self.store.run(
            "INSERT OR IGNORE INTO rate_components (tariff_id, flow, mrid) VALUES (?,?,?)",
            (tariff_id, flow, new_mrid()),
        )
        row = self.store.one("SELECT * FROM rate_components WHERE tariff_id=? AND flow=?", (tariff_id, flow))
        assert row is not None
        return _component(row)

    def rate_components(self, tariff_id: int) -> list[RateComponentRow]:
        rows = self.store.all("SELECT * FROM rate_components WHERE tariff_id=? ORDER BY id", (tariff_id,))
        return [_component(r) for r in rows]

    def rate_component_by_id(self, tariff_id: int, component_id: int) -> RateComponentRow | None:
        row = self.store.one("SELECT * FROM rate_components WHERE tariff_id=? AND id=?", (tariff_id, component_id))
        return _component(row) if row else None

    # Intervals -------------------------------------------------------------------------
    def intervals(self, component_id: int, now_s: float | None = None) -> list[TariffInterval]:
        """In 2030.5 list order (start, newest creation first); only those not yet over if now_s is given."""
        rows = self.store.all(
            "SELECT * FROM tariff_intervals WHERE rate_component_id=? ORDER BY start_s, creation_s DESC, id DESC",
            (component_id,),
        )
        found = [TariffInterval.from_row(r) for r in rows]
        return found if now_s is None else [i for i in found if i.end_s > now_s]

    def interval(self, component_id: int, interval_id: int) -> TariffInterval | None:
        row = self.store.one(
            "SELECT * FROM tariff_intervals WHERE rate_component_id=? AND id=?", (component_id, interval_id)
        )
        return TariffInterval.from_row(row) if row else None

    def add_interval(
        self,
        component_id: int,
        start_s: int,
        duration_s: int,
        tou_tier: int,
        blocks: list[tuple[float, float]],
        now_s: int,
    ) -> tuple[TariffInterval, list[str]]:
        """Store an interval and mark the ones it supersedes; returns it and their mRIDs."""
        end_s = start_s + duration_s
        superseded: list[str] = []
        for other in self.intervals(component_id, now_s):
            if other.cancelled_s is not None or other.superseded_at_s is not None:
                continue
            if other.start_s < end_s and start_s < other.end_s:
                self.store.run(
                    "UPDATE tariff_intervals SET superseded_at_s=?, version=version+1 WHERE id=?",
                    (max(start_s, now_s), other.id),
                )
                superseded.append(other.mrid)
        interval_id = self.store.run(
            "INSERT INTO tariff_intervals (rate_component_id, mrid, creation_s, start_s, duration_s, tou_tier,"
            " blocks_json) VALUES (?,?,?,?,?,?,?)",
            (component_id, new_mrid(), now_s, start_s, duration_s, tou_tier, json.dumps(blocks)),
        )
        found = self.interval(component_id, interval_id)
        assert found is not None
        return found, superseded

    def next_boundary_s(self, component_id: int, now_s: float) -> float:
        """Next time a listed interval changes status or leaves the list."""
        times = [
            t
            for i in self.intervals(component_id, now_s)
            for t in (i.start_s, i.end_s, i.superseded_at_s)
            if t is not None and t > now_s
        ]
        return float(min(times)) if times else float("inf")

    def publish(
        self, edev_id: int, schedule: list[PriceInterval], now_s: int, terms: TariffTerms
    ) -> tuple[Tariff, dict[str, list[str]], list[str]]:
        """A price schedule into the named TariffProfile: each interval in the import RateComponent, and in the
        export one when it has an export price. Returns the profile, the new mRIDs by flow, the superseded ones."""
        for i in schedule:  # refuse a price that cannot be sent before anything is stored
            for price in (i.import_price_per_kwh, i.export_price_per_kwh, *(p for _, p in i.import_blocks)):
                if price is not None:
                    encode_price(price, terms.price_multiplier)
        tiers = tou_tiers(schedule)
        mrids: dict[str, list[str]] = {}
        superseded: list[str] = []
        with self.store.transaction():
            profile = self.put_tariff(edev_id, terms)
            for flow in FLOWS:
                priced = [
                    (i, t) for i, t in zip(schedule, tiers) if flow == "import" or i.export_price_per_kwh is not None
                ]
                if not priced:
                    continue
                component = self.rate_component(profile.id, flow)
                for interval, tier in priced:
                    blocks = (
                        [(0.0, interval.import_price_per_kwh), *interval.import_blocks]
                        if flow == "import"
                        else [(0.0, float(interval.export_price_per_kwh or 0.0))]
                    )
                    stored, gone = self.add_interval(
                        component.id, interval.start_s, interval.duration_s, tier, blocks, now_s
                    )
                    mrids.setdefault(flow, []).append(stored.mrid)
                    superseded += gone
        return profile, mrids, superseded

    # Clearing ----------------------------------------------------------------------------
    def clear(self, edev_id: int) -> int:
        """Remove the device's tariff profiles with all they hold; how many intervals went."""
        gone = 0
        for tariff in self.tariffs(edev_id):
            for component in self.rate_components(tariff.id):
                gone += len(self.intervals(component.id))
                self.store.run("DELETE FROM tariff_intervals WHERE rate_component_id=?", (component.id,))
            self.store.run("DELETE FROM rate_components WHERE tariff_id=?", (tariff.id,))
            self.store.run("DELETE FROM tariff_profiles WHERE id=?", (tariff.id,))
        return gone


def _tariff(row: sqlite3.Row) -> Tariff:
    return Tariff(
        row["id"],
        row["edev_id"],
        row["name"],
        row["mrid"],
        row["fsa"],
        row["primacy"],
        row["currency"],
        row["price_multiplier"],
        row["rate_code"],
        row["version"],
    )


def _component(row: sqlite3.Row) -> RateComponentRow:
    return RateComponentRow(row["id"], row["tariff_id"], row["flow"], row["mrid"])


def interval_dict(tariff: Tariff, flow: str, interval: TariffInterval, now_s: float) -> dict[str, Any]:
    """What the operator reads back of an interval: times, status and prices per kWh."""
    status, status_s = interval.status(now_s)
    return {
        "tariff": tariff.name,
        "flow": flow,
        "mrid": interval.mrid,
        "start_s": interval.start_s,
        "duration_s": interval.duration_s,
        "tou_tier": interval.tou_tier,
        "status": status,
        "status_s": status_s,
        "price_per_kwh": interval.blocks[0][1],
        "blocks": [list(b) for b in interval.blocks],
    }
