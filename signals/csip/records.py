"""What clients send: Responses, DER documents, mirrored meter readings, LogEvents, Subscriptions.

Each is checked against its model before it is stored, and stored in one
transaction, so a rejected request changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_xml import BaseXmlModel

from flexbench.signals.csip import models as m
from flexbench.signals.csip.record_types import (
    DerDocumentRecord,
    LogEventRecord,
    MeterReadingRecord,
    MirrorUsagePointRecord,
    ResponseRecord,
    SubscriptionRecord,
    TelemetryRecord,
)
from flexbench.signals.csip.store import Store

DER_DOCUMENT_MODELS: dict[str, type[BaseXmlModel]] = {
    "dercap": m.DERCapability,
    "derg": m.DERSettings,
    "ders": m.DERStatus,
    "dera": m.DERAvailability,
}


# Each record's columns in the order of its fields: the row is read into it by position.
RESPONSE_COLUMNS = "id, edev_id, lfdi, subject, status, created_s, received_s"
MUP_COLUMNS = "id, edev_id, mrid, description, role_flags, service_category, status, post_rate_s"
LOG_EVENT_COLUMNS = (
    "id, edev_id, created_s, function_set, log_event_code, log_event_id, log_event_pen, profile_id, details,"
    " extended_data, received_s"
)
SUBSCRIPTION_COLUMNS = "id, edev_id, resource, notification_uri, list_limit, level, created_s"

STRING32_BYTES = 32  # IEEE 2030.5 String32: at most 32 bytes stored


def string32(name: str, value: str | None) -> None:
    """Refuse (ValueError, a 400 to the client) a String32 longer than the standard lets a server store."""
    if value is not None and len(value.encode("utf-8")) > STRING32_BYTES:
        raise ValueError(f"{name} is a String32 of at most {STRING32_BYTES} bytes, got {len(value.encode())}")


class Records:
    def __init__(self, store: Store) -> None:
        self.store = store

    # Responses -------------------------------------------------------------------
    def add_response(self, edev_id: int, response: m.Response, now_s: int) -> int:
        return self.store.run(
            "INSERT INTO responses (edev_id, lfdi, subject, status, created_s, received_s) VALUES (?,?,?,?,?,?)",
            (
                edev_id,
                response.endDeviceLFDI.upper(),
                response.subject.upper(),
                int(response.status) if response.status is not None else None,
                response.createdDateTime,
                now_s,
            ),
        )

    def responses(self, edev_ids: list[int] | None = None, subject: str | None = None) -> list[ResponseRecord]:
        sql = f"SELECT {RESPONSE_COLUMNS} FROM responses"
        clauses: list[str] = []
        params: list[Any] = []
        if edev_ids is not None:
            clauses.append(f"edev_id IN ({','.join('?' * len(edev_ids))})")
            params += edev_ids
        if subject is not None:
            clauses.append("subject=?")
            params.append(subject.upper())
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        return [ResponseRecord(*r) for r in self.store.all(sql + " ORDER BY id", params)]

    # DER documents -------------------------------------------------------------------
    def put_der_document(self, edev_id: int, kind: str, document: Any, xml: bytes, now_s: int) -> None:
        summary = document.model_dump(mode="json", exclude_none=True)
        self.store.run(
            "INSERT INTO der_documents (edev_id, kind, xml, summary_json, updated_s) VALUES (?,?,?,?,?)"
            " ON CONFLICT (edev_id, kind) DO UPDATE SET xml=excluded.xml, summary_json=excluded.summary_json,"
            " updated_s=excluded.updated_s",
            (edev_id, kind, xml, json.dumps(summary), now_s),
        )

    def der_document(self, edev_id: int, kind: str) -> DerDocumentRecord | None:
        row = self.store.one("SELECT xml, summary_json FROM der_documents WHERE edev_id=? AND kind=?", (edev_id, kind))
        return DerDocumentRecord(bytes(row["xml"]), json.loads(row["summary_json"])) if row else None

    # Mirror usage points -------------------------------------------------------------
    def upsert_mirror_usage_point(self, edev_id: int, mup: m.MirrorUsagePoint, now_s: int) -> tuple[int, bool]:
        """Create or update a MirrorUsagePoint (keyed by mRID per device); returns (id, created)."""
        string32("MirrorUsagePoint description", mup.description)
        with self.store.transaction():
            row = self.store.one(
                "SELECT id FROM mirror_usage_points WHERE edev_id=? AND mrid=?", (edev_id, mup.mRID.upper())
            )
            if row is None:
                self._refuse_used_mrid("mirror_usage_points", "MirrorUsagePoint", mup.mRID)
                mup_id = self.store.run(
                    "INSERT INTO mirror_usage_points (edev_id, mrid, description, role_flags, service_category,"
                    " status, post_rate_s) VALUES (?,?,?,?,?,?,?)",
                    (
                        edev_id,
                        mup.mRID.upper(),
                        mup.description,
                        str(mup.roleFlags),
                        int(mup.serviceCategoryKind),
                        mup.status,
                        mup.postRate,
                    ),
                )
                created = True
            else:
                mup_id = row["id"]
                self.store.run(
                    "UPDATE mirror_usage_points SET description=?, role_flags=?, service_category=?, status=?,"
                    " post_rate_s=? WHERE id=?",
                    (
                        mup.description,
                        str(mup.roleFlags),
                        int(mup.serviceCategoryKind),
                        mup.status,
                        mup.postRate,
                        mup_id,
                    ),
                )
                created = False
            for mmr in mup.mirrorMeterReadings or []:
                self.add_meter_reading(mup_id, mmr, now_s)
        return mup_id, created

    def _refuse_used_mrid(self, table: str, what: str, mrid: str) -> None:
        """mRIDs are globally unique: a new resource may not take one that another resource (anyone's) holds."""
        if self.store.one(f"SELECT 1 FROM {table} WHERE mrid=?", (mrid.upper(),)) is not None:
            raise ValueError(f"{what} mRID {mrid} is already in use by another {what}")

    def mirror_usage_points(self, edev_ids: list[int]) -> list[MirrorUsagePointRecord]:
        rows = self.store.all(
            f"SELECT {MUP_COLUMNS} FROM mirror_usage_points"
            f" WHERE edev_id IN ({','.join('?' * len(edev_ids))}) ORDER BY id",
            edev_ids,
        )
        return [MirrorUsagePointRecord(*r) for r in rows]

    def count_mirror_usage_points(self, edev_ids: list[int]) -> int:
        """How many the devices have: a link's `all` on every GET of DeviceCapability, so no rows are built."""
        row = self.store.one(
            f"SELECT COUNT(*) AS n FROM mirror_usage_points WHERE edev_id IN ({','.join('?' * len(edev_ids))})",
            edev_ids,
        )
        return int(row["n"]) if row else 0

    def mirror_usage_point(self, mup_id: int) -> MirrorUsagePointRecord | None:
        row = self.store.one(f"SELECT {MUP_COLUMNS} FROM mirror_usage_points WHERE id=?", (mup_id,))
        return MirrorUsagePointRecord(*row) if row else None

    def delete_mirror_usage_point(self, mup_id: int) -> None:
        with self.store.transaction():
            self.store.run(
                "DELETE FROM readings WHERE mmr_id IN (SELECT id FROM mirror_meter_readings WHERE mup_id=?)",
                (mup_id,),
            )
            self.store.run("DELETE FROM mirror_meter_readings WHERE mup_id=?", (mup_id,))
            self.store.run("DELETE FROM mirror_usage_points WHERE id=?", (mup_id,))

    def delete_device_records(self, edev_id: int) -> None:
        """Everything a device sent: DER documents, Responses, mirrored readings, subscriptions, log events."""
        with self.store.transaction():
            for row in self.mirror_usage_points([edev_id]):
                self.delete_mirror_usage_point(row.id)
            for table in ("der_documents", "responses", "subscriptions", "log_events"):
                self.store.run(f"DELETE FROM {table} WHERE edev_id=?", (edev_id,))

    def meter_readings(self, mup_id: int) -> list[MeterReadingRecord]:
        rows = self.store.all(
            "SELECT id, mup_id, mrid, description, reading_type_json FROM mirror_meter_readings WHERE mup_id=?"
            " ORDER BY id",
            (mup_id,),
        )
        return [MeterReadingRecord(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]

    def add_meter_reading(self, mup_id: int, mmr: m.MirrorMeterReading, now_s: int) -> bool:
        """Store a MirrorMeterReading and its readings; returns True if the MMR is new."""
        string32("MirrorMeterReading description", mmr.description)
        with self.store.transaction():
            row = self.store.one(
                "SELECT id, reading_type_json FROM mirror_meter_readings WHERE mup_id=? AND mrid=?",
                (mup_id, mmr.mRID.upper()),
            )
            reading_type = (
                mmr.readingType.model_dump(mode="json", exclude_none=True) if mmr.readingType is not None else None
            )
            if row is None:
                self._refuse_used_mrid("mirror_meter_readings", "MirrorMeterReading", mmr.mRID)
                if reading_type is None:
                    raise ValueError("a new MirrorMeterReading needs its ReadingType")
                mmr_id = self.store.run(
                    "INSERT INTO mirror_meter_readings (mup_id, mrid, description, reading_type_json) VALUES (?,?,?,?)",
                    (mup_id, mmr.mRID.upper(), mmr.description, json.dumps(reading_type)),
                )
                created = True
            else:
                mmr_id = row["id"]
                if reading_type is not None:
                    self.store.run(
                        "UPDATE mirror_meter_readings SET reading_type_json=? WHERE id=?",
                        (json.dumps(reading_type), mmr_id),
                    )
                created = False
            default_time = mmr.lastUpdateTime if mmr.lastUpdateTime is not None else now_s
            samples: list[tuple[m.Reading, int]] = []
            if mmr.reading is not None:
                samples.append((mmr.reading, default_time))
            for reading_set in mmr.mirrorReadingSets or []:
                for reading in reading_set.readings or []:
                    samples.append((reading, reading_set.timePeriod.start))
            for reading, fallback_s in samples:
                if reading.value is None:
                    raise ValueError("a Reading needs a value")
                period = reading.timePeriod
                self.store.run(
                    "INSERT INTO readings (mmr_id, time_s, duration_s, value, quality_flags, received_s)"
                    " VALUES (?,?,?,?,?,?)",
                    (
                        mmr_id,
                        period.start if period else fallback_s,
                        period.duration if period else None,
                        reading.value,
                        str(reading.qualityFlags) if reading.qualityFlags is not None else None,
                        now_s,
                    ),
                )
        return created

    def telemetry(self, edev_ids: list[int], since_s: int | None = None) -> list[TelemetryRecord]:
        """Every mirrored reading, scaled by its ReadingType's powerOfTenMultiplier."""
        params: list[Any] = list(edev_ids)
        sql = (
            "SELECT u.edev_id, u.mrid AS mup_mrid, u.role_flags, r.mmr_id, mm.mrid AS mmr_mrid, mm.description,"
            " mm.reading_type_json, r.time_s, r.duration_s, r.value, r.received_s"
            " FROM readings r JOIN mirror_meter_readings mm ON mm.id = r.mmr_id"
            " JOIN mirror_usage_points u ON u.id = mm.mup_id"
            f" WHERE u.edev_id IN ({','.join('?' * len(edev_ids))})"
        )
        if since_s is not None:
            sql += " AND r.time_s >= ?"
            params.append(since_s)
        out = []
        for row in self.store.all(sql + " ORDER BY r.time_s, r.id", params):
            reading_type = json.loads(row["reading_type_json"])
            multiplier = int(reading_type.get("powerOfTenMultiplier") or 0)
            value = row["value"]
            out.append(
                TelemetryRecord(
                    edev_id=row["edev_id"],
                    mup_mrid=row["mup_mrid"],
                    mmr_mrid=row["mmr_mrid"],
                    description=row["description"],
                    role_flags=row["role_flags"],
                    uom=reading_type.get("uom"),
                    phase=reading_type.get("phase"),
                    flow_direction=reading_type.get("flowDirection"),
                    kind=reading_type.get("kind"),
                    time_s=row["time_s"],
                    duration_s=row["duration_s"],
                    value=value,
                    multiplier=multiplier,
                    scaled_value=value * 10**multiplier if multiplier >= 0 else value / 10**-multiplier,
                    received_s=row["received_s"],
                )
            )
        return out

    # Log events ----------------------------------------------------------------------------
    def add_log_event(self, edev_id: int, event: m.LogEvent, now_s: int) -> int:
        return self.store.run(
            "INSERT INTO log_events (edev_id, created_s, function_set, log_event_code, log_event_id,"
            " log_event_pen, profile_id, details, extended_data, received_s) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                edev_id,
                event.createdDateTime,
                int(event.functionSet),
                event.logEventCode,
                event.logEventID,
                event.logEventPEN,
                int(event.profileID),
                event.details,
                event.extendedData,
                now_s,
            ),
        )

    def log_events(self, edev_id: int) -> list[LogEventRecord]:
        rows = self.store.all(
            f"SELECT {LOG_EVENT_COLUMNS} FROM log_events WHERE edev_id=? ORDER BY created_s DESC, id DESC", (edev_id,)
        )
        return [LogEventRecord(*r) for r in rows]

    def count_log_events(self, edev_id: int) -> int:
        row = self.store.one("SELECT COUNT(*) AS n FROM log_events WHERE edev_id=?", (edev_id,))
        return int(row["n"]) if row else 0

    # Subscriptions ------------------------------------------------------------------------------
    def add_subscription(self, edev_id: int, sub: m.Subscription, now_s: int) -> int:
        return self.store.run(
            "INSERT INTO subscriptions (edev_id, resource, notification_uri, list_limit, level, created_s)"
            " VALUES (?,?,?,?,?,?)",
            (edev_id, sub.subscribedResource, sub.notificationURI, sub.limit, sub.level, now_s),
        )

    def count_subscriptions(self, edev_id: int) -> int:
        row = self.store.one("SELECT COUNT(*) AS n FROM subscriptions WHERE edev_id=?", (edev_id,))
        return int(row["n"]) if row else 0

    def subscriptions(self, edev_id: int | None = None) -> list[SubscriptionRecord]:
        if edev_id is None:
            rows = self.store.all(f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions ORDER BY id")
        else:
            sql = f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE edev_id=? ORDER BY id"
            rows = self.store.all(sql, (edev_id,))
        return [SubscriptionRecord(*r) for r in rows]

    def subscription(self, sub_id: int) -> SubscriptionRecord | None:
        row = self.store.one(f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id=?", (sub_id,))
        return SubscriptionRecord(*row) if row else None

    def subscriptions_to(self, subscriber_ids: set[int], hrefs: set[str]) -> list[SubscriptionRecord]:
        """These subscribers' subscriptions to one of these hrefs, with or without a query string (indexed)."""
        if not hrefs or not subscriber_ids:
            return []
        ordered = sorted(hrefs)
        match = " OR ".join(["resource=? OR (resource>=? AND resource<?)"] * len(ordered))
        params: list[Any] = [p for h in ordered for p in (h, h + "?", h + "@")]  # '@' sorts right after '?'
        params += sorted(subscriber_ids)
        sql = (
            f"SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions"
            f" WHERE ({match}) AND edev_id IN ({','.join('?' * len(subscriber_ids))})"
        )
        return [SubscriptionRecord(*r) for r in self.store.all(sql + " ORDER BY id", params)]

    def delete_subscription(self, edev_id: int, sub_id: int) -> bool:
        found = self.store.one("SELECT id FROM subscriptions WHERE edev_id=? AND id=?", (edev_id, sub_id))
        if found is None:
            return False
        self.store.run("DELETE FROM subscriptions WHERE id=?", (sub_id,))
        return True
