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
from flexbench.signals.csip import render
from flexbench.signals.csip.connections import request_started
from flexbench.signals.csip.headend import HeadEnd
from flexbench.signals.csip.nmi import validate_nmi
from flexbench.signals.csip.notify import notification_uri_problem
from flexbench.signals.csip.operator_api import OPERATOR_CALLS
from flexbench.signals.csip.pricing_render import PricingTree
from flexbench.signals.csip.records import DER_DOCUMENT_MODELS
from flexbench.signals.csip.registry import Device
from flexbench.signals.csip.render import Page
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
EDEV_PATH = re.compile(r"^/edev/(\d+)(?:/|$)")
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
        self._cache: dict[tuple[int, str, str], tuple[int, float, bytes]] = {}
        self._tree: list[tuple[re.Pattern[str], Builder]] = [
            (re.compile(r"^/edev/(\d+)$"), lambda d, mt, p, t: (render.end_device(self.headend, d), render.FOREVER)),
            (
                re.compile(r"^/edev/(\d+)/rg$"),
                lambda d, mt, p, t: (render.registration(self.headend, d), render.FOREVER),
            ),
            (re.compile(r"^/edev/(\d+)/cp$"), lambda d, mt, p, t: (render.connection_point(d), render.FOREVER)),
            (
                re.compile(r"^/edev/(\d+)/fsa$"),
                lambda d, mt, p, t: (render.fsa_list(self.headend, d, p), render.FOREVER),
            ),
            (re.compile(r"^/edev/(\d+)/fsa/(\d+)$"), self._fsa),
            (
                re.compile(r"^/edev/(\d+)/fsa/(\d+)/derp$"),
                lambda d, mt, p, t: render.der_program_list(self.headend, d, int(mt.group(2)), p, t),
            ),
            (re.compile(r"^/edev/(\d+)/derp/(\d+)$"), self._program),
            (re.compile(r"^/edev/(\d+)/derp/(\d+)/derc$"), self._control_list),
            (re.compile(r"^/edev/(\d+)/derp/(\d+)/actderc$"), self._active_list),
            (re.compile(r"^/edev/(\d+)/derp/(\d+)/derc/(\d+)$"), self._control),
            (re.compile(r"^/edev/(\d+)/derp/(\d+)/dderc$"), self._default),
            (
                re.compile(r"^/edev/(\d+)/der$"),
                lambda d, mt, p, t: (render.der_list(d, self.headend, p, t), render.FOREVER),
            ),
            (re.compile(r"^/edev/(\d+)/der/1$"), lambda d, mt, p, t: (render.der(d, self.headend, t), render.FOREVER)),
            (
                re.compile(r"^/edev/(\d+)/sub$"),
                lambda d, mt, p, t: (render.subscription_list(self.headend, d, p), render.FOREVER),
            ),
            (re.compile(r"^/edev/(\d+)/sub/(\d+)$"), self._subscription),
            (
                re.compile(r"^/edev/(\d+)/lel$"),
                lambda d, mt, p, t: (render.log_event_list(self.headend, d, p), render.FOREVER),
            ),
            *PricingTree(headend).routes(),
        ]

    # Application -----------------------------------------------------------------------
    def build(self) -> web.Application:
        app = web.Application(middlewares=[self._identify], client_max_size=MAX_DOCUMENT_BYTES)
        r = app.router
        r.add_get("/dcap", self.get_dcap)
        r.add_get("/tm", self.get_time)
        r.add_get("/edev", self.get_edev_list)
        r.add_post("/edev", self.post_edev)
        r.add_put(r"/edev/{e:\d+}/cp", self.put_connection_point)
        r.add_put(r"/edev/{e:\d+}/der/1/{kind:dercap|derg|ders|dera}", self.put_der_document)
        r.add_get(r"/edev/{e:\d+}/der/1/{kind:dercap|derg|ders|dera}", self.get_der_document)
        r.add_post(r"/edev/{e:\d+}/sub", self.post_subscription)
        r.add_delete(r"/edev/{e:\d+}/sub/{s:\d+}", self.delete_subscription)
        r.add_post(r"/edev/{e:\d+}/lel", self.post_log_event)
        r.add_get(r"/edev/{tail:.+}", self.get_device_resource)
        r.add_get("/rsps", self.get_response_sets)
        r.add_get(r"/rsps/{r:\d+}", self.get_response_set)
        r.add_get(r"/rsps/{r:\d+}/rsp", self.get_responses)
        r.add_post(r"/rsps/{r:\d+}/rsp", self.post_response)
        r.add_get("/mup", self.get_mup_list)
        r.add_post("/mup", self.post_mup)
        r.add_get(r"/mup/{u:\d+}", self.get_mup)
        r.add_post(r"/mup/{u:\d+}", self.post_mup_readings)
        r.add_delete(r"/mup/{u:\d+}", self.delete_mup)
        r.add_post(r"/admin/call/{method}", self.admin_call)
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
        if request.method == "GET" and request.path == "/mup":  # an empty list: discovery walks every link
            return True
        return request.path in ("/dcap", "/tm", "/edev")

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
        now_s = self.headend.clock()
        for pattern, builder in self._tree:
            match = pattern.match(path)
            if match and int(match.group(1)) == device.id:
                resource, expires = builder(device, match, page, now_s)
                if resource is None:
                    return None
                return to_xml(resource, self._version(device)), expires
        return None

    def render_subscribed(self, subscriber: Device, resource: str, page: Page) -> tuple[bytes, float] | None:
        """A subscribed resource as its subscriber sees it: its EndDeviceList, or a resource of an EndDevice it
        may access (an aggregator subscribes, in its own SubscriptionList, to the resources of its sites)."""
        path = resource.split("?")[0]
        if path == "/edev":
            listing = render.end_device_list(self.headend, subscriber, page)
            return to_xml(listing, self._version(subscriber)), render.FOREVER
        match = EDEV_PATH.match(path)
        target = self.headend.registry.by_id(int(match.group(1))) if match else None
        if target is None or not self.headend.registry.may_access(subscriber, target.id):
            return None
        try:
            return self.render_path(target, path, page)
        except HttpError:
            return None

    async def get_device_resource(self, request: web.Request) -> web.Response:
        edev_id = int(request.path.split("/")[2]) if request.path.split("/")[2].isdigit() else -1
        device = self._target(request, edev_id)
        key = (device.id, request.path_qs, self._version(device))
        generation = self.headend.generation.get(device.id, 0)
        cached = self._cache.get(key)
        if cached is not None and cached[0] == generation and self.headend.clock() < cached[1]:
            return web.Response(body=cached[2], content_type=MEDIA_TYPE)
        with self.headend.store.lock:
            rendered = self.render_path(device, request.path, self._page(request))
        if rendered is None:
            raise HttpError(404, f"no resource {request.path}")
        body, expires = rendered
        if len(self._cache) >= CACHE_MAX_ENTRIES:
            self._cache.clear()
        self._cache[key] = (generation, expires, body)
        return web.Response(body=body, content_type=MEDIA_TYPE)

    def _fsa(self, device: Device, match: re.Match[str], page: Page, now_s: float) -> tuple[Any, float]:
        fsa = int(match.group(2))
        found = fsa in self.headend.book.fsas(device.id)
        return (render.function_set_assignments(self.headend, device, fsa) if found else None), render.FOREVER

    def _program_of(self, device: Device, match: re.Match[str]) -> Any:
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
        rows = [r for r in self.headend.records.subscriptions(device.id) if r["id"] == int(match.group(2))]
        return (render.subscription(device, rows[0]) if rows else None), render.FOREVER

    # Discovery, time, registration ---------------------------------------------------------
    async def get_dcap(self, request: web.Request) -> web.Response:
        caller = request[CALLER_KEY]
        with self.headend.store.lock:
            return self._xml(render.device_capability(self.headend, caller), caller)

    async def get_time(self, request: web.Request) -> web.Response:
        return self._xml(render.time_resource(self.headend), request[CALLER_KEY])

    async def get_edev_list(self, request: web.Request) -> web.Response:
        caller = request[CALLER_KEY]
        with self.headend.store.lock:
            return self._xml(render.end_device_list(self.headend, caller, self._page(request)), caller)

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
            raise HttpError(409, f"LFDI {lfdi} is already registered at {render.edev_href(existing.id)}")
        if not self.headend.config.allow_in_band_registration:
            raise HttpError(403, "in-band registration is not allowed: the operator registers devices")
        device = self.headend.register_device(lfdi, sfdi=posted.sFDI, aggregator_lfdi=aggregator_lfdi)
        return web.Response(status=201, headers={"Location": render.edev_href(int(device["id"]))})

    async def put_connection_point(self, request: web.Request) -> web.Response:
        device = self._target(request, int(request.match_info["e"]))
        posted = parse_model(await self._body(request), m.ConnectionPointRequest)
        nmi = posted.id or posted.id_v11
        try:
            validate_nmi(nmi or "")
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        self.headend.registry.set_connection_point(device.id, nmi, self.headend.now_s())
        href = f"/edev/{device.id}/cp"
        self.headend.touch(device.id, {href})
        return web.Response(status=204, headers={"Location": href})

    # DER documents -------------------------------------------------------------------------
    async def put_der_document(self, request: web.Request) -> web.Response:
        device = self._target(request, int(request.match_info["e"]))
        kind = request.match_info["kind"]
        href = f"/edev/{device.id}/der/1/{kind}"
        posted = parse_model(await self._body(request), DER_DOCUMENT_MODELS[kind])
        document = posted.model_copy(update={"href": href})  # served back as the server's resource, at its address
        self.headend.records.put_der_document(device.id, kind, document, to_xml(document), self.headend.now_s())
        self.headend.touch(device.id, {href})
        return web.Response(status=204)

    async def get_der_document(self, request: web.Request) -> web.Response:
        device = self._target(request, int(request.match_info["e"]))
        found = self.headend.records.der_document(device.id, request.match_info["kind"])
        if found is None:
            raise HttpError(404, "not reported yet")
        body = found[0]
        if self._version(device) == "1.2":
            body = body.replace(b"https://csipaus.org/ns/v1.3", b"https://csipaus.org/ns")
        return web.Response(body=body, content_type=MEDIA_TYPE)

    # Subscriptions and log events --------------------------------------------------------------
    async def post_subscription(self, request: web.Request) -> web.Response:
        device = self._target(request, int(request.match_info["e"]))
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
        self.headend.touch(device.id, {f"/edev/{device.id}/sub"})
        return web.Response(status=201, headers={"Location": f"/edev/{device.id}/sub/{sub_id}"})

    async def delete_subscription(self, request: web.Request) -> web.Response:
        device = self._target(request, int(request.match_info["e"]))
        if not self.headend.records.delete_subscription(device.id, int(request.match_info["s"])):
            raise HttpError(404, "no such subscription")
        self.headend.touch(device.id, {f"/edev/{device.id}/sub"})
        return web.Response(status=204)

    async def post_log_event(self, request: web.Request) -> web.Response:
        device = self._target(request, int(request.match_info["e"]))
        event = parse_model(await self._body(request), m.LogEvent)
        event_id = self.headend.records.add_log_event(device.id, event, self.headend.now_s())
        self.headend.touch(device.id, {f"/edev/{device.id}/lel"})
        return web.Response(status=201, headers={"Location": f"/edev/{device.id}/lel/{event_id}"})

    # Responses ------------------------------------------------------------------------------
    def _response_set(self, request: web.Request) -> None:
        if int(request.match_info["r"]) != self.headend.config.response_set_id:
            raise HttpError(404, "no such ResponseSet")

    async def get_response_sets(self, request: web.Request) -> web.Response:
        self._caller(request)
        rs_id = self.headend.config.response_set_id
        resource = m.ResponseSetList(
            href="/rsps",
            all_=1,
            results=1,
            ResponseSet_=[
                m.ResponseSet(
                    href=f"/rsps/{rs_id}",
                    mRID=render.fixed_mrid("AE5", rs_id),
                    description="DERControl responses",
                    ResponseListLink=m.ListLink(href=f"/rsps/{rs_id}/rsp"),
                )
            ],
        )
        return self._xml(resource, request[CALLER_KEY])

    async def get_response_set(self, request: web.Request) -> web.Response:
        self._caller(request)
        self._response_set(request)
        rs_id = self.headend.config.response_set_id
        resource = m.ResponseSet(
            href=f"/rsps/{rs_id}",
            mRID=render.fixed_mrid("AE5", rs_id),
            description="DERControl responses",
            ResponseListLink=m.ListLink(href=f"/rsps/{rs_id}/rsp"),
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
            status=201, headers={"Location": f"{render.response_list_href(self.headend)}/{response_id}"}
        )

    # Mirror usage points --------------------------------------------------------------------
    def _mup(self, request: web.Request) -> dict[str, Any]:
        caller = self._caller(request)
        row = self.headend.records.mirror_usage_point(int(request.match_info["u"]))
        if row is None:
            raise HttpError(404, "no such MirrorUsagePoint")
        if not self.headend.registry.may_access(caller, row["edev_id"]):
            raise HttpError(403, "that MirrorUsagePoint belongs to another client")
        return row

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
        return web.Response(status=201, headers={"Location": f"/mup/{mup_id}"})

    async def get_mup(self, request: web.Request) -> web.Response:
        row = self._mup(request)
        return self._xml(render.mirror_usage_point(self.headend, row), request[CALLER_KEY])

    async def post_mup_readings(self, request: web.Request) -> web.Response:
        row = self._mup(request)
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
                    created = self.headend.records.add_meter_reading(row["id"], mmr, self.headend.now_s()) or created
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        if created:
            return web.Response(status=201, headers={"Location": f"/mup/{row['id']}"})
        return web.Response(status=204)

    async def delete_mup(self, request: web.Request) -> web.Response:
        row = self._mup(request)
        self.headend.records.delete_mirror_usage_point(row["id"])
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
            result = getattr(self.headend, method)(**kwargs)
        except KeyError as exc:
            return web.json_response({"error": str(exc.args[0]) if exc.args else "not found"}, status=404)
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"result": result})
