"""A 2030.5 client on its own event-loop thread, for devices whose control loop is synchronous.

A device keeps trying until the server answers (it may still be starting, or
be away), then mirrors its readings every telemetry period until stopped.
Subclasses say how to make their client and what to mirror; sleeps are in the
client clock's time (`time_scale` bench seconds per wall second).
"""

from __future__ import annotations

import asyncio
import logging
import threading

from flexbench.core import TimeSource
from flexbench.signals.csip.client import CsipClient

log = logging.getLogger(__name__)


class ClientThread:
    retry_s: float = 2.0
    telemetry_period_s: float = 10.0

    def __init__(self, clock: TimeSource, name: str) -> None:
        self.clock = clock
        self.name = name
        self.client: CsipClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    # -- what a device says ----------------------------------------------------------------
    def make_client(self) -> CsipClient:
        raise NotImplementedError

    async def on_started(self, client: CsipClient) -> None:
        """Once registered with the server (e.g. post DERCapability)."""

    def readings(self) -> dict[str, float] | None:
        """What to mirror now; None mirrors nothing."""
        return None

    def measured(self) -> tuple[dict[str, float] | None, float | None]:
        """What to mirror and when it was measured (client clock; None: now, the time of posting)."""
        return self.readings(), None

    # -- thread ----------------------------------------------------------------------------
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

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait(5)

    async def _sleep(self, clock_s: float) -> bool:
        """Sleep in the clock's time; True when asked to stop."""
        assert self._stop is not None
        try:
            await asyncio.wait_for(self._stop.wait(), clock_s / getattr(self.clock, "time_scale", 1.0))
            return True
        except TimeoutError:
            return False

    async def _main(self) -> None:
        self.client = client = self.make_client()
        while True:
            try:
                await client.start()
                break
            except Exception as exc:
                log.info("%s cannot start yet: %s", self.name, exc)
                if await self._sleep(self.retry_s):
                    return
        try:
            await self.on_started(client)
            while not await self._sleep(self.telemetry_period_s):
                readings, measured_s = self.measured()
                if readings is None:
                    continue
                stamp_s = None if measured_s is None else measured_s + client.time_offset_s
                try:
                    await client.post_readings(readings, stamp_s)
                except Exception as exc:  # telemetry is best effort; control goes on
                    log.debug("telemetry of %s failed: %s", self.name, exc)
        finally:
            await client.stop()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:  # the loop closed in between
                pass
        if self._thread is not None:
            self._thread.join(10)
