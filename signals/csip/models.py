"""The 2030.5 / CSIP-AUS resource models this head-end speaks.

They come from envoy-schema (pydantic-xml models of IEEE 2030.5 with the
CSIP-AUS extensions, maintained for a production CSIP-AUS server); this module
names the ones used here and adjusts the few that are CSIP-AUS-only where the
US CSIP profile differs (DERCapability without doeModesSupported).
"""

from __future__ import annotations

from envoy_schema.server.schema.csip_aus.connection_point import (
    ConnectionPointLink,
    ConnectionPointRequest,
    ConnectionPointResponse,
)
from envoy_schema.server.schema.sep2 import primitive_types
from envoy_schema.server.schema.sep2.der import (
    DER,
    DefaultDERControl,
    DERAvailability,
    DERControlBase,
    DERSettings,
    DERStatus,
    DERType,
    InverterStatusType,
    OperationalModeStatusType,
)
from envoy_schema.server.schema.sep2.der import DERCapability as _EnvoyDERCapability
from envoy_schema.server.schema.sep2.der import (
    DERControlListResponse as DERControlList,
)
from envoy_schema.server.schema.sep2.der import (
    DERControlResponse as DERControl,
)
from envoy_schema.server.schema.sep2.der import (
    DERListResponse as DERList,
)
from envoy_schema.server.schema.sep2.der import (
    DERProgramListResponse as DERProgramList,
)
from envoy_schema.server.schema.sep2.der import (
    DERProgramResponse as DERProgram,
)
from envoy_schema.server.schema.sep2.der_control_types import ActivePower
from envoy_schema.server.schema.sep2.device_capability import DeviceCapabilityResponse as DeviceCapability
from envoy_schema.server.schema.sep2.end_device import (
    EndDeviceListResponse as EndDeviceList,
)
from envoy_schema.server.schema.sep2.end_device import (
    EndDeviceRequest,
)
from envoy_schema.server.schema.sep2.end_device import (
    EndDeviceResponse as EndDevice,
)
from envoy_schema.server.schema.sep2.end_device import (
    RegistrationResponse as Registration,
)
from envoy_schema.server.schema.sep2.event import EventStatus
from envoy_schema.server.schema.sep2.function_set_assignments import (
    FunctionSetAssignmentsListResponse as FunctionSetAssignmentsList,
)
from envoy_schema.server.schema.sep2.function_set_assignments import (
    FunctionSetAssignmentsResponse as FunctionSetAssignments,
)
from envoy_schema.server.schema.sep2.identification import Link, ListLink
from envoy_schema.server.schema.sep2.log_events import FunctionSetIdentifier, LogEvent, LogEventList, ProfileIdentifier
from envoy_schema.server.schema.sep2.metering import Reading, ReadingType
from envoy_schema.server.schema.sep2.metering_mirror import (
    MirrorMeterReading,
    MirrorMeterReadingListRequest,
    MirrorMeterReadingRequest,
    MirrorReadingSet,
)
from envoy_schema.server.schema.sep2.metering_mirror import (
    MirrorUsagePointListResponse as MirrorUsagePointList,
)
from envoy_schema.server.schema.sep2.metering_mirror import (
    MirrorUsagePointRequest as MirrorUsagePoint,
)
from envoy_schema.server.schema.sep2.pub_sub import (
    Notification,
    Subscription,
    SubscriptionEncoding,
)
from envoy_schema.server.schema.sep2.pub_sub import (
    SubscriptionListResponse as SubscriptionList,
)
from envoy_schema.server.schema.sep2.response import (
    DERControlResponse as DERControlResponseModel,
)
from envoy_schema.server.schema.sep2.response import (
    Response,
    ResponseSet,
    ResponseSetList,
    ResponseType,
)
from envoy_schema.server.schema.sep2.response import (
    ResponseListResponse as ResponseList,
)
from envoy_schema.server.schema.sep2.time import TimeResponse as Time
from envoy_schema.server.schema.sep2.types import (
    AccumulationBehaviourType,
    CommodityType,
    DataQualifierType,
    DateTimeIntervalType,
    FlowDirectionType,
    KindType,
    PhaseCode,
    ServiceKind,
    SubscribableType,
    TimeQualityType,
    UomType,
)
from pydantic_xml import element


class DERCapability(_EnvoyDERCapability, tag="DERCapability"):
    """DERCapability whose CSIP-AUS doeModesSupported is optional, so US CSIP devices can PUT theirs."""

    # Widened on purpose: mypy sees a required field made optional, pydantic a new field definition.
    doeModesSupported: primitive_types.HexBinary8 | None = element(ns="csipaus", default=None)  # type: ignore[assignment]


__all__ = [
    "AccumulationBehaviourType",
    "ActivePower",
    "CommodityType",
    "ConnectionPointLink",
    "ConnectionPointRequest",
    "ConnectionPointResponse",
    "DER",
    "DERAvailability",
    "DERCapability",
    "DERControl",
    "DERControlBase",
    "DERControlList",
    "DERControlResponseModel",
    "DERList",
    "DERProgram",
    "DERProgramList",
    "DERSettings",
    "DERStatus",
    "DERType",
    "DataQualifierType",
    "DateTimeIntervalType",
    "DefaultDERControl",
    "DeviceCapability",
    "EndDevice",
    "EndDeviceList",
    "EndDeviceRequest",
    "EventStatus",
    "FlowDirectionType",
    "FunctionSetIdentifier",
    "FunctionSetAssignments",
    "FunctionSetAssignmentsList",
    "InverterStatusType",
    "KindType",
    "Link",
    "ListLink",
    "LogEvent",
    "LogEventList",
    "MirrorMeterReading",
    "MirrorMeterReadingListRequest",
    "MirrorMeterReadingRequest",
    "MirrorReadingSet",
    "MirrorUsagePoint",
    "MirrorUsagePointList",
    "Notification",
    "OperationalModeStatusType",
    "PhaseCode",
    "ProfileIdentifier",
    "Reading",
    "ReadingType",
    "Registration",
    "Response",
    "ResponseList",
    "ResponseSet",
    "ResponseSetList",
    "ResponseType",
    "ServiceKind",
    "SubscribableType",
    "Subscription",
    "SubscriptionEncoding",
    "SubscriptionList",
    "Time",
    "TimeQualityType",
    "UomType",
]
