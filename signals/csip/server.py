"""The IEEE 2030.5 head-end over aiohttp: mutual TLS, identity from the client certificate,
access control, the function sets, list paging, and cached renderings for polling at scale.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from flexbench.core import Envelope
from flexbench.signals.csip import models as m
from flexbench.signals.csip import render, uris
from flexbench.signals.csip.connections import request_started
from flexbench.signals.csip.headend import HeadEnd
from flexbench.signals.csip.nmi import validate_nmi
from flexbench.signals.csip.notify import notification_uri_problem
from flexbench.signals.csip.operator_api import OPERATOR_CALLS, as_json
from flexbench.signals.csip.pricing_render import PricingTree
from flexbench.signals.csip.record_types import MirrorUsagePointRecord
from flexbench.signals.csip.records import DER_DOCUMENT_MODELS
from flexbench.signals.csip.registry import Device
from flexbench.signals.csip.render import Page
from flexbench.signals.csip.schedule import Program
from flexbench.signals.csip.tls import CSIP_CIPHERS, peer_lfdi
from flexbench.signals.csip.xmlio import (
    MAX_DOCUMENT_BYTES,
    MEDIA_TYPE,
    XmlError,
    local_name,
    model_from_tree,
    parse_model,
    parse_tree,
    to_xml,
)
from flexbench.signals.pki.identity import normalize_lfdi, sfdi_from_lfdi

ADMIN_METHODS = OPERATOR_CALLS  # the HTTPS admin API serves the operator's calls, no more
CACHE_MAX_ENTRIES = 100_000
IN_BAND_PATHS = frozenset(u.template for u in (uris.DCAP, uris.TIME, uris.EDEV_LIST))
LFDI_KEY = web.RequestKey("lfdi", str)
CALLER_KEY = web.RequestKey[Device | None]("caller")

Builder = Callable[[Device, "re.Match[str]", Page, float], tuple[Any, float]]


@dataclass
class ServerConfig:
    """Where the server listens and how it secures the connection."""

    ca_cert: str
    cert: str
    key: str
    host: str = "127.0.0.1"
    port: int = 0
    ciphers: str = CSIP_CIPHERS
    operator_lfdis: set[str] = field(default_factory=set)
    default_list_limit: int = 1
    max_list_limit: int = 1000
    # Hosts a notificationURI may name; empty: only the subscribing client's own address; "*": any host.
    notification_hosts: frozenset[str] = frozenset()
    max_subscriptions: int = 100  # per SubscriptionList, and per site more in an aggregator's
    header_timeout_s: float = 30.0  # TLS handshake, and each request's line and headers, must arrive within
    keepalive_timeout_s: float | None = None  # an idle connection is closed after; None: the pollRate + a minute
    # One of several processes serving the state file (and the port): take in the others' changes before each
    # request. Off, a process alone skips that look (a PRAGMA) on its hot path.
    shared_store: bool = False


class HttpError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _error(status: int, reason: str) -> web.Response:
    return web.Response(status=status, text=reason + "\n", content_type="text/plain")


class CsipApp:
    """Request handling; `build()` returns the aiohttp Application."""

    def __init__(self, headend: HeadEnd, config: ServerConfig) -> None:
        self.headend = headend
        self.config = config
        self.operator_lfdis = {normalize_lfdi(x) for x in config.operator_lfdis}
        # called with (lfdi, method, path) for every request that presented a certificate: a test
        # bench watches how a device polls without touching the device
        self.on_request: Callable[[str, str, str], None] | None = None
        # (URI template, its ids, query, CSIP-AUS version) -> (device generation, valid until, body)
        self._cache: dict[tuple[str, tuple[str, ...], str, str], tuple[int, float, bytes]] = {}
        # (resource type, its JSON dump, CSIP-AUS version) -> its XML: see _xml_of_equal
        self._xml_by_value: dict[tuple[type, str, str], bytes] = {}
        self._tree: list[tuple[uris.Uri, Builder]] = [
            (uris.EDEV, lambda d, mt, p, t: (render.end_device(self.headend, d), render.FOREVER)),
            (uris.REGISTRATION, lambda d, mt, p, t: (render.registration(self.headend, d), render.FOREVER)),
            (uris.CONNECTION_POINT, lambda d, mt, p, t: (render.connection_point(d), render.FOREVER)),
            (uris.FSA_LIST, lambda d, mt, p, t: (render.fsa_list(self.headend, d, p), render.FOREVER)),
            (uris.FSA, self._fsa),
            (uris.DERP_LIST, lambda d, mt, p, t: render.der_program_list(self.headend, d, int(mt.group(2)), p, t)),
            (uris.DERP, self._program),
            (uris.DERC_LIST, self._control_list),
            (uris.ACTDERC_LIST, self._active_list),
            (uris.DERC, self._control),
            (uris.DDERC, self._default),
            (uris.DER_LIST, lambda d, mt, p, t: (render.der_list(d, self.headend, p, t), render.FOREVER)),
            (uris.DER, self._der),
            (uris.SUB_LIST, lambda d, mt, p, t: (render.subscription_list(self.headend, d, p), render.FOREVER)),
            (uris.SUB, self._subscription),
            (uris.LEL_LIST, lambda d, mt, p, t: (render.log_event_list(self.headend, d, p), render.FOREVER)),
            *PricingTree(headend).routes(),
        ]

    # Application -----------------------------------------------------------------------
    def build(self) -> web.Application:
        app = web.Application(middlewares=[self._identify], client_max_size=MAX_DOCUMENT_BYTES)
        r = app.router
        r.add_get(uris.DCAP.route, self.get_dcap)
        r.add_get(uris.TIME.route, self.get_time)
        r.add_get(uris.EDEV_LIST.route, self.get_edev_list)
        r.add_post(uris.EDEV_LIST.route, self.post_edev)
        r.add_put(uris.CONNECTION_POINT.route, self.put_connection_point)
        r.add_put(uris.DER_DOCUMENT.route, self.put_der_document)
        r.add_get(uris.DER_DOCUMENT.route, self.get_der_document)
        r.add_post(uris.SUB_LIST.route, self.post_subscription)
        r.add_delete(uris.SUB.route, self.delete_subscription)
        r.add_post(uris.LEL_LIST.route, self.post_log_event)
        for uri, builder in self._tree:
            r.add_get(uri.route, self._tree_handler(uri, builder))
        r.add_get(uris.RSPS.route, self.get_response_sets)
        r.add_get(uris.RSP_SET.route, self.get_response_set)
        r.add_get(uris.RSP_LIST.route, self.get_responses)
        r.add_post(uris.RSP_LIST.route, self.post_response)
        r.add_get(uris.MUP_LIST.route, self.get_mup_list)
        r.add_post(uris.MUP_LIST.route, self.post_mup)
        r.add_get(uris.MUP.route, self.get_mup)
        r.add_post(uris.MUP.route, self.post_mup_readings)
        r.add_delete(uris.MUP.route, self.delete_mup)
        r.add_post(uris.ADMIN_CALL.route, self.admin_call)
        return app

    @web.middleware
    async def _identify(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        connection = request_started(request)
        try:
            return await self._answer(request, handler)
        finally:
            if connection is not None:
                connection.request_finished()

    async def _answer(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        transport = request.transport
        lfdi = peer_lfdi(transport.get_extra_info("ssl_object")) if transport is not None else None
        if lfdi is None:
            return _error(403, "a client certificate is required")
        request[LFDI_KEY] = lfdi
        if self.config.shared_store:  # what another server process changed, before this request reads it
            self.headend.sync()
        caller = request[CALLER_KEY] = self.headend.registry.by_lfdi(lfdi)
        if self.on_request is not None:
            self.on_request(lfdi, request.method, request.path)
        try:
            if request.path.startswith("/admin/"):
                if lfdi not in self.operator_lfdis:
                    raise HttpError(403, "operator certificate required")
            elif caller is None and not self._may_register_in_band(request):
                raise HttpError(403, f"certificate {lfdi} is not registered")
            elif caller is not None and not caller.enabled:
                raise HttpError(403, f"certificate {lfdi}'s access is revoked")
            return await handler(request)
        except HttpError as exc:
            return _error(exc.status, exc.reason)
        except XmlError as exc:
            return _error(400, str(exc))

    def _may_register_in_band(self, request: web.Request) -> bool:
        """Unregistered certificates may discover and register themselves when the server allows it."""
        if not self.headend.config.allow_in_band_registration:
            return False
        if (
            request.method == "GET" and request.path == uris.MUP_LIST.template
        ):  # an empty list: discovery walks every link
            return True
        return request.path in IN_BAND_PATHS

    # Helpers ---------------------------------------------------------------------------
    def _page(self, request: web.Request) -> Page:
        q = request.rel_url.query
        try:
            start = int(q.get("s", 0))
            limit = int(q.get("l", self.config.default_list_limit))
            after = int(q["a"]) if "a" in q else None
        except ValueError:
            raise HttpError(400, "list paging parameters s, a, l must be integers") from None
        if start < 0 or limit < 0:
            raise HttpError(400, "list paging parameters must not be negative")
        return Page(start=start, after_s=after, limit=min(limit, self.config.max_list_limit))

    def _version(self, device: Device | None) -> str:
        if device is not None and device.csipaus_version:
            return device.csipaus_version
        return self.headend.config.csipaus_version

    def _xml(self, resource: Any, device: Device | None, status: int = 200) -> web.Response:
        return web.Response(status=status, body=to_xml(resource, self._version(device)), content_type=MEDIA_TYPE)

    def _xml_of_equal(self, resource: Any, device: Device | None) -> web.Response:
        """For resources built on every request (DeviceCapability, EndDeviceList: they draw on several
        devices' state, so no one device's generation tells when they change): the XML of an equal resource
        is reused. Equal means the same type and the same JSON dump, whose cost is a few percent of
        serializing the XML; only for models whose fields each have one model type (the dump names no type)."""
        version = self._version(device)
        key = (type(resource), resource.model_dump_json(), version)
        body = self._xml_by_value.get(key)
        if body is None:
            if len(self._xml_by_value) >= CACHE_MAX_ENTRIES:
                self._xml_by_value.clear()
            body = self._xml_by_value[key] = to_xml(resource, version)
        return web.Response(body=body, content_type=MEDIA_TYPE)

    def _caller(self, request: web.Request) -> Device:
        caller = request[CALLER_KEY]
        if caller is None:
            raise HttpError(403, f"certificate {request[LFDI_KEY]} is not registered")
        return caller

    def _target(self, request: web.Request, edev_id: int) -> Device:
        caller = self._caller(request)
        target = self.headend.registry.by_id(edev_id)
        if target is None:
            raise HttpError(404, f"no EndDevice {edev_id}")
        if not self.headend.registry.may_access(caller, edev_id):
            raise HttpError(403, f"EndDevice {edev_id} belongs to another client")
        return target

    async def _body(self, request: web.Request) -> bytes:
        data = await request.read()
        if not data:
            raise HttpError(400, "empty body")
        return data

    # Device tree (GET) -----------------------------------------------------------------
    def render_path(self, device: Device, path: str, page: Page) -> tuple[bytes, float] | None:
        """Render a resource of the device's tree; None if there is no such resource."""
        for uri, builder in self._tree:
            match = uri.pattern.match(path)
            if match and int(match.group(1)) == device.id:
                return self._render(device, builder, match, page)
        return None

    def _render(self, device: Device, builder: Builder, match: re.Match[str], page: Page) -> tuple[bytes, float] | None:
        resource, expires = builder(device, match, page, self.headend.clock())
        if resource is None:
            return None
        return to_xml(resource, self._version(device)), expires

    def render_subscribed(self, subscriber: Device, resource: str, page: Page) -> tuple[bytes, float] | None:
        """A subscribed resource as its subscriber sees it: its EndDeviceList, or a resource of an EndDevice it
        may access (an aggregator subscribes, in its own SubscriptionList, to the resources of its sites)."""
        path = resource.split("?")[0]
        if path == uris.EDEV_LIST.template:
            listing = render.end_device_list(self.headend, subscriber, page)
            return to_xml(listing, self._version(subscriber)), render.FOREVER
        match = uris.EDEV_PREFIX.match(path)
        target = self.headend.registry.by_id(int(match.group(1))) if match else None
        if target is None or not self.headend.registry.may_access(subscriber, target.id):
            return None
        try:
            return self.render_path(target, path, page)
        except HttpError:
            return None

    def _tree_handler(self, uri: uris.Uri, builder: Builder) -> Callable[[web.Request], Awaitable[web.Response]]:
        """The GET handler of one resource of a device's tree: served from the render cache, keyed by the
        URI's template, its ids and the query (paging), while the device's generation and the rendering's
        validity (event statuses change with time) last."""

        async def get(request: web.Request) -> web.Response:
            ids = tuple(request.match_info.values())
            device = self._target(request, int(ids[0]))
            version = self._version(device)
            key = (uri.template, ids, request.query_string, version)
            generation = self.headend.generation.get(device.id, 0)
            cached = self._cache.get(key)
            if cached is not None and cached[0] == generation and self.headend.clock() < cached[1]:
                return web.Response(body=cached[2], content_type=MEDIA_TYPE)
            match = uri.pattern.match(request.path)
            if match is None:  # the route matched the same template
                raise HttpError(404, f"no resource {request.path}")
            with self.headend.store.lock:
                rendered = self._render(device, builder, match, self._page(request))
            if rendered is None:
                raise HttpError(404, f"no resource {request.path}")
            body, expires = rendered
            if len(self._cache) >= CACHE_MAX_ENTRIES:
                self._cache.clear()
            self._cache[key] = (generation, expires, body)
            return web.Response(body=body, content_type=MEDIA_TYPE)

        return get

    def _fsa(self, device: Device, match: re.Match[str], page: Page, now_s: float) -> tuple[Any, float]:
        fsa = int(match.group(2))
        found = fsa in self.headend.book.fsas(device.id)
        return (render.function_set_assignments(self.headend, device, fsa) if found else None), render.FOREVER

    def _der(self, device: Device, match: re.Match[str], page: Page, now_s: float) -> tuple[Any, float]:
        found = int(match.group(2)) == render.DER_ID
        return (render.der(device, self.headend, now_s) if found else None), render.FOREVER

    def _program_of(self, device: Device, match: re.Match[str]) -> Program:
        prog = self.headend.book.program(device.id, int(match.group(2)))
        if prog is None:
            raise HttpError(404, f"no DERProgram {match.group(2)}")
        return prog

    def _program(self, device: Device, match: re.Match[str], page: Page, now_s: float) -> tuple[Any, float]:
        prog = self._program_of(device, match)
        return render.der_program(self.headend, device, prog, now_s), self.headend.book.next_boundary_s(prog.id, now_s)

    def _control_list(self, device: Device, match: re.Match[str], page: Page, now_s: float) -> tuple[Any, float]:
        return render.der_control_list(self.headend, device, self._program_of(device, match), page, now_s)

    def _active_list(self, device: Device, match: re.Match[str], page: Page, now_s: float) -> tuple[Any, float]:
        return render.der_control_list(self.headend, device, self._program_of(device, match), page, now_s, True)

    def _control(self, device: Device, match: re.Match[str], page: Page, now_s: float) -> tuple[Any, float]:
        prog = self._program_of(device, match)
        control = self.headend.book.control_by_id(prog.id, int(match.group(3)))
        if control is None:
            return None, render.FOREVER
        return (
            render.der_control(self.headend, device, prog, control, now_s),
            self.headend.book.next_boundary_s(prog.id, now_s),
        )

    def _default(self, device: Device, match: re.Match[str], page: Page, now_s: float) -> tuple[Any, float]:
        return render.default_der_control(device, self._program_of(device, match), self.headend), render.FOREVER

    def _subscription(self, device: Device, match: re.Match[str], page: Page, now_s: float) -> tuple[Any, float]:
        sub = self.headend.records.subscription(int(match.group(2)))
        if sub is None or sub.edev_id != device.id:
            return None, render.FOREVER
        return render.subscription(device, sub), render.FOREVER

    # Discovery, time, registration ---------------------------------------------------------
    async def get_dcap(self, request: web.Request) -> web.Response:
        caller = request[CALLER_KEY]
        with self.headend.store.lock:
            return self._xml_of_equal(render.device_capability(self.headend, caller), caller)

    async def get_time(self, request: web.Request) -> web.Response:
        return self._xml(render.time_resource(self.headend), request[CALLER_KEY])

    async def get_edev_list(self, request: web.Request) -> web.Response:
        caller = request[CALLER_KEY]
        with self.headend.store.lock:
            return self._xml_of_equal(render.end_device_list(self.headend, caller, self._page(request)), caller)

    async def post_edev(self, request: web.Request) -> web.Response:
        posted = parse_model(await self._body(request), m.EndDeviceRequest)
        caller: Device | None = request[CALLER_KEY]
        lfdi = posted.lFDI.upper() if posted.lFDI else None
        if caller is not None and caller.kind == "aggregator" and lfdi != caller.lfdi:
            if lfdi is None:
                raise HttpError(400, "an aggregator registers a device with its lFDI")
            aggregator_lfdi = caller.lfdi
        else:
            if lfdi is not None and lfdi != request[LFDI_KEY]:
                raise HttpError(403, "a device registers only its own certificate's LFDI")
            lfdi = request[LFDI_KEY]
            aggregator_lfdi = None
        try:
            lfdi = normalize_lfdi(lfdi)
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        if posted.sFDI != sfdi_from_lfdi(lfdi):
            raise HttpError(400, f"sFDI {posted.sFDI} does not match LFDI {lfdi}")
        existing = self.headend.registry.by_lfdi(lfdi)
        if existing is not None:
            if caller is None or not self.headend.registry.may_access(caller, existing.id):
                raise HttpError(403, "that EndDevice belongs to another client")
            raise HttpError(409, f"LFDI {lfdi} is already registered at {uris.EDEV.href(existing.id)}")
        if not self.headend.config.allow_in_band_registration:
            raise HttpError(403, "in-band registration is not allowed: the operator registers devices")
        device = self.headend.register_device(lfdi, sfdi=posted.sFDI, aggregator_lfdi=aggregator_lfdi)
        return web.Response(status=201, headers={"Location": uris.EDEV.href(device.id)})

    async def put_connection_point(self, request: web.Request) -> web.Response:
        device = self._target(request, int(request.match_info["edev"]))
        posted = parse_model(await self._body(request), m.ConnectionPointRequest)
        nmi = posted.id or posted.id_v11
        try:
            validate_nmi(nmi or "")
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        self.headend.registry.set_connection_point(device.id, nmi, self.headend.now_s())
        href = uris.CONNECTION_POINT.href(device.id)
        self.headend.touch(device.id, {href})
        return web.Response(status=204, headers={"Location": href})

    # DER documents -------------------------------------------------------------------------
    def _der_owner(self, request: web.Request) -> Device:
        device = self._target(request, int(request.match_info["edev"]))
        if int(request.match_info["der"]) != render.DER_ID:
            raise HttpError(404, f"no DER {request.match_info['der']}")
        return device

    async def put_der_document(self, request: web.Request) -> web.Response:
        device = self._der_owner(request)
        kind = request.match_info["kind"]
        href = uris.DER_DOCUMENT.href(device.id, render.DER_ID, kind)
        posted = parse_model(await self._body(request), DER_DOCUMENT_MODELS[kind])
        document = posted.model_copy(update={"href": href})  # served back as the server's resource, at its address
        self.headend.records.put_der_document(device.id, kind, document, to_xml(document), self.headend.now_s())
        self.headend.touch(device.id, {href})
        return web.Response(status=204)

    async def get_der_document(self, request: web.Request) -> web.Response:
        device = self._der_owner(request)
        found = self.headend.records.der_document(device.id, request.match_info["kind"])
        if found is None:
            raise HttpError(404, "not reported yet")
        body = found.xml
        if self._version(device) == "1.2":
            body = body.replace(b"https://csipaus.org/ns/v1.3", b"https://csipaus.org/ns")
        return web.Response(body=body, content_type=MEDIA_TYPE)

    # Subscriptions and log events --------------------------------------------------------------
    async def post_subscription(self, request: web.Request) -> web.Response:
        device = self._target(request, int(request.match_info["edev"]))
        if not self.headend.registry.holds_subscriptions(device):
            raise HttpError(
                404, f"EndDevice {device.id} has no SubscriptionList: its aggregator's holds its subscriptions"
            )
        sub = parse_model(await self._body(request), m.Subscription)
        if sub.limit < 0:
            raise HttpError(400, "limit must not be negative")
        problem = notification_uri_problem(sub.notificationURI, request.remote, self.config.notification_hosts)
        if problem is not None:
            raise HttpError(400, problem)
        allowed = self.config.max_subscriptions * len(self.headend.registry.visible_ids(device))
        if self.headend.records.count_subscriptions(device.id) >= allowed:
            raise HttpError(
                400, f"EndDevice {device.id}'s SubscriptionList is full ({allowed}): delete a subscription first"
            )
        with self.headend.store.lock:
            found = self.render_subscribed(device, sub.subscribedResource, Page(limit=1))
        if found is None:
            raise HttpError(400, f"{sub.subscribedResource} is not a resource this client may subscribe to")
        sub_id = self.headend.records.add_subscription(device.id, sub, self.headend.now_s())
        self.headend.touch(device.id, {uris.SUB_LIST.href(device.id)})
        return web.Response(status=201, headers={"Location": uris.SUB.href(device.id, sub_id)})

    async def delete_subscription(self, request: web.Request) -> web.Response:
        device = self._target(request, int(request.match_info["edev"]))
        if not self.headend.records.delete_subscription(device.id, int(request.match_info["sub"])):
            raise HttpError(404, "no such subscription")
        self.headend.touch(device.id, {uris.SUB_LIST.href(device.id)})
        return web.Response(status=204)

    async def post_log_event(self, request: web.Request) -> web.Response:
        device = self._target(request, int(request.match_info["edev"]))
        event = parse_model(await self._body(request), m.LogEvent)
        event_id = self.headend.records.add_log_event(device.id, event, self.headend.now_s())
        self.headend.touch(device.id, {uris.LEL_LIST.href(device.id)})
        return web.Response(status=201, headers={"Location": uris.LEL.href(device.id, event_id)})

    # Responses ------------------------------------------------------------------------------
    def _response_set(self, request: web.Request) -> None:
        if int(request.match_info["rsps"]) != self.headend.config.response_set_id:
            raise HttpError(404, "no such ResponseSet")

    async def get_response_sets(self, request: web.Request) -> web.Response:
        self._caller(request)
        rs_id = self.headend.config.response_set_id
        resource = m.ResponseSetList(
            href=uris.RSPS.template,
            all_=1,
            results=1,
            ResponseSet_=[
                m.ResponseSet(
                    href=uris.RSP_SET.href(rs_id),
                    mRID=render.fixed_mrid("AE5", rs_id),
                    description="DERControl responses",
                    ResponseListLink=m.ListLink(href=uris.RSP_LIST.href(rs_id)),
                )
            ],
        )
        return self._xml(resource, request[CALLER_KEY])

    async def get_response_set(self, request: web.Request) -> web.Response:
        self._caller(request)
        self._response_set(request)
        rs_id = self.headend.config.response_set_id
        resource = m.ResponseSet(
            href=uris.RSP_SET.href(rs_id),
            mRID=render.fixed_mrid("AE5", rs_id),
            description="DERControl responses",
            ResponseListLink=m.ListLink(href=uris.RSP_LIST.href(rs_id)),
        )
        return self._xml(resource, request[CALLER_KEY])

    async def get_responses(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        self._response_set(request)
        visible = self.headend.registry.visible_ids(caller)
        return self._xml(render.response_list(self.headend, visible, self._page(request)), caller)

    async def post_response(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        self._response_set(request)
        root = parse_tree(await self._body(request))
        name = local_name(root)
        if name not in ("Response", "DERControlResponse"):
            raise HttpError(400, f"expected a DERControlResponse, got {name}")
        response = model_from_tree(root, m.DERControlResponseModel if name == "DERControlResponse" else m.Response)
        device = self.headend.registry.by_lfdi(response.endDeviceLFDI.upper())
        if device is None or not self.headend.registry.may_access(caller, device.id):
            raise HttpError(403, "endDeviceLFDI is not this client's device")
        control = self.headend.book.control(response.subject)
        if control is None or self.headend.book.program(device.id, control.program_id) is None:
            raise HttpError(400, f"subject {response.subject} is not a DERControl of this device")
        response_id = self.headend.records.add_response(device.id, response, self.headend.now_s())
        return web.Response(
            status=201, headers={"Location": uris.RSP.href(self.headend.config.response_set_id, response_id)}
        )

    # Mirror usage points --------------------------------------------------------------------
    def _mup(self, request: web.Request) -> MirrorUsagePointRecord:
        caller = self._caller(request)
        mup = self.headend.records.mirror_usage_point(int(request.match_info["mup"]))
        if mup is None:
            raise HttpError(404, "no such MirrorUsagePoint")
        if not self.headend.registry.may_access(caller, mup.edev_id):
            raise HttpError(403, "that MirrorUsagePoint belongs to another client")
        return mup

    async def get_mup_list(self, request: web.Request) -> web.Response:
        caller = request[CALLER_KEY]
        visible = self.headend.registry.visible_ids(caller) if caller is not None else []
        return self._xml(render.mirror_usage_point_list(self.headend, visible, self._page(request)), caller)

    async def post_mup(self, request: web.Request) -> web.Response:
        caller = self._caller(request)
        mup = parse_model(await self._body(request), m.MirrorUsagePoint)
        device = self.headend.registry.by_lfdi(mup.deviceLFDI.upper())
        if device is None or not self.headend.registry.may_access(caller, device.id):
            raise HttpError(403, "deviceLFDI is not this client's device")
        try:
            mup_id, _ = self.headend.records.upsert_mirror_usage_point(device.id, mup, self.headend.now_s())
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        return web.Response(status=201, headers={"Location": uris.MUP.href(mup_id)})

    async def get_mup(self, request: web.Request) -> web.Response:
        mup = self._mup(request)
        return self._xml(render.mirror_usage_point(self.headend, mup), request[CALLER_KEY])

    async def post_mup_readings(self, request: web.Request) -> web.Response:
        mup = self._mup(request)
        root = parse_tree(await self._body(request))
        name = local_name(root)
        if name == "MirrorMeterReading":
            readings: list[m.MirrorMeterReading] = [model_from_tree(root, m.MirrorMeterReadingRequest)]
        elif name == "MirrorMeterReadingList":
            readings = model_from_tree(root, m.MirrorMeterReadingListRequest).mirrorMeterReadings or []
        else:
            raise HttpError(400, f"expected MirrorMeterReading or MirrorMeterReadingList, got {name}")
        created = False
        try:
            with self.headend.store.transaction():
                for mmr in readings:
                    created = self.headend.records.add_meter_reading(mup.id, mmr, self.headend.now_s()) or created
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        if created:
            return web.Response(status=201, headers={"Location": uris.MUP.href(mup.id)})
        return web.Response(status=204)

    async def delete_mup(self, request: web.Request) -> web.Response:
        mup = self._mup(request)
        self.headend.records.delete_mirror_usage_point(mup.id)
        return web.Response(status=204)

    # Operator -----------------------------------------------------------------------------
    async def admin_call(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method not in ADMIN_METHODS:
            return web.json_response({"error": f"unknown operator call {method}"}, status=404)
        try:
            kwargs = json.loads(await request.read() or b"{}")
            if not isinstance(kwargs, dict):
                raise ValueError("the body is a JSON object of keyword arguments")
            if method == "publish_envelope" and "intervals" in kwargs:  # JSON rows: read them here, at the edge
                kwargs["envelope"] = Envelope.of(kwargs.pop("intervals"))
            result = as_json(getattr(self.headend, method)(**kwargs))
        except KeyError as exc:
            return web.json_response({"error": str(exc.args[0]) if exc.args else "not found"}, status=404)
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"result": result})
