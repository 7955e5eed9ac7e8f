"""The controller's 2030.5 side: the envelope from the utility's server, telemetry back to it.

A CsipClient (signals.csip.client) on its own event-loop thread. Declared
behaviour:

- the schedule is run by the 2030.5 event rules; while the server is away the
  cached schedule keeps running, and when it has no event left the cached
  DefaultDERControl (else the site file's firm limits) applies;
- the Time resource is read at every poll; if it differs from the
  controller's own clock by more than MAX_TIME_SKEW_S the controller flags it
  (a line on stderr, `time_skewed`) and keeps to its own clock;
- the controller's meter reading and its inverters' total output are
  mirrored to the server (MirrorUsagePoint) every TELEMETRY_PERIOD_S, stamped
  with the time the meter was read.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from flexbench.signals.csip import models as m
from flexbench.signals.csip.client import CsipClient
from flexbench.signals.csip.client_thread import ClientThread
from flexbench.signals.csip.controls import ControlValues
from flexbench.signals.csip.events import ActiveControl

from .site_file import BenchTime, Utility

log = logging.getLogger(__name__)
MAX_TIME_SKEW_S = 60.0
RETRY_S = 2.0
TELEMETRY_PERIOD_S = 5.0


class _Client(CsipClient):
    """A client that checks the server's Time at every poll and distrusts a skewed one."""

    trusts_time = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.time_href = "/tm"
        self.time_skew_s = 0.0
        self.time_skewed = False

    async def sync_time(self, href: str = "/tm") -> None:
        self.time_href = href
        tm = await self.get(href, m.Time)
        skew_s = tm.currentTime + 0.5 - self._now()
        self.time_skew_s = skew_s
        skewed = abs(skew_s) > MAX_TIME_SKEW_S
        if skewed != self.time_skewed:
            self.time_skewed = skewed
            print(
                f"2030.5 Time {'skewed' if skewed else 'agrees again'}: server - own clock = {skew_s:+.0f} s"
                + ("; keeping to the own clock" if skewed and not self.trusts_time else ""),
                file=sys.stderr,
                flush=True,
            )
        self.time_offset_s = skew_s if (self.trusts_time or not skewed) else 0.0

    async def poll(self) -> None:
        if self.edev_href is not None:
            await self.sync_time(self.time_href)
        await super().poll()


class UtilityLink(ClientThread):
    """Envelope in, telemetry out; `values()` is what the utility asks for now."""

    retry_s = RETRY_S
    telemetry_period_s = TELEMETRY_PERIOD_S

    def __init__(
        self,
        utility: Utility,
        clock: BenchTime,
        *,
        trusts_time: bool = False,
        freezes_on_loss: bool = False,
        rated_w: float = 0.0,
    ) -> None:
        super().__init__(clock, "csip-client")
        self.utility = utility
        self.trusts_time = trusts_time
        self.freezes_on_loss = freezes_on_loss
        self.rated_w = rated_w
        self._active = ActiveControl(ControlValues(), "none")
        self._lock = threading.Lock()
        self._readings: dict[str, float] | None = None
        self._measured_s: float | None = None

    # -- what the controller asks --------------------------------------------------------
    def values(self) -> tuple[ControlValues, str]:
        with self._lock:
            return self._active.values, self._active.source

    def connected(self) -> bool:
        c = self.client
        return (
            c is not None
            and c.last_poll_ok_s is not None
            and c.server_now() - c.last_poll_ok_s <= 2 * (c.poll_rate_override_s or c.poll_rate_s)
        )

    def report(self, readings: dict[str, float] | None, measured_s: float | None = None) -> None:
        """The latest readings, mirrored at the next telemetry period (None: nothing to mirror), stamped
        with the time they were measured (None: stamped when posted)."""
        with self._lock:
            self._readings = dict(readings) if readings is not None else None
            self._measured_s = measured_s

    def _on_change(self, active: ActiveControl) -> None:
        if self.freezes_on_loss and self.client is not None and self.client.polls and not self.connected():
            return  # fault: the last limits stay, whatever the cached schedule says
        with self._lock:
            self._active = active

    # -- the client ----------------------------------------------------------------------
    def make_client(self) -> CsipClient:
        u = self.utility
        client = _Client(
            u.url,
            u.ca,
            u.cert,
            u.key,
            ciphers=u.ciphers or _default_ciphers(),
            clock=self.clock,
            on_change=self._on_change,
            retry_interval_s=RETRY_S,
            poll_rate_s=u.poll_rate_s,
        )
        client.trusts_time = self.trusts_time
        return client

    async def on_started(self, client: CsipClient) -> None:
        try:
            if self.rated_w > 0:
                await client.put_der_capability(self.rated_w)
        except Exception as exc:
            log.info("DERCapability not accepted: %s", exc)

    def measured(self) -> tuple[dict[str, float] | None, float | None]:
        with self._lock:
            return self._readings, self._measured_s


def _default_ciphers() -> str:
    from flexbench.signals.csip.tls import CSIP_CIPHERS

    return CSIP_CIPHERS
