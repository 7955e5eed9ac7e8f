"""The bench's IEEE 2030.5 server: the utility side that CSIP test plans drive.

Started with the bench when its file has a [signals.csip] table. State (the
SQLite file) and, on a virtual bench, a fresh test PKI live in the run folder,
so a report can always be traced to the exact controls that were sent. Each
DUT named under [signals.csip.devices] is registered before the run starts;
on a virtual bench it gets a certificate of its own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flexbench.lab.bench_config import BenchError, CsipConfig
from flexbench.lab.clock import Clock
from flexbench.lab.station import SAFE_LAST, Channels
from flexbench.signals.csip.headend import HeadEndConfig
from flexbench.signals.csip.runner import ServerThread
from flexbench.signals.csip.tls import CSIP_CIPHERS, INTEROP_CIPHERS
from flexbench.signals.pki import TestPKI

if TYPE_CHECKING:
    from flexbench.lab.bench import Bench

log = logging.getLogger(__name__)


def components(bench: Bench) -> list[BenchCsip]:
    """The bench's 2030.5 server when its file has [signals.csip] (a controller's identity and ciphers applied)."""
    config = bench.config
    if config.csip is None:
        return []
    if bench.work_dir is None:
        raise BenchError(f"{config.path}: [signals.csip] needs a run folder for its state")
    if config.controller is not None:
        from flexbench.lab.controller.bench import csip_config_for

        csip = csip_config_for(config)
        return [
            BenchCsip(csip, bench.work_dir, bench.clock, ciphers=config.controller.ciphers, on_event=bench.on_event)
        ]
    return [BenchCsip(config.csip, bench.work_dir, bench.clock, on_event=bench.on_event)]


class _ServerClock:
    """The server's clock: bench time, plus a skew the bench can inject (a utility whose clock is wrong)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.time_scale = clock.time_scale
        self.skew_s = 0.0

    def now(self) -> float:
        return self.clock.now() + self.skew_s


class BenchCsip:
    """The 2030.5 head-end as a component of the bench (lab.station)."""

    name = kind = "csip"
    safe_rank = SAFE_LAST

    def __init__(
        self,
        config: CsipConfig,
        work_dir: Path,
        clock: Clock,
        ciphers: str | None = None,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = config
        self.on_event = on_event or (lambda kind, data: None)
        self.clock = clock
        self.ciphers = ciphers  # an OpenSSL cipher list set for the DUT (a controller's [controller] ciphers)
        self.server_clock = _ServerClock(clock)
        self.db_path = Path(work_dir) / "csip.sqlite"
        self.pki = TestPKI(config.certs if config.certs is not None else Path(work_dir) / "pki")
        if not self.pki.exists():
            self.pki.init()
        self.lfdis: dict[str, str] = {}
        for name, device in config.devices.items():
            if device.lfdi is None:
                try:
                    ident = self.pki.device_identity(name)
                except FileNotFoundError:
                    ident = self.pki.device(name)
                self.lfdis[name] = ident.lfdi
            else:
                self.lfdis[name] = device.lfdi
        self._server: ServerThread | None = None
        self.port = 0
        self.url = ""
        self._requests: list[tuple[float, str, str, str]] = []
        self._requests_lock = threading.Lock()
        self._request_log = open(Path(work_dir) / "csip_requests.jsonl", "a", encoding="utf-8")

    def _make_server(self) -> ServerThread:
        ciphers = self.ciphers or (CSIP_CIPHERS if self.config.ciphers == "strict" else INTEROP_CIPHERS)
        server = ServerThread(
            self.db_path,
            self.pki.directory,
            port=self.port,
            ciphers=ciphers,
            clock=self.server_clock,
            config=HeadEndConfig(poll_rate_s=max(1, round(self.config.poll_rate_s))),
        )
        server.server.app.on_request = self._log_request
        return server

    def _log_request(self, lfdi: str, method: str, path: str) -> None:
        """Every request the server saw, in bench time: evidence of how a DUT polls."""
        t_s = self.clock.now()
        with self._requests_lock:
            self._requests.append((t_s, lfdi, method, path))
            if not self._request_log.closed:
                self._request_log.write(json.dumps({"t_s": t_s, "lfdi": lfdi, "method": method, "path": path}) + "\n")
                self._request_log.flush()

    def requests(self, lfdi: str, since_s: float = 0.0) -> list[tuple[float, str, str]]:
        """(t_s, method, path) of a device's requests since a bench time."""
        with self._requests_lock:
            return [(t, m, p) for t, who, m, p in self._requests if who == lfdi and t >= since_s]

    def start(self) -> None:
        self._server = self._make_server()
        self.url = self._server.start()
        self.port = self._server.server.port or self.port
        for name, device in self.config.devices.items():
            self.headend.register_device(
                self.lfdis[name], limit_mode=device.limit_mode, rated_w=device.rated_w, description=f"bench DUT {name}"
            )
        self.on_event("csip_server", {"url": self.url, "devices": self.lfdis})

    def safe_state(self) -> None:
        """A server sends nothing on its own: nothing to make safe."""

    def snapshot(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "poll_rate_s": self.config.poll_rate_s,
            "ciphers": self.ciphers or self.config.ciphers,
            "database": str(self.db_path),
            "pki": str(self.pki.directory),
            "devices": {
                name: {"lfdi": self.lfdis[name], "limit_mode": d.limit_mode, "rated_w": d.rated_w}
                for name, d in self.config.devices.items()
            },
        }

    def channels(self) -> list[Channels]:
        return []

    @property
    def headend(self) -> Any:
        if self._server is None:
            raise RuntimeError("the 2030.5 server is not running")
        return self._server.headend

    def identity(self, name: str) -> Any:
        """Certificate and key of a virtual DUT."""
        return self.pki.device_identity(name)

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """The server is unreachable inside the block, then back on the same port with the same state."""
        self.stop()
        try:
            yield
        finally:
            self._server = self._make_server()
            self._server.start()

    @contextlib.contextmanager
    def time_skew(self, skew_s: float) -> Iterator[None]:
        """The server's clock (its Time resource and everything it dates) is off by skew_s inside the block."""
        self.server_clock.skew_s = skew_s
        try:
            yield
        finally:
            self.server_clock.skew_s = 0.0

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def close(self) -> None:
        self.stop()
        with self._requests_lock:
            self._request_log.close()
