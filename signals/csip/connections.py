"""Connections that hold the server without using it are closed.

A connection must bring each request's line and headers within `header_timeout_s`: counted from
the end of the TLS handshake for its first request, and from the first byte of each later one
(a client that opens connections and sends nothing, or sends a request a byte at a time, ties up
a socket each). Between requests an idle keep-alive connection is closed by aiohttp's own
keep-alive timeout. One sweep a quarter of the header timeout apart checks every connection, so
the per-request cost is a few attribute writes.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

SWEEPS_PER_TIMEOUT = 4


class HeaderDeadlines:
    """The connections of one server, and the sweep that closes those whose request is overdue."""

    def __init__(self, header_timeout_s: float, loop: asyncio.AbstractEventLoop) -> None:
        self.header_timeout_s = header_timeout_s
        self.loop = loop
        self.connections: set[GuardedHandler] = set()
        self.closed = 0  # connections closed for a late request, since the start
        self._sweep_handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._sweep_handle = self.loop.call_later(self.header_timeout_s / SWEEPS_PER_TIMEOUT, self._sweep)

    def stop(self) -> None:
        if self._sweep_handle is not None:
            self._sweep_handle.cancel()
            self._sweep_handle = None

    def _sweep(self) -> None:
        cutoff = self.loop.time() - self.header_timeout_s
        for connection in [c for c in self.connections if c.waiting_since is not None]:
            if connection.waiting_since is not None and connection.waiting_since <= cutoff:
                connection.waiting_since = None
                self.closed += 1
                connection.force_close()
        self.start()


class GuardedHandler(RequestHandler):
    """aiohttp's request handler, timing how long the connection's next request takes to arrive."""

    def __init__(self, manager: web.Server, deadlines: HeaderDeadlines, **kwargs: Any) -> None:
        super().__init__(manager, loop=deadlines.loop, **kwargs)
        self.deadlines = deadlines
        self.waiting_since: float | None = None  # when the request being received began; None: not receiving one
        self.handling = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.waiting_since = self.deadlines.loop.time()
        self.deadlines.connections.add(self)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.deadlines.connections.discard(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.waiting_since is None and not self.handling:
            self.waiting_since = self.deadlines.loop.time()
        super().data_received(data)

    def request_started(self) -> None:
        """The request's headers are in: its body and the handler are not timed here."""
        self.waiting_since = None
        self.handling = True

    def request_finished(self) -> None:
        self.handling = False


def request_started(request: web.BaseRequest) -> GuardedHandler | None:
    """Tell the request's connection its request has arrived; returns it, to tell it when it is handled."""
    protocol = request.protocol
    if type(protocol) is GuardedHandler:
        protocol.request_started()
        return protocol
    return None
