"""The virtual DUT's IEEE 2030.5 client: a CsipClient on its own event loop thread.

It connects to the bench's server with the DUT's certificate, hands every
change of the active control (and of the prices it reads) to the site, posts the site's PCC power as
telemetry, and carries the fault profiles that concern 2030.5 behaviour
(never posting Responses, dropping the cached schedule on a lost server).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flexbench.lab.clock import Clock
from flexbench.signals.csip.client import CsipClient
from flexbench.signals.csip.client_thread import ClientThread
from flexbench.signals.csip.price_schedule import PriceSchedule

TELEMETRY_PERIOD_S = 10.0  # bench seconds between mirrored readings
RETRY_S = 2.0


class _SilentClient(CsipClient):
    """A client that never posts its Responses (fault profile no-responses)."""

    async def flush_responses(self) -> None:
        self.scheduler.take_responses()  # taken and dropped


class CsipLink(ClientThread):
    telemetry_period_s = TELEMETRY_PERIOD_S
    retry_s = RETRY_S

    def __init__(
        self,
        csip: Any,
        device: str,
        clock: Clock,
        on_change: Callable[[Any], None],
        read_pcc_import_w: Callable[[], float],
        *,
        silent: bool = False,
        comm_loss_timeout_s: float | None = None,
        poll_rate_s: float | None = None,
        on_prices: Callable[[PriceSchedule], None] | None = None,
    ) -> None:
        super().__init__(clock, f"csip-{device}")
        self.csip = csip
        self.device = device
        self.on_change = on_change
        self.read_pcc_import_w = read_pcc_import_w
        self.silent = silent
        self.comm_loss_timeout_s = comm_loss_timeout_s
        self.poll_rate_s = poll_rate_s  # None: the server's pollRate
        self.on_prices = on_prices

    def make_client(self) -> CsipClient:
        ident = self.csip.identity(self.device)
        cls = _SilentClient if self.silent else CsipClient
        return cls(
            self.csip.url,
            self.csip.pki.ca_cert_path,
            ident.cert_path,
            ident.key_path,
            clock=self.clock,
            on_change=self.on_change,
            on_prices=self.on_prices,
            retry_interval_s=RETRY_S,
            comm_loss_timeout_s=self.comm_loss_timeout_s,
            poll_rate_s=self.poll_rate_s,
        )

    def readings(self) -> dict[str, float]:
        return {"site_active_power_w": self.read_pcc_import_w()}
