"""A swarm of simulated CSIP sites against any IEEE 2030.5 server: how many sites can it serve?

Each site is a `CsipClient` (the same client the virtual DUT runs) with its own
certificate and TLS connection: it discovers its EndDevice, polls its programs
at the server's pollRate (or a configured rate), runs the events, posts
Responses at their transitions and mirrors a meter reading after every poll.
Many sites share one asyncio loop; `processes` loops share the sites when one
core is not enough.

Timeline: sites start at a random phase within the ramp (TLS handshakes and
discovery happen there, bounded per process), then the measured window of
`duration_s` follows. Requests are timed from the site's side; requests/s and
latency percentiles count the measured window only, errors count the whole run.
A site is *stale* at the end when its last complete poll is older than its
poll period plus a grace: its envelope may miss a change published since.
The report's `latency_timeline` (10 s buckets) shows when requests queued;
the client `loop_lag_ms` beside it tells the server's queue from the swarm's own.

    report = run_swarm(SwarmConfig(url, ca_cert, duration_s=60), sites)
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import random
import re
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from flexbench.signals.csip.client import CsipClient, CsipClientError
from flexbench.signals.csip.runner import raise_open_file_limit
from flexbench.signals.csip.swarm_sites import SiteSpec
from flexbench.signals.csip.tls import CSIP_CIPHERS

LOOP_LAG_PERIOD_S = 0.1
TIMELINE_STEP_S = 10.0
HTTP_STATUS = re.compile(r"HTTP (\d{3})")
STARTUP_S = 3.0  # warm-up: each process holds a third of this, so every process gets one call


@dataclass(frozen=True)
class SwarmConfig:
    """How the swarm behaves; every number is a parameter."""

    server_url: str
    ca_cert: str
    duration_s: float = 60.0
    poll_rate_s: float | None = None  # None: the server's pollRate
    ramp_s: float | None = None  # None: min(60 s, poll period) (server's rate assumed 60 s)
    processes: int = 1
    telemetry: bool = True
    handshake_concurrency: int = 32  # per process: TLS handshakes + discovery at once
    ciphers: str = CSIP_CIPHERS
    register_in_band: bool = False
    check_hostname: bool = True
    stale_grace_s: float | None = None  # None: max(5 s, 10 % of the poll period)
    retry_interval_s: float = 10.0
    request_timeout_s: float = 20.0
    seed: int = 0
    progress: bool = False

    def ramp(self) -> float:
        if self.ramp_s is not None:
            return max(0.0, self.ramp_s)
        return min(60.0, self.poll_rate_s or 60.0)


# -- one process -----------------------------------------------------------------------------
class _Stats:
    """Counters of one process; merged by the parent."""

    def __init__(self, steady_from: float) -> None:
        self.steady_from = steady_from
        self.latency_ms: list[float] = []
        self.ramp_latency_ms: list[float] = []
        self.discovery_ms: list[float] = []
        self.methods: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.loop_lag_ms: list[float] = []
        self.polls_ok = 0
        self.polls_failed = 0
        self.responses = 0
        self.readings = 0
        self.stale = 0
        self.discovered = 0
        self.periods: list[float] = []
        self.timeline: list[tuple[float, float]] = []  # (start, latency ms) of every request

    def request(self, method: str, started_wall: float, elapsed_s: float) -> None:
        (self.latency_ms if started_wall >= self.steady_from else self.ramp_latency_ms).append(elapsed_s * 1e3)
        self.methods[method] += 1
        self.timeline.append((started_wall, elapsed_s * 1e3))

    def error(self, method: str, exc: BaseException) -> None:
        status = HTTP_STATUS.search(str(exc)) if isinstance(exc, CsipClientError) else None
        self.errors[f"{method} {'HTTP ' + status.group(1) if status else type(exc).__name__}"] += 1


class SwarmSite(CsipClient):
    """A CsipClient that times every request it makes and counts every failure."""

    def __init__(self, *args: Any, stats: _Stats, request_timeout_s: float = 20.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stats = stats
        self.request_timeout_s = request_timeout_s

    async def get(self, href: str, model: type, **query: int) -> Any:
        wall, t0 = time.time(), time.perf_counter()
        try:
            result = await super().get(href, model, **query)
        except Exception as exc:
            self.stats.error("GET", exc)
            raise
        self.stats.request("GET", wall, time.perf_counter() - t0)
        return result

    async def send(self, method: str, href: str, resource: Any) -> aiohttp.ClientResponse:
        wall, t0 = time.time(), time.perf_counter()
        try:
            resp = await super().send(method, href, resource)
        except Exception as exc:
            self.stats.error(method, exc)
            raise
        self.stats.request(method, wall, time.perf_counter() - t0)
        return resp

    async def _create_mup(self, names: list[str], point: str = "site") -> None:
        wall, t0 = time.time(), time.perf_counter()
        try:
            await super()._create_mup(names, point)
        except Exception as exc:
            self.stats.error("POST", exc)
            raise
        self.stats.request("POST", wall, time.perf_counter() - t0)

    async def _session(self) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            # one kept-alive connection per site, as a device has
            connector = aiohttp.TCPConnector(ssl=self.ssl, limit=1, keepalive_timeout=3600)
            self.session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=self.request_timeout_s)
            )
        return self.session


NETWORK_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError, CsipClientError)


async def _sleep_until(wall_s: float) -> None:
    delay = wall_s - time.time()
    if delay > 0:
        await asyncio.sleep(delay)


async def _run_site(
    config: SwarmConfig,
    spec: SiteSpec,
    stats: _Stats,
    start_at: float,
    stop_at: float,
    handshakes: asyncio.Semaphore,
    rng: random.Random,
) -> None:
    await _sleep_until(start_at)
    client = SwarmSite(
        config.server_url,
        config.ca_cert,
        spec.cert_path,
        spec.key_path,
        ciphers=config.ciphers,
        poll_rate_s=config.poll_rate_s,
        register_in_band=config.register_in_band,
        retry_interval_s=config.retry_interval_s,
        check_hostname=config.check_hostname,
        rng=rng,
        stats=stats,
        request_timeout_s=config.request_timeout_s,
    )
    last_ok: float | None = None
    period = config.poll_rate_s or 0.0
    try:
        while time.time() < stop_at:
            async with handshakes:
                t0 = time.perf_counter()
                try:
                    await client.discover()
                    stats.discovery_ms.append((time.perf_counter() - t0) * 1e3)
                    stats.discovered += 1
                    break
                except NETWORK_ERRORS:
                    pass
            await asyncio.sleep(config.retry_interval_s)
        next_poll = time.time()
        while time.time() < stop_at and client.edev_href is not None:
            if time.time() >= next_poll:
                started = time.time()
                period = config.poll_rate_s or client.poll_rate_s
                next_poll = started + period
                try:
                    await client.poll()
                    last_ok = time.time()
                    stats.polls_ok += 1
                    if config.telemetry:
                        power_w = 2000.0 + 1000.0 * rng.random()
                        await client.post_readings({"site_active_power_w": power_w, "voltage_v": 240.0})
                        stats.readings += 1
                except NETWORK_ERRORS:
                    stats.polls_failed += 1
                    next_poll = min(next_poll, started + config.retry_interval_s)
            client.evaluate()
            before = len(client.responses_sent)
            await client.flush_responses()
            stats.responses += len(client.responses_sent) - before
            wake = next_poll
            transition = client.scheduler.next_transition_s(client.server_now())
            if transition is not None:
                wake = min(wake, transition - client.time_offset_s)
            await _sleep_until(min(max(wake, time.time() + 0.01), stop_at))
    except asyncio.CancelledError:
        pass
    finally:
        grace = config.stale_grace_s if config.stale_grace_s is not None else max(5.0, 0.1 * (period or 60.0))
        if last_ok is None or stop_at - last_ok > (period or 0.0) + grace:
            stats.stale += 1
        if period:
            stats.periods.append(period)
        if client.session is not None:
            await client.session.close()


async def _loop_lag(stats: _Stats, stop_at: float) -> None:
    while time.time() < stop_at:
        t0 = time.perf_counter()
        await asyncio.sleep(LOOP_LAG_PERIOD_S)
        stats.loop_lag_ms.append(max(0.0, (time.perf_counter() - t0 - LOOP_LAG_PERIOD_S) * 1e3))


async def _report_progress(stats: _Stats, index: int, sites: int, t0: float, stop_at: float) -> None:
    while time.time() < stop_at:
        await asyncio.sleep(10.0)
        print(
            f"swarm[{index}] {time.time() - t0:5.0f} s: {stats.discovered}/{sites} sites up, "
            f"{stats.polls_ok} polls, {sum(stats.errors.values())} errors",
            file=sys.stderr,
            flush=True,
        )


async def _run_process(config: SwarmConfig, sites: list[SiteSpec], t0: float, index: int) -> dict[str, Any]:
    ramp_s = config.ramp()
    stop_at = t0 + ramp_s + config.duration_s
    stats = _Stats(steady_from=t0 + ramp_s)
    rng = random.Random(config.seed * 1000 + index)
    handshakes = asyncio.Semaphore(config.handshake_concurrency)
    cpu0 = time.process_time()
    helpers = [asyncio.create_task(_loop_lag(stats, stop_at))]
    if config.progress:
        helpers.append(asyncio.create_task(_report_progress(stats, index, len(sites), t0, stop_at)))
    tasks = [
        asyncio.create_task(
            _run_site(
                config, spec, stats, t0 + rng.uniform(0, ramp_s), stop_at, handshakes, random.Random(rng.random())
            )
        )
        for spec in sites
    ]
    # sites finish their last request after stop_at; give them one request timeout
    _, pending = await asyncio.wait(tasks, timeout=max(1.0, stop_at - time.time()) + config.request_timeout_s + 5)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in helpers:
        task.cancel()
    await asyncio.gather(*helpers, return_exceptions=True)
    out = {k: v for k, v in stats.__dict__.items() if k != "steady_from"}
    out["t0"] = t0
    out["cpu_s"] = time.process_time() - cpu0
    out["unfinished"] = len(pending)
    return out


def _warm(hold_s: float) -> int:
    time.sleep(hold_s)  # held, so that each warm-up call lands in its own process
    return os.getpid()


def _process_main(config: SwarmConfig, sites: list[SiteSpec], t0: float, index: int) -> dict[str, Any]:
    raise_open_file_limit()
    return asyncio.run(_run_process(config, sites, t0, index))


# -- the whole swarm ---------------------------------------------------------------------------
def run_swarm(config: SwarmConfig, sites: list[SiteSpec]) -> dict[str, Any]:
    """Run the swarm to the end and return its report (a JSON-ready dict)."""
    if not sites:
        raise ValueError("a swarm needs at least one site")
    if config.duration_s <= 0:
        raise ValueError(f"duration must be positive, got {config.duration_s}")
    processes = max(1, min(config.processes, len(sites)))
    raise_open_file_limit()
    wall0 = time.time()
    if processes == 1:
        parts = [asyncio.run(_run_process(config, sites, time.time(), 0))]
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=processes, mp_context=ctx) as pool:
            # every process started and imported before the common start time
            for f in [pool.submit(_warm, STARTUP_S / 3) for _ in range(processes)]:
                f.result()
            t0 = time.time() + 1.0
            futures = [pool.submit(_process_main, config, sites[i::processes], t0, i) for i in range(processes)]
            parts = [f.result() for f in futures]
    return summarize(config, len(sites), processes, parts, time.time() - wall0)


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(math.ceil(q * len(ordered))) - 1)], 2)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": round(ordered[-1], 2)}


def summarize(
    config: SwarmConfig, clients: int, processes: int, parts: list[dict[str, Any]], wall_s: float
) -> dict[str, Any]:
    """Merge the processes' counters into the report."""
    merged: dict[str, Any] = {}
    for key in ("latency_ms", "ramp_latency_ms", "discovery_ms", "periods"):
        merged[key] = [v for p in parts for v in p[key]]
    methods: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for p in parts:
        methods.update(p["methods"])
        errors.update(p["errors"])
    total = lambda key: sum(p[key] for p in parts)  # noqa: E731
    periods = sorted(merged["periods"])
    t0 = min(p["t0"] for p in parts)
    buckets: dict[int, list[float]] = {}
    for p in parts:
        for started, ms in p["timeline"]:
            buckets.setdefault(int((started - t0) // TIMELINE_STEP_S), []).append(ms)
    timeline = [
        {"t_s": k * TIMELINE_STEP_S, "requests": len(v), **{q: _percentiles(v)[q] for q in ("p50", "p99")}}
        for k, v in sorted(buckets.items())
    ]
    stale = total("stale")
    steady = len(merged["latency_ms"])
    return {
        "benchmark": "csip_swarm",
        "server": config.server_url,
        "clients": clients,
        "processes": processes,
        "ramp_s": config.ramp(),
        "duration_s": config.duration_s,
        "poll_rate_s": periods[len(periods) // 2] if periods else config.poll_rate_s,
        "poll_rate_source": "configured" if config.poll_rate_s else "server",
        "telemetry": config.telemetry,
        "sites_discovered": total("discovered"),
        "polls_ok": total("polls_ok"),
        "polls_failed": total("polls_failed"),
        "requests": steady + len(merged["ramp_latency_ms"]) + sum(errors.values()),
        "requests_measured": steady,
        "requests_per_s": round(steady / config.duration_s, 1),
        "requests_by_method": dict(methods),
        "latency_ms": _percentiles(merged["latency_ms"]),
        "ramp_latency_ms": _percentiles(merged["ramp_latency_ms"]),
        "discovery_ms": _percentiles(merged["discovery_ms"]),
        "responses_posted": total("responses"),
        "readings_posted": total("readings"),
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "stale_sites": stale,
        "stale_fraction": round(stale / clients, 4),
        "unfinished_sites": total("unfinished"),
        "latency_timeline": timeline,
        "loop_lag_ms": _percentiles([v for p in parts for v in p["loop_lag_ms"]]),
        "client_cpu_s": round(total("cpu_s"), 1),
        "wall_s": round(wall_s, 1),
        "cores": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": sys.version.split()[0],
        "config": {k: v for k, v in asdict(config).items() if k not in ("server_url", "ca_cert")},
    }


def held(report: dict[str, Any]) -> bool:
    """True when every site came up, nothing failed and no site was stale at the end."""
    return (
        report["errors"] == 0
        and report["stale_sites"] == 0
        and report["sites_discovered"] == report["clients"]
        and report["unfinished_sites"] == 0
    )


__all__ = ["SwarmConfig", "SwarmSite", "held", "raise_open_file_limit", "run_swarm", "summarize"]
