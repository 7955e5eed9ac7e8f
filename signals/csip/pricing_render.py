"""The Pricing function set of one device's tree, rendered from the head-end's tariff book.

Addresses, under the device's EndDevice:

    /edev/E/fsa/F/tp                      TariffProfileList (the profiles of that FunctionSetAssignments)
    /edev/E/tp/T                          TariffProfile
    /edev/E/tp/T/rc[/R]                   RateComponentList, RateComponent
    /edev/E/tp/T/rc/R/rt                  ReadingType (what the price is per: kWh imported or exported)
    /edev/E/tp/T/rc/R/tti[/I], .../acttti TimeTariffIntervalList (and its Active list), TimeTariffInterval
    /edev/E/tp/T/rc/R/tti/I/cti[/K]       ConsumptionTariffIntervalList, ConsumptionTariffInterval (K = block)

Builders have the server's signature (device, match, page, now_s) -> (resource or None, valid until).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flexbench.signals.csip import models as m
from flexbench.signals.csip import pricing_models as pm
from flexbench.signals.csip import uris
from flexbench.signals.csip.headend import HeadEnd
from flexbench.signals.csip.registry import Device
from flexbench.signals.csip.render import FOREVER, Page
from flexbench.signals.csip.tariffs import RateComponentRow, Tariff, TariffInterval, encode_price

_NOT_SUBSCRIBABLE = m.SubscribableType.resource_does_not_support_subscriptions
_SUBSCRIBABLE = m.SubscribableType.resource_supports_non_conditional_subscriptions
PREMISES_AGGREGATION_POINT = "0002"  # RoleFlagsType: the price applies at the site's point of connection
FLOW_DIRECTION = {"import": m.FlowDirectionType.FORWARD, "export": m.FlowDirectionType.REVERSE}
KWH = (72, 3)  # UomType Wh at powerOfTenMultiplier 3

Built = tuple[Any, float]
Builder = Callable[[Device, "re.Match[str]", Page, float], Built]


class PricingTree:
    """The Pricing resources of a device's tree; `routes` gives the server's (URI, builder) pairs."""

    def __init__(self, headend: HeadEnd) -> None:
        self.headend = headend
        self.book = headend.tariffs

    def routes(self) -> list[tuple[uris.Uri, Builder]]:
        return [
            (uris.TP_LIST, self._profile_list),
            (uris.TP, self._profile),
            (uris.RC_LIST, self._component_list),
            (uris.RC, self._component),
            (uris.RT, self._reading_type),
            (uris.TTI_LIST, lambda d, mt, p, t: self._interval_list(d, mt, p, t, False)),
            (uris.ACTTTI_LIST, lambda d, mt, p, t: self._interval_list(d, mt, p, t, True)),
            (uris.TTI, self._interval),
            (uris.CTI_LIST, self._block_list),
            (uris.CTI, self._block),
        ]

    # Lookups (None: no such resource, a 404) -----------------------------------------------
    def _tariff(self, device: Device, match: re.Match[str]) -> Tariff | None:
        return self.book.tariff(device.id, int(match.group(2)))

    def _tariff_component(self, device: Device, match: re.Match[str]) -> tuple[Tariff, RateComponentRow] | None:
        tariff = self._tariff(device, match)
        component = self.book.rate_component_by_id(tariff.id, int(match.group(3))) if tariff else None
        return (tariff, component) if tariff and component else None

    def _found_interval(
        self, device: Device, match: re.Match[str]
    ) -> tuple[Tariff, RateComponentRow, TariffInterval] | None:
        found = self._tariff_component(device, match)
        interval = self.book.interval(found[1].id, int(match.group(4))) if found else None
        return (found[0], found[1], interval) if found and interval else None

    # Builders --------------------------------------------------------------------------------
    def _profile_list(self, device: Device, match: re.Match[str], page: Page, now_s: float) -> Built:
        fsa = int(match.group(2))
        if fsa not in self.headend.book.fsas(device.id):
            return None, FOREVER
        tariffs = self.book.tariffs(device.id, fsa)
        chosen = tariffs[page.start : page.start + page.limit]
        return (
            pm.TariffProfileList(
                href=uris.TP_LIST.href(device.id, fsa),
                all_=len(tariffs),
                results=len(chosen),
                subscribable=_SUBSCRIBABLE,
                pollRate=self.headend.poll_rates.rate_s("TariffProfileList", device.id),
                profiles=[self.profile(device, t) for t in chosen] or None,
            ),
            FOREVER,
        )

    def profile(self, device: Device, tariff: Tariff) -> pm.TariffProfile:
        href = uris.TP.href(device.id, tariff.id)
        return pm.TariffProfile(
            href=href,
            mRID=tariff.mrid,
            description=tariff.name[:32],
            version=tariff.version,
            currency=tariff.currency,
            pricePowerOfTenMultiplier=tariff.price_multiplier,
            primacy=tariff.primacy,
            rateCode=tariff.rate_code,
            RateComponentListLink=m.ListLink(
                href=uris.RC_LIST.href(device.id, tariff.id), all_=len(self.book.rate_components(tariff.id))
            ),
            serviceCategoryKind=m.ServiceKind.ELECTRICITY,
        )

    def _profile(self, device: Device, match: re.Match[str], page: Page, now_s: float) -> Built:
        tariff = self._tariff(device, match)
        return (self.profile(device, tariff) if tariff else None), FOREVER

    def component(self, device: Device, tariff: Tariff, component: RateComponentRow, now_s: float) -> pm.RateComponent:
        href = uris.RC.href(device.id, tariff.id, component.id)
        listed = self.book.intervals(component.id, now_s)
        return pm.RateComponent(
            href=href,
            mRID=component.mrid,
            description=f"{component.flow} energy",
            ActiveTimeTariffIntervalListLink=m.ListLink(
                href=uris.ACTTTI_LIST.href(device.id, tariff.id, component.id),
                all_=sum(i.is_active(now_s) for i in listed),
            ),
            ReadingTypeLink=m.Link(href=uris.RT.href(device.id, tariff.id, component.id)),
            roleFlags=PREMISES_AGGREGATION_POINT,
            TimeTariffIntervalListLink=m.ListLink(
                href=uris.TTI_LIST.href(device.id, tariff.id, component.id), all_=len(listed)
            ),
        )

    def _component_list(self, device: Device, match: re.Match[str], page: Page, now_s: float) -> Built:
        tariff = self._tariff(device, match)
        if tariff is None:
            return None, FOREVER
        components = self.book.rate_components(tariff.id)
        chosen = components[page.start : page.start + page.limit]
        expires = min([self.book.next_boundary_s(c.id, now_s) for c in chosen] or [FOREVER])
        return (
            pm.RateComponentList(
                href=uris.RC_LIST.href(device.id, tariff.id),
                all_=len(components),
                results=len(chosen),
                components=[self.component(device, tariff, c, now_s) for c in chosen] or None,
            ),
            expires,
        )

    def _component(self, device: Device, match: re.Match[str], page: Page, now_s: float) -> Built:
        found = self._tariff_component(device, match)
        if found is None:
            return None, FOREVER
        tariff, component = found
        return self.component(device, tariff, component, now_s), self.book.next_boundary_s(component.id, now_s)

    def _reading_type(self, device: Device, match: re.Match[str], page: Page, now_s: float) -> Built:
        found = self._tariff_component(device, match)
        if found is None:
            return None, FOREVER
        tariff, component = found
        intervals = self.book.intervals(component.id)
        uom, power_of_ten = KWH
        return (
            m.ReadingType(
                href=uris.RT.href(device.id, tariff.id, component.id),
                accumulationBehaviour=m.AccumulationBehaviourType.DELTA_DATA,
                commodity=m.CommodityType.ELECTRICITY_SECONDARY_METERED_VALUE,
                flowDirection=FLOW_DIRECTION[component.flow],
                kind=m.KindType.ENERGY,
                numberOfConsumptionBlocks=max([len(i.blocks) for i in intervals] or [1]),
                numberOfTouTiers=max([i.tou_tier for i in intervals] or [0]),
                powerOfTenMultiplier=power_of_ten,
                uom=m.UomType(uom),
            ),
            FOREVER,
        )

    def interval(
        self, device: Device, tariff: Tariff, component: RateComponentRow, interval: TariffInterval, now_s: float
    ) -> pm.TimeTariffInterval:
        href = uris.TTI.href(device.id, tariff.id, component.id, interval.id)
        status, status_s = interval.status(now_s)
        return pm.TimeTariffInterval(
            href=href,
            mRID=interval.mrid,
            description=f"{component.flow} price",
            version=interval.version,
            subscribable=_NOT_SUBSCRIBABLE,
            responseRequired="00",
            creationTime=interval.creation_s,
            EventStatus_=m.EventStatus(
                currentStatus=status,
                dateTime=status_s,
                potentiallySuperseded=interval.superseded_at_s is not None,
                potentiallySupersededTime=interval.superseded_at_s,
            ),
            interval=m.DateTimeIntervalType(start=interval.start_s, duration=interval.duration_s),
            ConsumptionTariffIntervalListLink=m.ListLink(
                href=uris.CTI_LIST.href(device.id, tariff.id, component.id, interval.id), all_=len(interval.blocks)
            ),
            touTier=interval.tou_tier,
        )

    def _interval_list(
        self, device: Device, match: re.Match[str], page: Page, now_s: float, active_only: bool
    ) -> Built:
        found = self._tariff_component(device, match)
        if found is None:
            return None, FOREVER
        tariff, component = found
        intervals = self.book.intervals(component.id, now_s)
        if active_only:
            intervals = [i for i in intervals if i.is_active(now_s)]
        if page.after_s is not None:
            intervals = [i for i in intervals if i.start_s >= page.after_s]
        chosen = intervals[page.start : page.start + page.limit]
        listing = uris.ACTTTI_LIST if active_only else uris.TTI_LIST
        return (
            pm.TimeTariffIntervalList(
                href=listing.href(device.id, tariff.id, component.id),
                all_=len(intervals),
                results=len(chosen),
                subscribable=_SUBSCRIBABLE,
                intervals=[self.interval(device, tariff, component, i, now_s) for i in chosen] or None,
            ),
            self.book.next_boundary_s(component.id, now_s),
        )

    def _interval(self, device: Device, match: re.Match[str], page: Page, now_s: float) -> Built:
        found = self._found_interval(device, match)
        if found is None:
            return None, FOREVER
        return self.interval(device, *found, now_s), self.book.next_boundary_s(found[1].id, now_s)

    def block(
        self, device: Device, tariff: Tariff, component: RateComponentRow, interval: TariffInterval, number: int
    ) -> pm.ConsumptionTariffInterval:
        from_kwh, price_per_kwh = interval.blocks[number - 1]
        return pm.ConsumptionTariffInterval(
            href=uris.CTI.href(device.id, tariff.id, component.id, interval.id, number),
            consumptionBlock=pm.ConsumptionBlockType(number),  # block 1 from startValue 0, then 2, 3 ...
            price=encode_price(price_per_kwh, tariff.price_multiplier),
            startValue=round(from_kwh),
        )

    def _block_list(self, device: Device, match: re.Match[str], page: Page, now_s: float) -> Built:
        found = self._found_interval(device, match)
        if found is None:
            return None, FOREVER
        tariff, component, interval = found
        numbers = list(range(1, len(interval.blocks) + 1))
        chosen = numbers[page.start : page.start + page.limit]
        return (
            pm.ConsumptionTariffIntervalList(
                href=uris.CTI_LIST.href(device.id, tariff.id, component.id, interval.id),
                all_=len(numbers),
                results=len(chosen),
                blocks=[self.block(device, tariff, component, interval, n) for n in chosen] or None,
            ),
            FOREVER,
        )

    def _block(self, device: Device, match: re.Match[str], page: Page, now_s: float) -> Built:
        found = self._found_interval(device, match)
        number = int(match.group(5))
        if found is None or not 1 <= number <= len(found[2].blocks):
            return None, FOREVER
        return self.block(device, *found, number), FOREVER
