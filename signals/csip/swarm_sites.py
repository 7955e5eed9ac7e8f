"""Sites for a client swarm: device certificates, registration and a first envelope.

A swarm of N simulated sites needs N device certificates from the test PKI and
N EndDevices on the server. Certificates already in the PKI folder are reused
(so a second run starts at once); registration goes over the operator API
(`/admin/call/...`, the operator certificate of the same PKI), many calls at
once on kept-alive connections, because one HTTPS connection per call makes
setting up 10,000 sites slower than the run itself.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from flexbench.core import SiteLimits
from flexbench.signals.csip.tls import INTEROP_CIPHERS, client_context
from flexbench.signals.pki.authority import TestPKI

PathLike = str | os.PathLike[str]
Progress = Callable[[str, int, int], None]
REGISTER_MODES = ("operator", "in-band", "none")


@dataclass(frozen=True)
class SiteSpec:
    """One simulated site: its certificate and key on disk and its LFDI."""

    name: str
    cert_path: str
    key_path: str
    lfdi: str


@dataclass(frozen=True)
class EnvelopePlan:
    """The envelope published to every site before a run, so sites post Responses while it runs.

    `interval_s` long intervals from `start_s`: `limits` first, each next interval
    100 W lower on both sides. DefaultDERControl carries the firm limits. `randomize_s` sets randomizeStart and
    randomizeDuration of every control: the sites' Responses at an interval
    boundary then spread over that many seconds instead of arriving at once.
    """

    start_s: int
    intervals: int = 4
    interval_s: int = 300
    limits: SiteLimits = SiteLimits(import_limit_w=7000.0, export_limit_w=5000.0)
    firm: SiteLimits = SiteLimits(import_limit_w=5000.0, export_limit_w=3000.0)
    randomize_s: int = 0

    def rows(self) -> list[dict[str, Any]]:
        """The intervals as the operator API's JSON rows."""
        out = []
        for k in range(self.intervals):
            row: dict[str, Any] = {"start": self.start_s + k * self.interval_s, "duration_s": self.interval_s}
            for side, limit_w in self.limits.as_dict().items():
                row[side] = max(limit_w - 100.0 * k, 0.0)
            out.append(row)
        return out


def site_certificates(
    certs_dir: PathLike, count: int, prefix: str = "swarm", progress: Progress | None = None
) -> list[SiteSpec]:
    """`count` device certificates named PREFIX-000000...; existing ones are reused."""
    pki = TestPKI(certs_dir)
    if not pki.exists():
        raise FileNotFoundError(f"no test PKI in {certs_dir}: run `flexbench certs init {certs_dir}`")
    width = max(6, len(str(count - 1)))
    sites = []
    for i in range(count):
        identity = pki.device(f"{prefix}-{i:0{width}d}")
        sites.append(SiteSpec(identity.name, str(identity.cert_path), str(identity.key_path), identity.lfdi))
        if progress and (i + 1) % 500 == 0:
            progress("certificates", i + 1, count)
    if progress:
        progress("certificates", count, count)
    return sites


class OperatorPool:
    """Operator API calls over a few kept-alive mutual-TLS connections (async)."""

    def __init__(self, server_url: str, certs_dir: PathLike, connections: int = 8, timeout_s: float = 60.0) -> None:
        pki = TestPKI(certs_dir)
        operator = pki.operator
        if not Path(operator.cert_path).is_file():
            raise FileNotFoundError(f"no operator certificate in {certs_dir}")
        self.base_url = server_url.rstrip("/")
        self.ssl = client_context(pki.ca_cert_path, operator.cert_path, operator.key_path, ciphers=INTEROP_CIPHERS)
        self.connections = connections
        self.timeout_s = timeout_s
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> OperatorPool:
        connector = aiohttp.TCPConnector(ssl=self.ssl, limit=self.connections)
        self.session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout_s))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    async def call(self, method: str, **kwargs: Any) -> Any:
        assert self.session is not None, "use `async with OperatorPool(...)`"
        async with self.session.post(f"{self.base_url}/admin/call/{method}", json=kwargs) as resp:
            try:
                payload = await resp.json(content_type=None)
            except ValueError:
                payload = {"error": (await resp.text())[:200]}
            if resp.status != 200:
                raise RuntimeError(f"operator call {method}: HTTP {resp.status}: {payload.get('error')}")
            return payload["result"]


async def register_sites(
    server_url: str,
    certs_dir: PathLike,
    sites: list[SiteSpec],
    envelope: EnvelopePlan | None = None,
    connections: int = 8,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Register every site (idempotent) and publish its envelope and firm limits; returns counts and time."""
    t0 = time.perf_counter()
    done = 0
    queue: asyncio.Queue[SiteSpec] = asyncio.Queue()
    for site in sites:
        queue.put_nowait(site)
    async with OperatorPool(server_url, certs_dir, connections) as pool:
        known = {d["lfdi"] for d in await pool.call("devices")}

        async def worker() -> None:
            nonlocal done
            while not queue.empty():
                site = queue.get_nowait()
                if site.lfdi not in known:
                    await pool.call("register_device", lfdi=site.lfdi, description=site.name)
                if envelope is not None:
                    await pool.call(
                        "set_default_control",
                        lfdi=site.lfdi,
                        import_limit_w=envelope.firm.import_limit_w,
                        export_limit_w=envelope.firm.export_limit_w,
                    )
                    randomize = envelope.randomize_s or None
                    await pool.call(
                        "publish_envelope",
                        lfdi=site.lfdi,
                        intervals=envelope.rows(),
                        randomize_start_s=randomize,
                        randomize_duration_s=randomize,
                    )
                done += 1
                if progress and done % 500 == 0:
                    progress("registration", done, len(sites))

        await asyncio.gather(*(worker() for _ in range(connections)))
    if progress:
        progress("registration", len(sites), len(sites))
    return {
        "sites": len(sites),
        "newly_registered": len([s for s in sites if s.lfdi not in known]),
        "envelopes_published": len(sites) if envelope is not None else 0,
        "seconds": round(time.perf_counter() - t0, 1),
    }
