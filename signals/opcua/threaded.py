"""Synchronous wrappers: the async server and clients on an event loop in a background thread.

Test plans, the lab's instruments and pytest fixtures are synchronous; they
drive the envelope server and the site client through these wrappers, whose
methods block until the coroutine has run on the loop thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import Any, Self, TypeVar

from flexbench.core import Envelope, Interval
from flexbench.signals.opcua.device_client import DeviceClient
from flexbench.signals.opcua.server import EnvelopeServer, EnvelopeServerConfig, ReportListener, SiteSnapshot
from flexbench.signals.opcua.site_client import SiteClient, SiteSignals

T = TypeVar("T")


class LoopThread:
    """An asyncio loop running in a daemon thread; `call` runs a coroutine there and returns its result."""

    def __init__(self, name: str = "opcua-loop") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            ready.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name=self._name, daemon=True)
        self._thread.start()
        ready.wait()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("the loop thread is not running")
        return self._loop

    def submit(self, coro: Awaitable[T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]

    def call(self, coro: Awaitable[T], timeout_s: float | None = 30.0) -> T:
        return self.submit(coro).result(timeout_s)

    def call_sync(self, fn: Callable[[], T], timeout_s: float | None = 30.0) -> T:
        """Run a plain function on the loop thread (for state that lives there)."""

        async def wrapper() -> T:
            return fn()

        return self.call(wrapper(), timeout_s)

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None
        self._loop = None


class EnvelopeServerThread:
    """The envelope server for synchronous code: `with EnvelopeServerThread(config) as server:`."""

    def __init__(self, config: EnvelopeServerConfig, start_timeout_s: float = 120.0) -> None:
        self.server = EnvelopeServer(config)
        self._thread = LoopThread("opcua-envelope-server")
        self._start_timeout_s = start_timeout_s

    def __enter__(self) -> EnvelopeServerThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread.start()
        try:
            self._thread.call(self.server.start(), self._start_timeout_s)
        except BaseException:
            self._thread.stop()
            raise

    def stop(self) -> None:
        try:
            self._thread.call(self.server.stop())
        finally:
            self._thread.stop()

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    @property
    def namespace_index(self) -> int:
        return self.server.namespace_index

    def node_id(self, site: str, variable: str) -> Any:
        return self.server.node_id(site, variable)

    def publish_envelope(self, site: str, envelope: Envelope | Sequence[Interval]) -> int:
        return self._thread.call(self.server.publish_envelope(site, envelope))

    def signal_abnormal(
        self, max_import_w: float, duration_s: float | None = None, sites: Iterable[str] | None = None
    ) -> None:
        self._thread.call(self.server.signal_abnormal(max_import_w, duration_s, sites))

    def clear_abnormal(self, sites: Iterable[str] | None = None) -> None:
        self._thread.call(self.server.clear_abnormal(sites))

    def set_limits(self, site: str, import_limit_w: float | None = None, export_limit_w: float | None = None) -> None:
        self._thread.call(self.server.set_limits(site, import_limit_w, export_limit_w))

    def set_firm_limits(
        self, site: str, import_limit_w: float | None = None, export_limit_w: float | None = None
    ) -> None:
        self._thread.call(self.server.set_firm_limits(site, import_limit_w, export_limit_w))

    def pause_heartbeat(self, sites: Iterable[str] | None = None) -> None:
        self._thread.call_sync(lambda: self.server.pause_heartbeat(sites))

    def resume_heartbeat(self, sites: Iterable[str] | None = None) -> None:
        self._thread.call_sync(lambda: self.server.resume_heartbeat(sites))

    def read(self, site: str) -> SiteSnapshot:
        return self._thread.call_sync(lambda: self.server.read(site))

    def add_report_listener(self, listener: ReportListener) -> None:
        """The listener runs on the server's loop thread: keep it short, hand work to a queue."""
        self._thread.call_sync(lambda: self.server.add_report_listener(listener))

    def remove_report_listener(self, listener: ReportListener) -> None:
        self._thread.call_sync(lambda: self.server.remove_report_listener(listener))


class _ClientOnLoop:
    """An async client driven from synchronous code on a loop thread (its own unless one is given)."""

    def __init__(self, client: Any, thread: LoopThread | None, thread_name: str) -> None:
        self.client = client
        self._own_thread = thread is None
        self._thread = thread or LoopThread(thread_name)

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        self._thread.start()
        try:
            self._thread.call(self.client.connect())
        except BaseException:
            if self._own_thread:
                self._thread.stop()
            raise

    def close(self) -> None:
        try:
            self._thread.call(self.client.disconnect())
        finally:
            if self._own_thread:
                self._thread.stop()


class SiteClientThread(_ClientOnLoop):
    """A SiteClient for synchronous code (the virtual DUT's loop, test plans)."""

    def __init__(self, client: SiteClient, thread: LoopThread | None = None) -> None:
        super().__init__(client, thread, f"opcua-site-{client.site}")

    def signals(self) -> SiteSignals:
        """A copy of the latest signals, taken on the loop thread."""
        return self._thread.call_sync(self.client.snapshot)

    def heartbeat_age_s(self) -> float:
        return self._thread.call_sync(self.client.heartbeat_age_s)

    def communication_lost(self, timeout_s: float | None = None) -> bool:
        return self._thread.call_sync(lambda: self.client.communication_lost(timeout_s))

    def wait_for(self, predicate: Callable[[SiteSignals], bool], timeout_s: float) -> SiteSignals:
        return self._thread.call(self.client.wait_for(predicate, timeout_s), timeout_s + 5.0)

    def read_envelope(self) -> Envelope:
        return self._thread.call(self.client.read_envelope())

    def report(
        self,
        measured_p_w: float,
        measured_q_var: float,
        applied_import_limit_w: float | None = None,
        applied_export_limit_w: float | None = None,
        measurement_time: Any = None,
    ) -> None:
        self._thread.call(
            self.client.report(
                measured_p_w, measured_q_var, applied_import_limit_w, applied_export_limit_w, measurement_time
            )
        )


class DeviceClientThread(_ClientOnLoop):
    """A DeviceClient for synchronous code (the bench's DUT driver)."""

    def __init__(self, client: DeviceClient, thread: LoopThread | None = None) -> None:
        super().__init__(client, thread, "opcua-device-client")

    def write(self, **si_values: float) -> None:
        self._thread.call(self.client.write(**si_values))

    def write_limits(self, import_limit_w: float | None = None, export_limit_w: float | None = None) -> None:
        self._thread.call(self.client.write_limits(import_limit_w, export_limit_w))

    def read_measurements(self) -> dict[str, float]:
        return self._thread.call(self.client.read_measurements())

    def latest(self) -> dict[str, Any]:
        return self._thread.call_sync(lambda: dict(self.client.latest))
