"""The virtual DUT's IEEE 2030.5 client: a CsipClient on its own event loop thread.

It connects to the bench's server with the DUT's certificate, hands every
change of the active control to the site, posts the site's PCC power as
telemetry, and carries the fault profiles that concern 2030.5 behaviour
(never posting Responses, dropping the cached schedule on a lost server).
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Callable

from flexbench.signals.csip.client import CsipClient

log = logging.getLogger(__name__)
TELEMETRY_PERIOD_S = 10.0  # bench seconds between mirrored readings
RETRY_S = 2.0


class _SilentClient(CsipClient):
    """A client that never posts its Responses (fault profile no-responses)."""

    async def flush_responses(self) -> None:
        self.scheduler.take_responses()  # taken and dropped


class CsipLink:
    def __init__(self, csip: Any, device: str, clock: Any, on_change: Callable[[Any], None],
                 read_pcc_import_w: Callable[[], float], *, silent: bool = False,
                 comm_loss_timeout_s: float | None = None, poll_rate_s: float | None = None) -> None:
        self.csip = csip
        self.device = device
        self.clock = clock
        self.on_change = on_change
        self.read_pcc_import_w = read_pcc_import_w
        self.silent = silent
        self.comm_loss_timeout_s = comm_loss_timeout_s
        self.poll_rate_s = poll_rate_s  # None: the server's pollRate
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self.client: CsipClient | None = None

    def start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._stop = asyncio.Event()
            ready.set()
            try:
                loop.run_until_complete(self._main())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name=f"csip-{self.device}", daemon=True)
        self._thread.start()
        ready.wait(5)

    async def _sleep(self, bench_s: float) -> bool:
        """Sleep in bench time; True when asked to stop."""
        assert self._stop is not None
        try:
            await asyncio.wait_for(self._stop.wait(), bench_s / self.clock.time_scale)
            return True
        except asyncio.TimeoutError:
            return False

    async def _main(self) -> None:
        ident = self.csip.identity(self.device)
        cls = _SilentClient if self.silent else CsipClient
        self.client = client = cls(self.csip.url, self.csip.pki.ca_cert_path, ident.cert_path, ident.key_path,
                                   clock=self.clock, on_change=self.on_change, retry_interval_s=RETRY_S,
                                   comm_loss_timeout_s=self.comm_loss_timeout_s, poll_rate_s=self.poll_rate_s)
        while True:  # the server may still be starting, or be away: keep trying, as a device does
            try:
                await client.start()
                break
            except Exception as exc:
                log.info("2030.5 client of %s cannot start yet: %s", self.device, exc)
                if await self._sleep(RETRY_S):
                    return
        try:
            while not await self._sleep(TELEMETRY_PERIOD_S):
                try:
                    await client.post_readings({"site_active_power_w": self.read_pcc_import_w()})
                except Exception as exc:  # telemetry is best effort; control goes on
                    log.debug("telemetry of %s failed: %s", self.device, exc)
        finally:
            await client.stop()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
