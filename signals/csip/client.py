"""The DER side of IEEE 2030.5 (CSIP / CSIP-AUS): a reusable client library.

It discovers its EndDevice from /dcap, checks its Registration, walks
FunctionSetAssignments -> DERProgramList -> DERControlList, DefaultDERControl
and ActiveDERControlList, and the Pricing tree (`prices`, see price_schedule),
polls at the server's pollRate, runs the events by the 2030.5 rules
(`events.EventScheduler`), posts Responses, PUTs its DER capability, settings
and status, and mirrors meter readings. When the server
is unreachable it keeps executing the cached schedule (and, if
`comm_loss_timeout_s` is set, falls back to DefaultDERControl after that long).

The virtual DUT embeds it; a lab can point it at a utility's server.

    async with CsipClient(url, ca, cert, key, on_change=apply) as client:
        ...  # client.active is what to apply now
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from envoy_schema.server.schema.sep2.der_control_types import ApparentPower

from flexbench.core import IntervalError, TimeSource
from flexbench.signals.csip import models as m
from flexbench.signals.csip.controls import ControlValues, active_power, decode
from flexbench.signals.csip.defaults import DefaultSettings
from flexbench.signals.csip.events import ActiveControl, EventInfo, EventScheduler, ProgramSnapshot
from flexbench.signals.csip.price_schedule import PriceSchedule, TariffReader
from flexbench.signals.csip.tls import CSIP_CIPHERS, client_context
from flexbench.signals.csip.xmlio import MEDIA_TYPE, XmlError, parse_model, to_xml
from flexbench.signals.pki.identity import lfdi_from_der, sfdi_from_lfdi

log = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]
DEFAULT_POLL_RATE_S = 900
REQUEST_TIMEOUT_S = 20.0


def _applicable(base: m.DERControlBase) -> ControlValues:
    """The values of a control; none (an invalid control, answered with Response 253) for a negative site limit."""
    try:
        return decode(base)
    except IntervalError:
        return ControlValues()


class CsipClientError(Exception):
    """The server answered in a way the client cannot work with (not a transient network failure)."""


class RegistrationError(CsipClientError):
    """The server does not know this device, or its Registration PIN is not ours."""


@dataclass(frozen=True)
class Quantity:
    """A mirrored measurement: its ReadingType and the multiplier its values are sent with."""

    description: str
    uom: int
    kind: int
    power_of_ten: int
    flow_direction: int = 0
    point: str = "site"  # the MirrorUsagePoint it is mirrored on (MIRROR_POINTS)


QUANTITIES: dict[str, Quantity] = {
    "site_active_power_w": Quantity("Site active power, import +", 38, 37, 0, 1),  # String32
    "site_reactive_power_var": Quantity("Site reactive power", 63, 37, 0, 1),
    "der_active_power_w": Quantity("DER active power", 38, 37, 0, 19, "der"),
    "der_reactive_power_var": Quantity("DER reactive power", 63, 37, 0, 19, "der"),
    "voltage_v": Quantity("Voltage", 29, 0, -1),
    "frequency_hz": Quantity("Frequency", 33, 0, -2),
}
# CSIP-AUS: the site's readings on a MirrorUsagePoint whose roleFlags mark the premises aggregation point (03),
# the DER's on one of their own (49: isMirror, isDER, isSubmeter); (roleFlags, description, mRID suffix)
MIRROR_POINTS: dict[str, tuple[str, str, str]] = {"site": ("03", "site meter", "0000"), "der": ("49", "DER", "0100")}


class CsipClient:
    """One EndDevice talking to a 2030.5 server over mutual TLS."""

    def __init__(
        self,
        server_url: str,
        ca_cert: PathLike,
        cert: PathLike,
        key: PathLike,
        *,
        ciphers: str = CSIP_CIPHERS,
        clock: TimeSource | Callable[[], float] = time.time,
        pin: int | None = None,
        poll_rate_s: float | None = None,
        comm_loss_timeout_s: float | None = None,
        retry_interval_s: float = 30.0,
        register_in_band: bool = False,
        list_limit: int = 255,
        on_change: Callable[[ActiveControl], None] | None = None,
        on_prices: Callable[[PriceSchedule], None] | None = None,
        rng: random.Random | None = None,
        csipaus_version: str = "1.3",
        check_hostname: bool = True,
    ) -> None:
        self.base_url = server_url.rstrip("/")
        self.ssl = client_context(ca_cert, cert, key, ciphers=ciphers, check_hostname=check_hostname)
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        der = x509.load_pem_x509_certificate(open(cert, "rb").read()).public_bytes(Encoding.DER)
        self.lfdi = lfdi_from_der(der)
        self.sfdi = sfdi_from_lfdi(self.lfdi)
        self._now = clock.now if isinstance(clock, TimeSource) else clock
        self.time_scale = float(getattr(clock, "time_scale", 1.0))
        self.pin = pin
        self.poll_rate_override_s = poll_rate_s
        self.comm_loss_timeout_s = comm_loss_timeout_s
        self.retry_interval_s = retry_interval_s
        self.register_in_band = register_in_band
        self.list_limit = list_limit
        self.on_change = on_change
        self.on_prices = on_prices
        self.prices = PriceSchedule()  # the tariffs the server lists (2030.5 Pricing), read at each poll
        self._tariffs = TariffReader(self.get, self.get_list)
        self.csipaus_version = csipaus_version
        self.scheduler = EventScheduler(rng)
        self.session: aiohttp.ClientSession | None = None
        self.time_offset_s = 0.0
        self.poll_rate_s: float = DEFAULT_POLL_RATE_S
        self.edev_href: str | None = None
        self.links: dict[str, str] = {}
        self.last_poll_ok_s: float | None = None
        self.polls = 0
        self.poll_failures = 0
        self.responses_sent: list[tuple[str, int]] = []
        self.active = ActiveControl(ControlValues(), "none")
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._mup_hrefs: dict[str, str] = {}  # MIRROR_POINTS key -> its MirrorUsagePoint
        self._mmr_created: set[str] = set()

    # Time -----------------------------------------------------------------------------
    def server_now(self) -> float:
        """Server time: the client's clock corrected by the offset read from /tm."""
        return self._now() + self.time_offset_s

    async def _sleep(self, bench_s: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), max(bench_s, 0.0) / self.time_scale)
        except TimeoutError:
            pass
        self._wake.clear()

    def wake(self) -> None:
        """Poll now (e.g. after a Notification)."""
        self._wake.set()

    # HTTP ---------------------------------------------------------------------------------
    async def _session(self) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            connector = aiohttp.TCPConnector(ssl=self.ssl, limit=4, keepalive_timeout=300)
            self.session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
            )
        return self.session

    def _url(self, href: str) -> str:
        return href if href.startswith("http") else self.base_url + href

    async def get(self, href: str, model: type, **query: int) -> Any:
        session = await self._session()
        async with session.get(self._url(href), params=query or None, headers={"Accept": MEDIA_TYPE}) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise CsipClientError(f"GET {href}: HTTP {resp.status} {body[:200]!r}")
        try:
            return parse_model(body, model)
        except XmlError as exc:
            raise CsipClientError(f"GET {href}: {exc}") from None

    async def send(self, method: str, href: str, resource: Any) -> aiohttp.ClientResponse:
        session = await self._session()
        body = to_xml(resource, self.csipaus_version)
        async with session.request(method, self._url(href), data=body, headers={"Content-Type": MEDIA_TYPE}) as resp:
            await resp.read()
            if resp.status >= 300:
                raise CsipClientError(f"{method} {href}: HTTP {resp.status}")
            return resp

    async def get_list(self, href: str, model: type, item_attr: str, pages: list[Any] | None = None) -> list[Any]:
        """Every item of a list resource, page by page; the pages themselves (their pollRate) go to `pages`."""
        items: list[Any] = []
        start = 0
        while True:
            page = await self.get(href, model, s=start, l=self.list_limit)
            if pages is not None:
                pages.append(page)
            got = getattr(page, item_attr) or []
            items += got
            start += len(got)
            if not got or start >= page.all_:
                return items

    # Discovery -----------------------------------------------------------------------------
    async def discover(self) -> None:
        """From /dcap to this device's EndDevice and its Registration; sets the time offset."""
        dcap = await self.get("/dcap", m.DeviceCapability)
        if dcap.pollRate:
            self.poll_rate_s = dcap.pollRate
        if dcap.TimeLink is not None:
            await self.sync_time(dcap.TimeLink.href)
        if dcap.EndDeviceListLink is None:
            raise CsipClientError("DeviceCapability has no EndDeviceListLink")
        edev_list_href = dcap.EndDeviceListLink.href
        mine = await self._find_end_device(edev_list_href)
        if mine is None and self.register_in_band:
            request = m.EndDeviceRequest(sFDI=self.sfdi, lFDI=self.lfdi, changedTime=int(self.server_now()))
            await self.send("POST", edev_list_href, request)
            mine = await self._find_end_device(edev_list_href)
        if mine is None:
            raise RegistrationError(f"the server lists no EndDevice for LFDI {self.lfdi}")
        self.edev_href = mine.href
        self.links = {
            "fsa": mine.FunctionSetAssignmentsListLink.href if mine.FunctionSetAssignmentsListLink else "",
            "der": mine.DERListLink.href if mine.DERListLink else "",
            "rg": mine.RegistrationLink.href if mine.RegistrationLink else "",
            "sub": mine.SubscriptionListLink.href if mine.SubscriptionListLink else "",
            "lel": mine.LogEventListLink.href if mine.LogEventListLink else "",
            "mup": dcap.MirrorUsagePointListLink.href if dcap.MirrorUsagePointListLink else "",
        }
        if self.links["rg"]:
            registration = await self.get(self.links["rg"], m.Registration)
            if self.pin is not None and registration.pIN != self.pin:
                raise RegistrationError(f"Registration PIN {registration.pIN} is not this device's PIN")
            if registration.pollRate:
                self.poll_rate_s = registration.pollRate
        elif self.pin is not None:
            raise RegistrationError("the EndDevice has no RegistrationLink to check the PIN against")

    async def _find_end_device(self, href: str) -> Any:
        for edev in await self.get_list(href, m.EndDeviceList, "EndDevice"):
            if (edev.lFDI or "").upper() == self.lfdi or edev.sFDI == self.sfdi:
                return edev
        return None

    async def sync_time(self, href: str = "/tm") -> None:
        tm = await self.get(href, m.Time)
        # currentTime is whole seconds, truncated: on average the server is half a second further on.
        self.time_offset_s = tm.currentTime + 0.5 - self._now()

    # Polling -------------------------------------------------------------------------------
    async def poll(self) -> None:
        """Read every DERProgram's controls and default; hand them to the scheduler."""
        if self.edev_href is None:
            await self.discover()
        programs: list[ProgramSnapshot] = []
        rate = None
        fsas = await self.get_list(self.links["fsa"], m.FunctionSetAssignmentsList, "FunctionSetAssignments")
        for fsa in fsas:
            if fsa.DERProgramListLink is None:
                continue
            pages: list[Any] = []
            derps = await self.get_list(fsa.DERProgramListLink.href, m.DERProgramList, "DERProgram", pages)
            if pages[0].pollRate:
                rate = pages[0].pollRate if rate is None else min(rate, pages[0].pollRate)
            for prog in derps:
                programs.append(await self._program_snapshot(prog))
        if rate:
            self.poll_rate_s = rate
        self.scheduler.update(programs, self.server_now())
        prices = await self._tariffs.read(fsas)
        if prices != self.prices:
            self.prices = prices
            if self.on_prices is not None:
                self.on_prices(prices)
        self.last_poll_ok_s = self.server_now()
        self.polls += 1

    async def _program_snapshot(self, prog: Any) -> ProgramSnapshot:
        events: list[EventInfo] = []
        if prog.DERControlListLink is not None:
            for ctl in await self.get_list(prog.DERControlListLink.href, m.DERControlList, "DERControl"):
                events.append(
                    EventInfo(
                        mrid=ctl.mRID.upper(),
                        program=prog.href or prog.mRID,
                        primacy=int(prog.primacy),
                        creation_s=ctl.creationTime,
                        start_s=ctl.interval.start,
                        duration_s=ctl.interval.duration,
                        status=int(ctl.EventStatus_.currentStatus),
                        values=_applicable(ctl.DERControlBase_),
                        randomize_start_s=ctl.randomizeStart or 0,
                        randomize_duration_s=ctl.randomizeDuration or 0,
                        reply_to=ctl.replyTo,
                        response_required=int(ctl.responseRequired or "0", 16),
                    )
                )
        default, settings = None, None
        if prog.DefaultDERControlLink is not None:
            try:
                dderc = await self.get(prog.DefaultDERControlLink.href, m.DefaultDERControl)
                default, settings = _applicable(dderc.DERControlBase_), DefaultSettings.from_wire(dderc)
            except CsipClientError:
                default, settings = None, None
        return ProgramSnapshot(prog.href or prog.mRID, int(prog.primacy), tuple(events), default, settings)

    async def active_controls(self) -> list[Any]:
        """The server's ActiveDERControlList of every program (for checks; scheduling uses the full list)."""
        out: list[Any] = []
        for fsa in await self.get_list(self.links["fsa"], m.FunctionSetAssignmentsList, "FunctionSetAssignments"):
            if fsa.DERProgramListLink is None:
                continue
            for prog in await self.get_list(fsa.DERProgramListLink.href, m.DERProgramList, "DERProgram"):
                if prog.ActiveDERControlListLink is not None:
                    out += await self.get_list(prog.ActiveDERControlListLink.href, m.DERControlList, "DERControl")
        return out

    # Scheduling loop -------------------------------------------------------------------------
    def evaluate(self) -> ActiveControl:
        """Step the scheduler to server time now; call on_change when the applied values change."""
        now_s = self.server_now()
        active = self.scheduler.step(now_s)
        if (
            self.comm_loss_timeout_s is not None
            and self.last_poll_ok_s is not None
            and now_s - self.last_poll_ok_s > self.comm_loss_timeout_s
        ):
            active = self.scheduler.default_only()
        if active != self.active:
            self.active = active
            if self.on_change is not None:
                self.on_change(active)
        return active

    async def flush_responses(self) -> None:
        pending = self.scheduler.take_responses()
        for i, response in enumerate(pending):
            model = m.DERControlResponseModel(
                createdDateTime=response.time_s,
                endDeviceLFDI=self.lfdi,
                status=m.ResponseType(response.status),
                subject=response.subject,
            )
            try:
                await self.send("POST", response.reply_to, model)
                self.responses_sent.append((response.subject, response.status))
            except (TimeoutError, aiohttp.ClientError, OSError):
                self.scheduler.requeue(pending[i:])
                return
            except CsipClientError as exc:
                log.warning("response %s for %s refused: %s", response.status, response.subject, exc)

    async def run(self) -> None:
        """Poll at pollRate, run the events, post Responses; until cancelled."""
        next_poll_s = self.server_now()
        while True:
            now_s = self.server_now()
            if now_s >= next_poll_s:
                try:
                    await self.poll()
                    # polls keep to a pollRate grid: a slow poll or a late wake does not push every later poll back
                    period_s = self.poll_rate_override_s or self.poll_rate_s
                    next_poll_s = max(next_poll_s + period_s, self.server_now())
                except (TimeoutError, aiohttp.ClientError, OSError, CsipClientError) as exc:
                    self.poll_failures += 1
                    log.info("poll failed (%s); keeping the cached schedule", exc)
                    retry = min(self.retry_interval_s, self.poll_rate_override_s or self.poll_rate_s)
                    next_poll_s = self.server_now() + retry
            self.evaluate()
            await self.flush_responses()
            now_s = self.server_now()
            wake_at = next_poll_s
            transition = self.scheduler.next_transition_s(now_s)
            if transition is not None:
                wake_at = min(wake_at, transition)
            if self.comm_loss_timeout_s is not None and self.last_poll_ok_s is not None:
                loss_at = self.last_poll_ok_s + self.comm_loss_timeout_s
                if loss_at > now_s:
                    wake_at = min(wake_at, loss_at + 0.001)
            await self._sleep(wake_at - now_s)
            if self._wake.is_set():
                next_poll_s = self.server_now()

    async def start(self, discover: bool = True) -> None:
        if discover:
            await self.discover()
        self._task = asyncio.create_task(self.run(), name=f"csip-client-{self.lfdi[:8]}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def __aenter__(self) -> CsipClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # DER reports -----------------------------------------------------------------------------
    def _der_href(self, suffix: str) -> str:
        if not self.links.get("der"):
            raise CsipClientError("discover() first: no DERListLink known")
        return f"{self.links['der']}/1/{suffix}"

    async def put_der_capability(
        self,
        rated_w: float,
        modes_supported: int = 0x00100000,
        doe_modes_supported: int | None = 0x03,
        der_type: int = 4,
        rated_va: float | None = None,
    ) -> None:
        """DERCapability: nameplate; modes_supported bit 20 is opModMaxLimW, doe bits 0/1 export/import limits."""
        value, mult = active_power(rated_w)
        cap = m.DERCapability(
            modesSupported=f"{modes_supported:08X}",
            rtgMaxW=m.ActivePower(value=value, multiplier=mult),
            type_=m.DERType(der_type),
            doeModesSupported=None if doe_modes_supported is None else f"{doe_modes_supported:02X}",
        )
        if rated_va is not None:
            va, va_mult = active_power(rated_va)
            cap.rtgMaxVA = ApparentPower(value=va, multiplier=va_mult)
        await self.send("PUT", self._der_href("dercap"), cap)

    async def put_der_settings(
        self,
        set_max_w: float,
        set_grad_w: int = 0,
        modes_enabled: int = 0x00100000,
        doe_modes_enabled: int | None = 0x03,
    ) -> None:
        """DERSettings: setMaxW (the base of opModMaxLimW), ramp rate, enabled modes."""
        value, mult = active_power(set_max_w)
        settings = m.DERSettings(
            setMaxW=m.ActivePower(value=value, multiplier=mult),
            setGradW=set_grad_w,
            modesEnabled=f"{modes_enabled:08X}",
            updatedTime=int(self.server_now()),
            doeModesEnabled=None if doe_modes_enabled is None else f"{doe_modes_enabled:02X}",
        )
        await self.send("PUT", self._der_href("derg"), settings)

    async def put_der_status(self, connected: bool = True, inverter_status: int = 4, operational_mode: int = 2) -> None:
        """DERStatus: connection, inverter and operational mode status at the time of reading."""
        from envoy_schema.server.schema.sep2.der import (
            ConnectStatusTypeValue,
            InverterStatusTypeValue,
            OperationalModeStatusTypeValue,
        )

        now_s = int(self.server_now())
        status = m.DERStatus(
            readingTime=now_s,
            genConnectStatus=ConnectStatusTypeValue(dateTime=now_s, value="07" if connected else "00"),
            inverterStatus=InverterStatusTypeValue(dateTime=now_s, value=m.InverterStatusType(inverter_status)),
            operationalModeStatus=OperationalModeStatusTypeValue(
                dateTime=now_s, value=m.OperationalModeStatusType(operational_mode)
            ),
        )
        await self.send("PUT", self._der_href("ders"), status)

    async def put_der_availability(self, available_w: float, duration_s: int | None = None) -> None:
        value, mult = active_power(available_w)
        availability = m.DERAvailability(
            readingTime=int(self.server_now()),
            availabilityDuration=duration_s,
            statWAvail=m.ActivePower(value=value, multiplier=mult),
        )
        await self.send("PUT", self._der_href("dera"), availability)

    # Telemetry ---------------------------------------------------------------------------------
    async def post_readings(self, values: dict[str, float], time_s: float | None = None) -> None:
        """Mirror measurements (keys of QUANTITIES) to the server's MirrorUsagePoint."""
        unknown = set(values) - set(QUANTITIES)
        if unknown:
            raise ValueError(f"unknown quantities {sorted(unknown)}; known: {sorted(QUANTITIES)}")
        stamp = int(self.server_now() if time_s is None else time_s)
        for point in MIRROR_POINTS:
            group = {name: value for name, value in values.items() if QUANTITIES[name].point == point}
            if group:
                await self._post_point(point, group, stamp)

    async def _post_point(self, point: str, values: dict[str, float], stamp: int) -> None:
        if point not in self._mup_hrefs:
            await self._create_mup(list(values), point)
        readings: list[m.MirrorMeterReading] = []
        for name, value in values.items():
            q = QUANTITIES[name]
            readings.append(
                m.MirrorMeterReadingRequest(
                    mRID=self._mmr_mrid(name),
                    description=q.description,
                    readingType=None if name in self._mmr_created else self._reading_type(q),
                    lastUpdateTime=stamp,
                    reading=m.Reading(
                        value=round(value / 10.0**q.power_of_ten),
                        timePeriod=m.DateTimeIntervalType(start=stamp, duration=0),
                    ),
                )
            )
        await self.send("POST", self._mup_hrefs[point], m.MirrorMeterReadingListRequest(mirrorMeterReadings=readings))
        self._mmr_created.update(values)

    @staticmethod
    def _reading_type(q: Quantity) -> m.ReadingType:
        return m.ReadingType(
            uom=m.UomType(q.uom),
            kind=m.KindType(q.kind),
            powerOfTenMultiplier=q.power_of_ten,
            flowDirection=m.FlowDirectionType(q.flow_direction),
            accumulationBehaviour=m.AccumulationBehaviourType.INSTANTANEOUS,
            commodity=m.CommodityType.ELECTRICITY_SECONDARY_METERED_VALUE,
            dataQualifier=m.DataQualifierType.NOT_APPLICABLE,
            phase=m.PhaseCode.NOT_APPLICABLE,
        )

    def _mmr_mrid(self, name: str) -> str:
        index = sorted(QUANTITIES).index(name) + 1
        return f"{self.lfdi[:28]}{index:04X}"

    async def _create_mup(self, names: list[str], point: str = "site") -> None:
        if not self.links.get("mup"):
            raise CsipClientError("the server offers no MirrorUsagePointListLink")
        role_flags, description, suffix = MIRROR_POINTS[point]
        mup = m.MirrorUsagePoint(
            mRID=f"{self.lfdi[:28]}{suffix}",
            description=description,
            roleFlags=role_flags,
            serviceCategoryKind=m.ServiceKind.ELECTRICITY,
            status=1,
            deviceLFDI=self.lfdi,
            mirrorMeterReadings=[
                m.MirrorMeterReading(
                    mRID=self._mmr_mrid(n),
                    description=QUANTITIES[n].description,
                    readingType=self._reading_type(QUANTITIES[n]),
                )
                for n in names
            ],
        )
        session = await self._session()
        async with session.post(
            self._url(self.links["mup"]), data=to_xml(mup, self.csipaus_version), headers={"Content-Type": MEDIA_TYPE}
        ) as resp:
            await resp.read()
            if resp.status != 201 or "Location" not in resp.headers:
                raise CsipClientError(f"POST MirrorUsagePoint: HTTP {resp.status}")
            self._mup_hrefs[point] = resp.headers["Location"]
        self._mmr_created.update(names)

    # Subscriptions -------------------------------------------------------------------------------
    async def subscribe(self, resource_href: str, notification_uri: str, limit: int = 255) -> str:
        """Ask the server to POST Notifications of `resource_href` to `notification_uri`; returns the href."""
        if not self.links.get("sub"):
            raise CsipClientError("the EndDevice has no SubscriptionListLink")
        sub = m.Subscription(
            subscribedResource=resource_href,
            encoding=m.SubscriptionEncoding.XML,
            level="+S1",
            limit=limit,
            notificationURI=notification_uri,
        )
        session = await self._session()
        async with session.post(
            self._url(self.links["sub"]), data=to_xml(sub, self.csipaus_version), headers={"Content-Type": MEDIA_TYPE}
        ) as resp:
            await resp.read()
            if resp.status != 201:
                raise CsipClientError(f"POST Subscription: HTTP {resp.status}")
            return resp.headers["Location"]
