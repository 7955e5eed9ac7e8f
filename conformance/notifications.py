"""A notification service for cactus-client's subscription procedures, as cactus-client-notifications offers one.

cactus creates a webhook per subscription through a management API (plain HTTP on loopback), gives
its https address to the server as the notificationURI, and collects what the server POSTed there.
The webhooks listen with a certificate of the run's test PKI, since the server notifies over mutual
TLS and checks the receiver against that CA. The paths and JSON fields are cactus_schema.notification's.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web


@dataclass
class Endpoint:
    enabled: bool = True
    collected: list[dict[str, Any]] = field(default_factory=list)


class NotificationService:
    """Management API on `admin_url`, webhooks under `webhook_url`; runs on a thread of its own."""

    def __init__(self, webhook_tls: ssl.SSLContext) -> None:
        self.webhook_tls = webhook_tls
        self.endpoints: dict[str, Endpoint] = {}
        self.admin_url = ""
        self.webhook_url = ""
        self._loop = asyncio.new_event_loop()
        self._runners: list[web.AppRunner] = []

    def start(self) -> None:
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), name="notifications", daemon=True).start()
        if not ready.wait(30):
            raise RuntimeError("the notification service did not start")

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        admin = web.Application()
        admin.router.add_post("/manage/endpoint", self.create)
        admin.router.add_get("/manage/endpoint/{endpoint_id}", self.collect)
        admin.router.add_put("/manage/endpoint/{endpoint_id}", self.configure)
        admin.router.add_delete("/manage/endpoint/{endpoint_id}", self.delete)
        admin.router.add_get("/manage", lambda _: web.Response(text="ok"))
        hooks = web.Application()
        hooks.router.add_route("*", "/webhook/{endpoint_id}", self.receive)
        self.admin_url = self._loop.run_until_complete(self._listen(admin, None))
        self.webhook_url = self._loop.run_until_complete(self._listen(hooks, self.webhook_tls))
        ready.set()
        self._loop.run_forever()

    async def _listen(self, app: web.Application, tls: ssl.SSLContext | None) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        self._runners.append(runner)
        port = runner.addresses[0][1]
        return f"{'https' if tls else 'http'}://127.0.0.1:{port}"

    async def _cleanup(self) -> None:
        for runner in self._runners:
            await runner.cleanup()

    def _endpoint(self, request: web.Request) -> Endpoint:
        found = self.endpoints.get(request.match_info["endpoint_id"])
        if found is None:
            raise web.HTTPNotFound(text="no such endpoint")
        return found

    async def create(self, request: web.Request) -> web.Response:
        endpoint_id = uuid.uuid4().hex
        self.endpoints[endpoint_id] = Endpoint()
        url = f"{self.webhook_url}/webhook/{endpoint_id}"
        return web.json_response({"endpoint_id": endpoint_id, "fully_qualified_endpoint": url})

    async def collect(self, request: web.Request) -> web.Response:
        """What arrived since the last collection (each notification is handed over once)."""
        endpoint = self._endpoint(request)
        collected, endpoint.collected = endpoint.collected, []
        return web.json_response({"notifications": collected})

    async def configure(self, request: web.Request) -> web.Response:
        endpoint = self._endpoint(request)
        endpoint.enabled = bool(json.loads(await request.read() or b"{}").get("enabled", True))
        return web.Response(status=204)

    async def delete(self, request: web.Request) -> web.Response:
        self._endpoint(request)
        del self.endpoints[request.match_info["endpoint_id"]]
        return web.Response(status=204)

    async def receive(self, request: web.Request) -> web.Response:
        endpoint = self._endpoint(request)
        body = await request.text()
        if not endpoint.enabled:  # a disabled webhook fails, as the procedures on lost communication expect
            return web.Response(status=500, text="endpoint disabled")
        endpoint.collected.append(
            {
                "method": request.method,
                "headers": [{"name": k, "value": v} for k, v in request.headers.items()],
                "body": body,
                "received_at": datetime.now(UTC).isoformat(),
                "remote": request.remote,
            }
        )
        return web.Response(status=201)
