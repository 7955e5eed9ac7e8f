"""Starting and stopping the head-end from Python: `CsipServer` (asyncio) and `ServerThread`.

Other packages' tests and the virtual bench start a server on a free loopback
port and get its URL back:

    async with CsipServer(db_path, certs_dir) as server:   # server.url, server.headend
        ...
    with ServerThread(db_path, certs_dir) as server:        # from synchronous code
        server.headend.publish_envelope(lfdi, envelope)  # a flexbench.core.Envelope
"""

from __future__ import annotations

import asyncio
import functools
import os
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from flexbench.core import TimeSource
from flexbench.signals.csip.connections import GuardedHandler, HeaderDeadlines
from flexbench.signals.csip.headend import HeadEnd, HeadEndConfig
from flexbench.signals.csip.notify import Notifier
from flexbench.signals.csip.server import CsipApp, ServerConfig
from flexbench.signals.csip.tls import CSIP_CIPHERS, client_context, server_context
from flexbench.signals.pki.authority import TestPKI

PathLike = str | os.PathLike[str]
# An idle connection is kept this much longer than the pollRate, so a device polling
# at the pollRate reuses its TLS session instead of a new mutual-TLS handshake per poll.
KEEPALIVE_MARGIN_S = 60.0


def raise_open_file_limit() -> int:
    """Raise this process's open-file limit to its hard limit: every connected device holds a socket.

    A soft limit of 1024 (a common default) would refuse connections beyond about a thousand sites.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
        return hard
    return soft


def _config_from(
    certs_dir: PathLike | None,
    ca_cert: PathLike | None,
    cert: PathLike | None,
    key: PathLike | None,
    operator_lfdis: set[str] | None,
    **kwargs: Any,
) -> ServerConfig:
    operators = set(operator_lfdis or ())
    if certs_dir is not None:
        pki = TestPKI(certs_dir)
        if not pki.exists():
            raise FileNotFoundError(f"no test PKI in {certs_dir}: run `flexbench certs init {certs_dir}`")
        ca_cert = ca_cert or pki.ca_cert_path
        cert = cert or pki.server.cert_path
        key = key or pki.server.key_path
        if (Path(certs_dir) / "operator.crt").is_file():
            operators.add(pki.operator.lfdi)
    if ca_cert is None or cert is None or key is None:
        raise ValueError("give certs_dir, or ca_cert, cert and key")
    return ServerConfig(
        ca_cert=os.fspath(ca_cert), cert=os.fspath(cert), key=os.fspath(key), operator_lfdis=operators, **kwargs
    )


class CsipServer:
    """The head-end on an asyncio loop; `await start()` returns the base URL (https://host:port)."""

    def __init__(
        self,
        db_path: PathLike,
        certs_dir: PathLike | None = None,
        *,
        ca_cert: PathLike | None = None,
        cert: PathLike | None = None,
        key: PathLike | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ciphers: str = CSIP_CIPHERS,
        config: HeadEndConfig | None = None,
        clock: TimeSource | Callable[[], float] = time.time,
        operator_lfdis: set[str] | None = None,
        default_list_limit: int = 1,
        headend: HeadEnd | None = None,
        keepalive_timeout_s: float | None = None,
        header_timeout_s: float = ServerConfig.header_timeout_s,
        notification_hosts: Iterable[str] = (),
        max_subscriptions: int = ServerConfig.max_subscriptions,
        shared_store: bool = False,
    ) -> None:
        self.server_config = _config_from(
            certs_dir,
            ca_cert,
            cert,
            key,
            operator_lfdis,
            host=host,
            port=port,
            ciphers=ciphers,
            default_list_limit=default_list_limit,
            header_timeout_s=header_timeout_s,
            keepalive_timeout_s=keepalive_timeout_s,
            notification_hosts=frozenset(notification_hosts),
            max_subscriptions=max_subscriptions,
            shared_store=shared_store,
        )
        for name in ("header_timeout_s", "keepalive_timeout_s", "max_subscriptions"):
            value = getattr(self.server_config, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        self.headend = headend or HeadEnd(db_path, config, clock)
        self._owns_headend = headend is None
        self.headend.shares_store = shared_store
        self.app = CsipApp(self.headend, self.server_config)
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.AbstractServer | None = None
        self.deadlines: HeaderDeadlines | None = None  # closes connections whose request is late
        self._notifier: Notifier | None = None
        self.port: int | None = None
        poll_rate_s = float(self.headend.config.poll_rate_s)
        self.keepalive_timeout_s = self.server_config.keepalive_timeout_s or max(75.0, poll_rate_s + KEEPALIVE_MARGIN_S)

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the server is not started")
        host = self.server_config.host
        host = f"[{host}]" if ":" in host else host
        return f"https://{host}:{self.port}"

    async def start(self) -> str:
        cfg = self.server_config
        tls = server_context(cfg.ca_cert, cfg.cert, cfg.key, cfg.ciphers)
        notify_tls = client_context(cfg.ca_cert, cfg.cert, cfg.key, ciphers=cfg.ciphers, check_hostname=False)
        self._notifier = Notifier(self.app, notify_tls, asyncio.get_running_loop())
        self.headend.listeners.append(self._notifier.on_change)
        raise_open_file_limit()
        self._runner = web.AppRunner(self.app.build(), handle_signals=False)
        await self._runner.setup()
        assert self._runner.server is not None
        loop = asyncio.get_running_loop()
        self.deadlines = HeaderDeadlines(cfg.header_timeout_s, loop)
        handler = functools.partial(
            GuardedHandler,
            self._runner.server,
            self.deadlines,
            access_log=None,
            keepalive_timeout=self.keepalive_timeout_s,
        )
        sock = socket.socket(socket.AF_INET6 if ":" in cfg.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if cfg.shared_store:  # the port too, with the other processes: the kernel spreads connections over them
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((cfg.host, cfg.port))
        sock.listen(4096)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._listener = await loop.create_server(
            handler, sock=sock, ssl=tls, backlog=4096, ssl_handshake_timeout=cfg.header_timeout_s
        )
        self.deadlines.start()
        return self.url

    async def stop(self) -> None:
        if self._notifier is not None:
            if self._notifier.on_change in self.headend.listeners:
                self.headend.listeners.remove(self._notifier.on_change)
            await self._notifier.close()
        if self.deadlines is not None:
            self.deadlines.stop()
        if self._listener is not None:
            self._listener.close()  # no new connections; cleanup closes the open ones
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._listener is not None:
            await self._listener.wait_closed()
            self._listener = None
        if self._owns_headend:
            self.headend.close()

    async def __aenter__(self) -> CsipServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class ServerThread:
    """The head-end on its own thread and loop, for synchronous callers; `start()` returns the URL."""

    def __init__(self, db_path: PathLike, certs_dir: PathLike | None = None, **kwargs: Any) -> None:
        self.server = CsipServer(db_path, certs_dir, **kwargs)
        self.headend = self.server.headend
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return self.server.url

    def start(self, timeout_s: float = 30.0) -> str:
        self._thread = threading.Thread(target=self._run, name="csip-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError("the 2030.5 server did not start")
        if self._error is not None:
            raise self._error
        return self.url

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def main() -> None:
            self._stopped = asyncio.Event()
            try:
                await self.server.start()
            except BaseException as exc:  # reported to the starting thread
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            await self._stopped.wait()
            await self.server.stop()

        loop.run_until_complete(main())
        loop.close()

    def stop(self, timeout_s: float = 30.0) -> None:
        if self._loop is not None and self._stopped is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
