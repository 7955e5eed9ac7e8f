"""Shared fixtures: one test PKI per session, a second CA whose certificates the server must refuse."""

from __future__ import annotations

import http.client
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from flexbench.signals.csip.tls import client_context, server_context
from flexbench.signals.pki import Identity, TestPKI

DEVICE_NAMES = ("dev-a", "dev-b", "aggregator", "agg-site-1", "agg-site-2", "unregistered", "maxw", "cli", "v12")


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    pki = TestPKI(tmp_path_factory.mktemp("pki"))
    pki.init()
    for name in DEVICE_NAMES:
        pki.device(name)
    return pki


@pytest.fixture(scope="session")
def foreign_pki(tmp_path_factory: pytest.TempPathFactory) -> TestPKI:
    """Another CA: its device certificates are unknown to the server."""
    pki = TestPKI(tmp_path_factory.mktemp("foreign"))
    pki.init()
    pki.device("intruder")
    return pki


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]


class Http:
    """Blocking 2030.5 requests over mutual TLS, for tests that look at the wire."""

    def __init__(self, url: str, context: ssl.SSLContext) -> None:
        host, port = url.removeprefix("https://").rsplit(":", 1)
        self.host, self.port, self.context = host, int(port), context

    def request(self, method: str, path: str, body: bytes | None = None) -> Response:
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=10)
        try:
            headers = {"Content-Type": "application/sep+xml"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return Response(resp.status, resp.read(), {k: v for k, v in resp.getheaders()})
        finally:
            conn.close()

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, body: bytes) -> Response:
        return self.request("POST", path, body)

    def put(self, path: str, body: bytes) -> Response:
        return self.request("PUT", path, body)


def http_for(url: str, pki: TestPKI, identity: Identity | None, **kwargs: object) -> Http:
    cert = identity.cert_path if identity else None
    key = identity.key_path if identity else None
    return Http(url, client_context(pki.ca_cert_path, cert, key, **kwargs))  # type: ignore[arg-type]


class FastClock:
    """Bench time running `time_scale` times faster than the wall clock (what the lab's clock offers)."""

    def __init__(self, time_scale: float) -> None:
        self.time_scale = time_scale
        self._epoch_s = time.time()
        self._start = time.monotonic()

    def now(self) -> float:
        return self._epoch_s + (time.monotonic() - self._start) * self.time_scale


@pytest.fixture
def device_paths(pki: TestPKI) -> dict[str, Path]:
    return {d.name: d.cert_path for d in pki.devices()}


# An XML bomb that hides its entities in an attribute value.
BOMB_PUT = (
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    b'<DERSettings xmlns="urn:ieee:std:2030.5:ns" x="&b;"><setGradW>1</setGradW></DERSettings>'
)


@asynccontextmanager
async def notification_listener(identity: Identity, pki: TestPKI, received: list[bytes]) -> AsyncIterator[str]:
    """An HTTPS endpoint on a loopback port (the device's certificate) keeping each POSTed body; yields its URI."""

    async def note(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.Response(status=201)

    app = web.Application()
    app.router.add_post("/note", note)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(
        runner, "127.0.0.1", 0, ssl_context=server_context(pki.ca_cert_path, identity.cert_path, identity.key_path)
    )
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"https://127.0.0.1:{port}/note"
    finally:
        await runner.cleanup()
