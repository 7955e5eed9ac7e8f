"""The virtual DUT as an OPC-UA site: it watches its limits on the bench's envelope server.

A SiteClient (subscriptions on the server's site object) on a loop thread.
A change of the limits in force is applied as soon as its notification
arrives; a watch task on the same loop falls back to the firm limits when the
heartbeat stops changing and writes back the PCC measurement and the limits
applied. Heartbeat age is measured in bench time. Several links may share one
loop thread (the latency benchmark runs a hundred sites).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from flexbench.lab.clock import Clock
from flexbench.signals.opcua import ClientSecurity, LoopThread, SiteClient, SiteClientThread, model

log = logging.getLogger(__name__)
POLL_WALL_S = 0.05
REPORT_PERIOD_S = 2.0  # bench seconds between write-backs
_LIMIT_SIGNALS = {model.IMPORT_LIMIT, model.EXPORT_LIMIT, model.FIRM_IMPORT_LIMIT, model.FIRM_EXPORT_LIMIT}
Limits = tuple[float | None, float | None]


class OpcuaLink:
    def __init__(
        self,
        opcua: Any,
        site: str,
        clock: Clock,
        apply: Callable[[float | None, float | None], None],
        read_pcc_import_w: Callable[[], float],
        *,
        ignores_heartbeat: bool = False,
        thread: LoopThread | None = None,
    ) -> None:
        self.opcua = opcua
        self.site = site
        self.clock = clock
        self.apply = apply
        self.read_pcc_import_w = read_pcc_import_w
        self.ignores_heartbeat = ignores_heartbeat
        self._own_thread = thread is None
        self._thread = thread or LoopThread(f"opcua-{site}")
        self._watcher: asyncio.Task | None = None
        self._applied: Limits | None = None
        self.client: SiteClientThread | None = None

    def start(self) -> None:
        security = ClientSecurity.from_pki(self.opcua.pki_dir, self.site)
        self.client = SiteClientThread(
            SiteClient(self.opcua.endpoint, self.site, security, on_change=self._changed, monotonic=self.clock.elapsed),
            self._thread,
        )
        self._thread.start()
        self.client.connect()
        self._watcher = self._thread.call_sync(lambda: asyncio.ensure_future(self._watch()))

    def _changed(self, name: str, _value: Any) -> None:
        """A subscription notification (on the loop thread): new limits are in force at once."""
        if name in _LIMIT_SIGNALS:
            self._enforce()

    def _enforce(self) -> Limits:
        assert self.client is not None
        site = self.client.client
        signals = site.signals
        if site.communication_lost(self.opcua.config.comm_loss_s) and not self.ignores_heartbeat:
            limits = (signals.firm_import_limit_w, signals.firm_export_limit_w)
        else:
            limits = (signals.import_limit_w, signals.export_limit_w)
        if limits != self._applied:
            self.apply(*limits)
            self._applied = limits
        return limits

    async def _watch(self) -> None:
        assert self.client is not None
        next_report_s = 0.0
        while True:
            await asyncio.sleep(POLL_WALL_S)
            try:
                limits = self._enforce()
                now_s = self.clock.now()
                if now_s >= next_report_s:
                    next_report_s = now_s + REPORT_PERIOD_S
                    await self.client.client.report(self.read_pcc_import_w(), 0.0, limits[0], limits[1])
            except Exception as exc:  # a lost server must not stop the site: it keeps its last limits
                log.debug("OPC-UA site %s: %s", self.site, exc)

    def stop(self) -> None:
        try:
            if self._watcher is not None:
                self._thread.call_sync(self._watcher.cancel)
            if self.client is not None:
                self.client.close()
        except Exception as exc:
            log.debug("closing OPC-UA site %s: %s", self.site, exc)
        finally:
            if self._own_thread:
                self._thread.stop()
