"""Subscription/Notification: when a subscribed resource changes, POST it to its subscriber.

The subscriber is the device itself or, for a site an aggregator manages, the
aggregator (CSIP-AUS: one SubscriptionList, on the aggregator's EndDevice).
The server connects to the notificationURI with mutual TLS, presenting its own
certificate and checking the client's against the CA (not its host name:
device certificates carry none). A failed delivery is tried again for a while,
with the resource as it is then; a client that misses a notification
altogether still sees the change at its next poll.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from collections.abc import Collection
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
from lxml import etree

from flexbench.signals.csip import uris
from flexbench.signals.csip.record_types import SubscriptionRecord
from flexbench.signals.csip.registry import Device
from flexbench.signals.csip.render import Page
from flexbench.signals.csip.xmlio import MEDIA_TYPE, SEP_NS, XSI_NS

if TYPE_CHECKING:
    from flexbench.signals.csip.server import CsipApp

log = logging.getLogger(__name__)
NOTIFY_TIMEOUT_S = 10.0
RETRY_FIRST_S = 1.0  # a failed notification is sent again after this, then after twice as long ...
RETRY_MAX_S = 60.0  # ... up to this between tries ...
RETRY_FOR_S = 3600.0  # ... for this long, unless the resource changes again (then its newest state goes)


def notification_uri_problem(uri: str, client_address: str | None, allowed_hosts: Collection[str]) -> str | None:
    """Why the server may not POST notifications to `uri`, or None if it may.

    The URI must be https (notifications go over mutual TLS) to a host the configuration allows; with
    none configured, only the subscribing client's own address. Otherwise any device could make the
    server send requests to any address it names.
    """
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - parsing the port refuses a malformed one
    except ValueError as exc:
        return f"notificationURI {uri!r} is not a URI: {exc}"
    if parts.scheme.lower() != "https":
        return f"notificationURI {uri!r} must be https: the server notifies over TLS only"
    host = (parts.hostname or "").lower()
    if "*" in allowed_hosts:
        return None
    allowed = {h.lower() for h in allowed_hosts} or {client_address or ""}
    if host in allowed or _same_address(host, allowed):
        return None
    whom = "the subscribing client's own address" if not allowed_hosts else "the configured notification hosts"
    return f"notificationURI host {host or '(none)'} is not allowed: notifications go only to {whom}"


def _same_address(host: str, allowed: set[str]) -> bool:
    """IP addresses compare by value (::ffff:127.0.0.1 is 127.0.0.1; 0:0::1 is ::1)."""
    try:
        address = _plain(ipaddress.ip_address(host))
    except ValueError:
        return False
    for other in allowed:
        try:
            if _plain(ipaddress.ip_address(other)) == address:
                return True
        except ValueError:
            continue
    return False


def _plain(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def notification_xml(subscribed: str, subscription_href: str, resource_xml: bytes | None, status: int = 0) -> bytes:
    """A Notification carrying the resource as <Resource xsi:type="...">."""
    root = etree.Element(f"{{{SEP_NS}}}Notification", nsmap={None: SEP_NS, "xsi": XSI_NS})
    etree.SubElement(root, f"{{{SEP_NS}}}subscribedResource").text = subscribed
    if resource_xml is not None:
        resource = etree.fromstring(resource_xml)
        resource.set(f"{{{XSI_NS}}}type", etree.QName(resource).localname)
        resource.tag = f"{{{SEP_NS}}}Resource"
        root.append(resource)
    etree.SubElement(root, f"{{{SEP_NS}}}status").text = str(status)
    etree.SubElement(root, f"{{{SEP_NS}}}subscriptionURI").text = subscription_href
    return etree.tostring(root, xml_declaration=False)


class Notifier:
    def __init__(self, app: CsipApp, ssl_context: ssl.SSLContext, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.ssl_context = ssl_context
        self.loop = loop
        self.session: aiohttp.ClientSession | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.retrying: dict[int, asyncio.Task[None]] = {}  # subscription id -> its delivery waiting to try again
        self.sent = 0
        self.failed = 0

    def on_change(self, edev_id: int, hrefs: set[str]) -> None:
        """Head-end listener; may be called from any thread."""
        if hrefs and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._schedule, edev_id, hrefs)

    def _schedule(self, edev_id: int, hrefs: set[str]) -> None:
        """Notify every subscriber of a changed resource: the device itself, or the aggregator that manages it."""
        self.app.headend.sync()
        registry = self.app.headend.registry
        device = registry.by_id(edev_id)
        if device is None:
            return
        wanted = {h.split("?")[0] for h in hrefs}
        if uris.EDEV.href(edev_id) in wanted:  # an EndDevice changed: so did the EndDeviceList of whoever sees it
            wanted.add(uris.EDEV_LIST.template)
        subscribers = {edev_id} if device.aggregator_id is None else {edev_id, device.aggregator_id}
        for sub in self.app.headend.records.subscriptions_to(subscribers, wanted):
            subscriber = registry.by_id(sub.edev_id)
            if subscriber is None or not subscriber.enabled or not registry.may_access(subscriber, edev_id):
                continue
            waiting = self.retrying.pop(sub.id, None)
            if waiting is not None:  # the new delivery carries the newer state
                waiting.cancel()
            task = self.loop.create_task(self._deliver(subscriber, sub))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _deliver(self, subscriber: Device, sub: SubscriptionRecord) -> None:
        """Send; after a failure send again, the resource as it is then, with growing pauses: a client that was
        unreachable for a while still hears of the change when it is back (CSIP-AUS S-ALL-46)."""
        delay_s, give_up = RETRY_FIRST_S, self.loop.time() + RETRY_FOR_S
        while not await self._send(subscriber, sub):
            if self.loop.time() + delay_s > give_up:
                return
            current = asyncio.current_task()
            assert current is not None
            self.retrying[sub.id] = current
            try:
                await asyncio.sleep(delay_s)
            finally:
                if self.retrying.get(sub.id) is current:
                    del self.retrying[sub.id]
            if self.app.headend.records.subscription(sub.id) is None:  # deleted meanwhile
                return
            delay_s = min(2 * delay_s, RETRY_MAX_S)

    async def _send(self, subscriber: Device, sub: SubscriptionRecord) -> bool:
        self.app.headend.sync()
        with self.app.headend.store.lock:
            rendered = self.app.render_subscribed(subscriber, sub.resource, Page(limit=sub.list_limit))
        body = notification_xml(
            sub.resource,
            uris.SUB.href(subscriber.id, sub.id),
            rendered[0] if rendered else None,
            status=0 if rendered else 4,
        )
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=NOTIFY_TIMEOUT_S))
        try:
            async with self.session.post(
                sub.notification_uri, data=body, ssl=self.ssl_context, headers={"Content-Type": MEDIA_TYPE}
            ) as response:
                await response.read()
                if response.status >= 300:
                    raise aiohttp.ClientError(f"HTTP {response.status}")
            self.sent += 1
            return True
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self.failed += 1
            log.info("notification to %s failed: %s", sub.notification_uri, exc)
            return False

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.session is not None:
            await self.session.close()
