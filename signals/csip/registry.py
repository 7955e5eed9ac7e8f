"""Who may talk to the head-end: registered devices, aggregators, and what each may see.

Every request is tied to the LFDI of the client certificate. A device sees its
own EndDevice tree; an aggregator sees the devices registered to it (and its
own). Lookups are cached in memory because every request makes one.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass

from flexbench.signals.csip.store import Store
from flexbench.signals.pki.identity import normalize_lfdi, pin_with_check_digit, sfdi_from_lfdi

DEVICE_KINDS = ("device", "aggregator")
LIMIT_MODES = ("auto", "site", "max_w")
DEFAULT_PIN = pin_with_check_digit(11111)


@dataclass(frozen=True, slots=True)
class Device:
    """A registered EndDevice."""

    id: int
    lfdi: str
    sfdi: int
    kind: str
    aggregator_id: int | None
    pin: int
    registered_s: int
    changed_s: int
    enabled: bool
    csipaus_version: str | None
    post_rate_s: int | None
    connection_point_id: str | None
    limit_mode: str
    rated_w: float | None
    description: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Device:
        return cls(
            id=row["id"],
            lfdi=row["lfdi"],
            sfdi=row["sfdi"],
            kind=row["kind"],
            aggregator_id=row["aggregator_id"],
            pin=row["pin"],
            registered_s=row["registered_s"],
            changed_s=row["changed_s"],
            enabled=bool(row["enabled"]),
            csipaus_version=row["csipaus_version"],
            post_rate_s=row["post_rate_s"],
            connection_point_id=row["connection_point_id"],
            limit_mode=row["limit_mode"],
            rated_w=row["rated_w"],
            description=row["description"],
        )


def new_mrid() -> str:
    """A 128-bit mRID as 32 upper-case hex digits."""
    return uuid.uuid4().hex.upper()


class Registry:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._by_lfdi: dict[str, Device] = {}
        self._by_id: dict[int, Device] = {}
        self.reload()

    def reload(self) -> None:
        with self.store.lock:
            rows = self.store.all("SELECT * FROM end_devices")
            self._by_lfdi = {}
            self._by_id = {}
            for row in rows:
                device = Device.from_row(row)
                self._by_lfdi[device.lfdi] = device
                self._by_id[device.id] = device

    def refresh(self, edev_id: int) -> None:
        """Re-read one device after it changed: registering N devices stays O(N), not O(N^2) reloads."""
        with self.store.lock:
            row = self.store.one("SELECT * FROM end_devices WHERE id=?", (edev_id,))
            old = self._by_id.pop(edev_id, None)
            if old is not None and self._by_lfdi.get(old.lfdi) is old:
                del self._by_lfdi[old.lfdi]
            if row is not None:
                device = Device.from_row(row)
                self._by_lfdi[device.lfdi] = device
                self._by_id[device.id] = device

    def by_lfdi(self, lfdi: str) -> Device | None:
        return self._by_lfdi.get(lfdi)

    def by_id(self, edev_id: int) -> Device | None:
        return self._by_id.get(edev_id)

    def all(self) -> list[Device]:
        return sorted(self._by_id.values(), key=lambda d: d.id)

    def visible_ids(self, caller: Device) -> list[int]:
        """EndDevice ids the caller may read and write."""
        if caller.kind == "aggregator":
            return [caller.id] + sorted(d.id for d in self._by_id.values() if d.aggregator_id == caller.id)
        return [caller.id]

    @staticmethod
    def holds_subscriptions(device: Device) -> bool:
        """Whether the device has a SubscriptionList: a site an aggregator manages subscribes through the aggregator's."""
        return device.aggregator_id is None

    def may_access(self, caller: Device, edev_id: int) -> bool:
        if edev_id == caller.id:
            return True
        target = self._by_id.get(edev_id)
        return caller.kind == "aggregator" and target is not None and target.aggregator_id == caller.id

    def register(
        self,
        lfdi: str,
        now_s: int,
        sfdi: int | None = None,
        kind: str = "device",
        aggregator_lfdi: str | None = None,
        pin: int | None = None,
        limit_mode: str = "auto",
        rated_w: float | None = None,
        connection_point_id: str | None = None,
        csipaus_version: str | None = None,
        post_rate_s: int | None = None,
        description: str | None = None,
    ) -> tuple[Device, bool]:
        """Register (or update) an EndDevice; returns it and whether it is new."""
        lfdi = normalize_lfdi(lfdi)
        if sfdi is None:
            sfdi = sfdi_from_lfdi(lfdi)
        if kind not in DEVICE_KINDS:
            raise ValueError(f"kind must be one of {DEVICE_KINDS}, got {kind!r}")
        if limit_mode not in LIMIT_MODES:
            raise ValueError(f"limit_mode must be one of {LIMIT_MODES}, got {limit_mode!r}")
        if csipaus_version not in (None, "1.2", "1.3"):
            raise ValueError(f"csipaus_version must be 1.2 or 1.3, got {csipaus_version!r}")
        aggregator_id = None
        if aggregator_lfdi is not None:
            aggregator = self.by_lfdi(normalize_lfdi(aggregator_lfdi))
            if aggregator is None or aggregator.kind != "aggregator":
                raise ValueError(f"no aggregator registered with LFDI {aggregator_lfdi}")
            aggregator_id = aggregator.id
        existing = self.by_lfdi(lfdi)
        with self.store.transaction():
            if existing is None:
                edev_id = self.store.run(
                    "INSERT INTO end_devices (lfdi, sfdi, kind, aggregator_id, pin, registered_s, changed_s,"
                    " csipaus_version, post_rate_s, connection_point_id, limit_mode, rated_w, description)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        lfdi,
                        sfdi,
                        kind,
                        aggregator_id,
                        pin if pin is not None else DEFAULT_PIN,
                        now_s,
                        now_s,
                        csipaus_version,
                        post_rate_s,
                        connection_point_id,
                        limit_mode,
                        rated_w,
                        description,
                    ),
                )
            else:
                edev_id = existing.id
                self.store.run(
                    "UPDATE end_devices SET sfdi=?, kind=?, aggregator_id=?, pin=?, changed_s=?, csipaus_version=?,"
                    " post_rate_s=?, connection_point_id=COALESCE(?, connection_point_id), limit_mode=?,"
                    " rated_w=COALESCE(?, rated_w), description=COALESCE(?, description) WHERE id=?",
                    (
                        sfdi,
                        kind,
                        aggregator_id,
                        pin if pin is not None else existing.pin,
                        now_s,
                        csipaus_version,
                        post_rate_s,
                        connection_point_id,
                        limit_mode,
                        rated_w,
                        description,
                        edev_id,
                    ),
                )
        self.refresh(edev_id)
        device = self._by_id[edev_id]
        return device, existing is None

    def delete(self, edev_id: int) -> None:
        """Remove the EndDevice row; what refers to it must be gone first."""
        self.store.run("DELETE FROM end_devices WHERE id=?", (edev_id,))
        self.refresh(edev_id)

    def set_enabled(self, edev_id: int, enabled: bool, now_s: int) -> None:
        self.store.run("UPDATE end_devices SET enabled=?, changed_s=? WHERE id=?", (int(enabled), now_s, edev_id))
        self.refresh(edev_id)

    def set_connection_point(self, edev_id: int, connection_point_id: str | None, now_s: int) -> None:
        self.store.run(
            "UPDATE end_devices SET connection_point_id=?, changed_s=? WHERE id=?",
            (connection_point_id, now_s, edev_id),
        )
        self.refresh(edev_id)
