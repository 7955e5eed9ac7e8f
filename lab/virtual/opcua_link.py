"""The virtual DUT as an OPC-UA site: it watches its limits on the bench's envelope server.

A SiteClient (subscriptions on the server's site object) on its own loop
thread; a poller applies the limits in force, falls back to the firm limits
when the heartbeat stops changing, and writes back the PCC measurement and
the limits it applies. Heartbeat age is measured in bench time.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from flexbench.signals.opcua import ClientSecurity, SiteClient, SiteClientThread

log = logging.getLogger(__name__)
POLL_WALL_S = 0.05
REPORT_PERIOD_S = 2.0  # bench seconds between write-backs


class OpcuaLink:
    def __init__(self, opcua: Any, site: str, clock: Any, apply: Callable[[float | None, float | None], None],
                 read_pcc_import_w: Callable[[], float], *, ignores_heartbeat: bool = False) -> None:
        self.opcua = opcua
        self.site = site
        self.clock = clock
        self.apply = apply
        self.read_pcc_import_w = read_pcc_import_w
        self.ignores_heartbeat = ignores_heartbeat
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.client: SiteClientThread | None = None

    def start(self) -> None:
        security = ClientSecurity.from_pki(self.opcua.pki_dir, self.site)
        self.client = SiteClientThread(SiteClient(self.opcua.endpoint, self.site, security,
                                                  monotonic=self.clock.elapsed))
        self.client.connect()
        self._thread = threading.Thread(target=self._run, name=f"opcua-{self.site}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self.client is not None
        comm_loss_s = self.opcua.config.comm_loss_s
        next_report_s = 0.0
        while not self._stop.wait(POLL_WALL_S):
            try:
                signals = self.client.signals()
                lost = self.client.communication_lost(comm_loss_s)
                if lost and not self.ignores_heartbeat:
                    limits = (signals.firm_import_limit_w, signals.firm_export_limit_w)
                else:
                    limits = (signals.import_limit_w, signals.export_limit_w)
                self.apply(*limits)
                now_s = self.clock.now()
                if now_s >= next_report_s:
                    next_report_s = now_s + REPORT_PERIOD_S
                    self.client.report(self.read_pcc_import_w(), 0.0, limits[0], limits[1])
            except Exception as exc:  # a lost server must not stop the site: it keeps its last limits
                log.debug("OPC-UA site %s: %s", self.site, exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self.client is not None:
            try:
                self.client.close()
            except Exception as exc:
                log.debug("closing OPC-UA site %s: %s", self.site, exc)
