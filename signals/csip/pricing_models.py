"""The resources of the 2030.5 Pricing function set, shaped as IEEE 2030.5-2018's schema has them.

envoy-schema carries these with CSIP-AUS extensions made mandatory (a combined
interval list on TariffProfile, a summary and a RateComponentLink on
TimeTariffInterval), which a US CSIP client does not expect; here the standard's
own sequence is kept, on envoy's base types. RateComponent and
ConsumptionTariffInterval are envoy's, whose shape is the standard's.
"""

from __future__ import annotations

from envoy_schema.server.schema.sep2.event import RandomizableEvent
from envoy_schema.server.schema.sep2.identification import IdentifiedObject, ListLink, SubscribableList
from envoy_schema.server.schema.sep2.identification import List as SepList
from envoy_schema.server.schema.sep2.pricing import ConsumptionTariffIntervalResponse as ConsumptionTariffInterval
from envoy_schema.server.schema.sep2.pricing import RateComponentResponse as RateComponent
from envoy_schema.server.schema.sep2.types import DEFAULT_POLLRATE_SECONDS, ConsumptionBlockType, ServiceKind
from pydantic_xml import attr, element


class TariffProfile(IdentifiedObject, tag="TariffProfile"):
    """IdentifiedObject, then currency, pricePowerOfTenMultiplier, primacy, rateCode, RateComponentListLink,
    serviceCategoryKind (2030.5-2018, Pricing)."""

    currency: int | None = element(default=None)  # ISO 4217 numeric code (840: US dollar)
    pricePowerOfTenMultiplier: int | None = element(default=None)
    primacy: int = element()
    rateCode: str | None = element(default=None)
    RateComponentListLink: ListLink | None = element(default=None)
    serviceCategoryKind: ServiceKind = element()


class TariffProfileList(SubscribableList, tag="TariffProfileList"):
    pollRate: int | None = attr(default=DEFAULT_POLLRATE_SECONDS)
    profiles: list[TariffProfile] | None = element(tag="TariffProfile", default=None)


class RateComponentList(SepList, tag="RateComponentList"):
    components: list[RateComponent] | None = element(tag="RateComponent", default=None)


class TimeTariffInterval(RandomizableEvent, tag="TimeTariffInterval"):
    """RandomizableEvent, then ConsumptionTariffIntervalListLink and touTier."""

    ConsumptionTariffIntervalListLink: ListLink | None = element(default=None)
    touTier: int = element()


class TimeTariffIntervalList(SubscribableList, tag="TimeTariffIntervalList"):
    intervals: list[TimeTariffInterval] | None = element(tag="TimeTariffInterval", default=None)


class ConsumptionTariffIntervalList(SepList, tag="ConsumptionTariffIntervalList"):
    blocks: list[ConsumptionTariffInterval] | None = element(tag="ConsumptionTariffInterval", default=None)


__all__ = [
    "ConsumptionBlockType",
    "ConsumptionTariffInterval",
    "ConsumptionTariffIntervalList",
    "RateComponent",
    "RateComponentList",
    "TariffProfile",
    "TariffProfileList",
    "TimeTariffInterval",
    "TimeTariffIntervalList",
]
