"""What the store hands back of what clients sent: one frozen record per kind of row.

Built where the SQL row is read (records.py), read by attribute by the handlers,
the renderers and the operator API. Slotted, so building one per row on a GET costs
no more than the dict it replaces. The operator's JSON is `dataclasses.asdict` of
these, at the edge (the HTTPS admin), and `OperatorClient` builds them back.
Light on purpose: no models, no SQLite, so the operator client can import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ResponseRecord:
    """A Response a device posted to a DERControl (status 1 received, 2 started, 3 completed ...)."""

    id: int
    edev_id: int
    lfdi: str
    subject: str  # the DERControl's mRID
    status: int | None
    created_s: int | None  # the device's createdDateTime
    received_s: int

    @property
    def sent_s(self) -> int:
        """When the device says it sent it, or when it came if it did not say (list order and `a` paging)."""
        return self.created_s or self.received_s


@dataclass(frozen=True, slots=True)
class MirrorUsagePointRecord:
    id: int
    edev_id: int
    mrid: str
    description: str | None
    role_flags: str
    service_category: int
    status: int
    post_rate_s: int | None


@dataclass(frozen=True, slots=True)
class MeterReadingRecord:
    """A MirrorMeterReading of a MirrorUsagePoint; its ReadingType as the device sent it (JSON of the model)."""

    id: int
    mup_id: int
    mrid: str
    description: str | None
    reading_type: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TelemetryRecord:
    """One mirrored reading with what says what it is; `scaled_value` is `value` x 10^multiplier in `uom`."""

    edev_id: int
    mup_mrid: str
    mmr_mrid: str
    description: str | None
    role_flags: str
    uom: int | None
    phase: int | None
    flow_direction: int | None
    kind: int | None
    time_s: int
    duration_s: int | None
    value: int
    multiplier: int
    scaled_value: float
    received_s: int


@dataclass(frozen=True, slots=True)
class LogEventRecord:
    id: int
    edev_id: int
    created_s: int
    function_set: int
    log_event_code: int
    log_event_id: int
    log_event_pen: int
    profile_id: int
    details: str | None
    extended_data: int | None
    received_s: int


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    id: int
    edev_id: int  # the subscriber: the device, or the aggregator of the site whose resource it is
    resource: str  # the subscribed href, with its query string if it had one
    notification_uri: str
    list_limit: int
    level: str
    created_s: int


@dataclass(frozen=True, slots=True)
class DerDocumentRecord:
    """A DERCapability, DERSettings, DERStatus or DERAvailability a device PUT: served back as sent, and read
    by the operator as the model's JSON."""

    xml: bytes
    summary: dict[str, Any]
