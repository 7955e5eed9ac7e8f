"""2030.5 head-end under load: N simulated sites polling over mutual TLS with keep-alive.

Each site has its own device certificate and EndDevice with a published
envelope; it polls its DERProgramList, DERControlList and DefaultDERControl
every --interval-s seconds (random phase) for --duration-s seconds over one
kept-alive TLS 1.2 / ECDHE-ECDSA-AES128-CCM8 connection. The server runs in
its own process (`flexbench csip serve`), on loopback. The measured window
opens once every site has connected and read its resources once, so neither
TLS handshakes nor the server's first rendering of each site's resources
(its cache is cold then) fall inside it. The
load generator's event-loop lag is reported beside the latency: latency that
matches it queued in the generator, not in the server. Prints and writes JSON:
requests/s, latency percentiles, errors. `flexbench swarm` runs full CSIP
clients (discovery, every program, Responses, telemetry) instead of three GETs.

    python benchmarks/csip_load.py                 # 1,000 sites (CI-sized)
    python benchmarks/csip_load.py --clients 10000 # the design target

With --walk, the server's capacity instead: 200 keep-alive connections (one site each, each presenting
its own device certificate), each walking /dcap, the EndDeviceList, FunctionSetAssignmentsList,
DERProgramList and DERControlList back to back as fast as the server answers, against
`csip serve --workers N` for each N given, the runs interleaved (1, 2, 1, 2 ...) and each N's median
reported, with the ratio of the last N's requests/s to the first's. The load client shares the machine's
cores with the server, so its own CPU per request must be a small part of the server's: by default it is
benchmarks/walkload.c (epoll and OpenSSL, a fifth or less of the server's CPU per request), compiled
for each run with gcc into the run's temporary folder, so gcc and OpenSSL's headers (Debian: libssl-dev)
are needed. No common HTTP load tool (wrk, h2load, oha) presents a different client certificate on each
connection. `--load-client python` uses an asyncio protocol in --load-processes processes instead: its
CPU per request is a third of the server's or more, so it holds the two-worker figure down. The JSON names the
client and its CPU seconds per second.

    python benchmarks/csip_load.py --walk --workers 1 2 --repeat 3
    python benchmarks/csip_load.py --walk --workers 1 2 --repeat 1 --load-client python
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import resource
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

from flexbench.core import Envelope
from flexbench.signals.csip import HeadEnd
from flexbench.signals.csip.tls import CSIP_CIPHERS, client_context
from flexbench.signals.pki import TestPKI

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "csip_load.json"
WALKLOAD_SOURCE = Path(__file__).resolve().parent / "walkload.c"


def raise_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def prepare(workdir: Path, clients: int) -> tuple[TestPKI, list[tuple[str, int, int]]]:
    """PKI, device certificates, registrations and one envelope per site, written before the server starts."""
    pki = TestPKI(workdir / "certs")
    pki.init()
    headend = HeadEnd(workdir / "state.db")
    sites = []
    now = int(time.time())
    envelope = [(now + i * 900, 900, 5000 + 100 * i, 3000 - 100 * i) for i in range(-1, 7)]
    for i in range(clients):
        identity = pki.device(f"site{i:05d}")
        device = headend.register_device(identity.lfdi)
        headend.set_default_control(identity.lfdi, 9000, 5000)
        headend.publish_envelope(identity.lfdi, Envelope.of(envelope))
        program = headend.book.program_by_name(device.id, "envelope")
        sites.append((identity.name, device.id, program.id))
    headend.close()
    return pki, sites


def start_server(workdir: Path, workers: int = 1) -> tuple[subprocess.Popen[str], str]:
    cmd = [
        sys.executable,
        "-m",
        "flexbench.lab.cli",
        "csip",
        "serve",
        "--db",
        str(workdir / "state.db"),
        "--certs",
        str(workdir / "certs"),
        "--port",
        "0",
        "--poll-rate-s",
        "60",
        "--workers",
        str(workers),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=raise_file_limit)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("serving "):
        proc.kill()
        raise RuntimeError(f"server did not start: {line} {proc.stderr.read() if proc.stderr else ''}")
    return proc, line.split()[1]


class Stats:
    def __init__(self) -> None:
        self.latencies_s: list[float] = []
        self.errors: Counter[str] = Counter()
        self.connect_s: list[float] = []
        self.loop_lag_s: list[float] = []


class Window:
    """The measured window opens once every site has connected (or failed to): no handshake falls inside it."""

    def __init__(self, sites: int, duration_s: float) -> None:
        self.pending = sites
        self.duration_s = duration_s
        self.ready = asyncio.Event()
        self.start_at = self.stop_at = 0.0

    def connected(self) -> None:
        self.pending -= 1
        if self.pending == 0:
            self.start_at = time.time() + 1.0
            self.stop_at = self.start_at + self.duration_s
            self.ready.set()


async def loop_lag(stats: Stats, window: Window, period_s: float = 0.1) -> None:
    """How late this event loop wakes: latency measured here includes it (the load generator's own queue)."""
    await window.ready.wait()
    while time.time() < window.stop_at:
        t0 = time.perf_counter()
        await asyncio.sleep(period_s)
        stats.loop_lag_s.append(max(0.0, time.perf_counter() - t0 - period_s))


async def site(
    url: str,
    pki: TestPKI,
    name: str,
    edev: int,
    program: int,
    stats: Stats,
    window: Window,
    interval_s: float,
    handshakes: asyncio.Semaphore,
) -> None:
    identity = pki.device_identity(name)
    ctx = client_context(pki.ca_cert_path, identity.cert_path, identity.key_path)
    paths = [
        f"/edev/{edev}/fsa/1/derp?l=10",
        f"/edev/{edev}/derp/{program}/derc?l=20",
        f"/edev/{edev}/derp/{program}/dderc",
    ]
    connector = aiohttp.TCPConnector(ssl=ctx, limit=1, keepalive_timeout=3600, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async with handshakes:  # bounded concurrent TLS handshakes while the sites come up
            t0 = time.perf_counter()
            try:
                async with session.get(url + "/dcap") as resp:
                    await resp.read()
                stats.connect_s.append(time.perf_counter() - t0)
                # a device reads its resources once on start-up: the server renders each site's
                # resources on first request (about a millisecond each), then serves them cached
                for path in paths:
                    async with session.get(url + path) as resp:
                        await resp.read()
            except Exception as exc:
                stats.errors[f"connect:{type(exc).__name__}"] += 1
                window.connected()
                return
            window.connected()
        await window.ready.wait()
        await asyncio.sleep(max(0.0, window.start_at - time.time()) + random.uniform(0, interval_s))
        while time.time() < window.stop_at:
            cycle_start = time.time()
            for path in paths:
                t0 = time.perf_counter()
                try:
                    async with session.get(url + path) as resp:
                        await resp.read()
                        if resp.status != 200:
                            stats.errors[f"http:{resp.status}"] += 1
                            continue
                    stats.latencies_s.append(time.perf_counter() - t0)
                except Exception as exc:
                    stats.errors[type(exc).__name__] += 1
            await asyncio.sleep(max(0.0, interval_s - (time.time() - cycle_start)))


def cpu_s(pid: int) -> float:
    """User+system CPU seconds of a process (Linux /proc), to tell server load from load-generator load."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def run_load(
    url: str,
    pki: TestPKI,
    sites: list[tuple[str, int, int]],
    duration_s: float,
    interval_s: float,
    ramp_concurrency: int,
) -> dict[str, object]:
    stats = Stats()
    handshakes = asyncio.Semaphore(ramp_concurrency)
    ramp_start = time.time()
    # Sites connect first; the measured window opens once every one of them has connected.
    window = Window(len(sites), duration_s)
    lag = asyncio.create_task(loop_lag(stats, window))
    tasks = [asyncio.create_task(site(url, pki, n, e, p, stats, window, interval_s, handshakes)) for n, e, p in sites]
    await asyncio.gather(*tasks)
    await lag
    lat = sorted(stats.latencies_s)
    lags = sorted(stats.loop_lag_s)
    requests = len(lat) + sum(v for k, v in stats.errors.items() if not k.startswith("connect:"))
    return {
        "clients": len(sites),
        "clients_connected": len(stats.connect_s),
        "duration_s": duration_s,
        "interval_s": interval_s,
        "requests": requests,
        "requests_ok": len(lat),
        "requests_per_s": round(len(lat) / duration_s, 1),
        "offered_requests_per_s": round(3 * len(sites) / interval_s, 1),
        "latency_ms": {
            "p50": round(percentile(lat, 0.50) * 1e3, 2),
            "p90": round(percentile(lat, 0.90) * 1e3, 2),
            "p99": round(percentile(lat, 0.99) * 1e3, 2),
            "max": round((lat[-1] if lat else 0) * 1e3, 2),
        },
        "connect_ms": {
            "p50": round(percentile(sorted(stats.connect_s), 0.5) * 1e3, 2),
            "p99": round(percentile(sorted(stats.connect_s), 0.99) * 1e3, 2),
        },
        "errors": sum(stats.errors.values()),
        "errors_by_kind": dict(stats.errors),
        "ramp_s": round(window.start_at - ramp_start, 1),
        "loop_lag_ms": {
            "p50": round(percentile(lags, 0.50) * 1e3, 2),
            "p99": round(percentile(lags, 0.99) * 1e3, 2),
            "max": round((lags[-1] if lags else 0) * 1e3, 2),
        },
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


class Walker(asyncio.Protocol):
    """One kept-alive connection sending the next GET of its walk as soon as the last one's answer is in."""

    def __init__(self, requests: list[bytes], stats: Stats, window: Window, done: asyncio.Future[None]) -> None:
        self.requests, self.stats, self.window, self.done = requests, stats, window, done
        self.next = 0
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if time.time() >= self.window.stop_at and self.window.ready.is_set():
            self.transport.close()
            return
        self.sent_at = time.perf_counter()
        self.transport.write(self.requests[self.next % len(self.requests)])
        self.next += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        at = self.buffer.find(b"\r\nContent-Length: ", 0, end)
        length = int(self.buffer[at + 18 : self.buffer.index(b"\r\n", at + 18)]) if at >= 0 else 0
        if len(self.buffer) < end + 4 + length:
            return
        ok = self.buffer[9:12] == b"200"
        del self.buffer[: end + 4 + length]
        now = time.time()
        if self.window.start_at <= now < self.window.stop_at:
            if ok:
                self.stats.latencies_s.append(time.perf_counter() - self.sent_at)
            else:
                self.stats.errors["http"] += 1
        elif not ok and not self.window.ready.is_set():
            self.stats.errors["warm-up http"] += 1
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None or time.time() < self.window.stop_at:
            self.stats.errors[f"closed:{type(exc).__name__ if exc else 'early'}"] += 1
        if not self.done.done():
            self.done.set_result(None)


def walk_paths(edev: int, program: int) -> list[str]:
    """One site's walk: discovery down to its DERControlList."""
    return ["/dcap", "/edev", f"/edev/{edev}/fsa", f"/edev/{edev}/fsa/1/derp", f"/edev/{edev}/derp/{program}/derc"]


def site_contexts(pki: TestPKI, sites: list[tuple[str, int, int]]) -> list[ssl.SSLContext]:
    """Each site's TLS context, made once for every run (loading 200 key pairs is not load on the server)."""
    return [
        client_context(pki.ca_cert_path, pki.device_identity(n).cert_path, pki.device_identity(n).key_path)
        for n, _, _ in sites
    ]


async def walk_load(
    url: str, contexts: list[ssl.SSLContext], sites: list[tuple[str, int, int]], duration_s: float, warm_up_s: float
) -> tuple[list[float], dict[str, int], float]:
    """Latencies in the window, errors, and this process's CPU seconds in the window."""
    host, port = url.removeprefix("https://").rsplit(":", 1)
    loop = asyncio.get_running_loop()
    stats = Stats()
    window = Window(len(sites), duration_s)
    done = []
    for ctx, (_, edev, program) in zip(contexts, sites, strict=True):
        requests = [
            f"GET {p} HTTP/1.1\r\nHost: {host}\r\nAccept: application/sep+xml\r\n\r\n".encode()
            for p in walk_paths(edev, program)
        ]
        future: asyncio.Future[None] = loop.create_future()
        try:
            await loop.create_connection(
                lambda r=requests, f=future: Walker(r, stats, window, f), host, int(port), ssl=ctx
            )
        except OSError as exc:
            stats.errors[f"connect:{type(exc).__name__}"] += 1
            future.set_result(None)
        done.append(future)
    # every connection walks from the start; the window opens after warm_up_s (all renderings cached by then)
    window.start_at = time.time() + warm_up_s
    window.stop_at = window.start_at + duration_s
    window.ready.set()
    await asyncio.sleep(warm_up_s)
    cpu_at_start = time.process_time()
    await asyncio.wait_for(asyncio.gather(*done), duration_s + 60)
    return stats.latencies_s, dict(stats.errors), time.process_time() - cpu_at_start


_WALK_JOBS: list[tuple[str, list[ssl.SSLContext], list[tuple[str, int, int]], float, float]] = []


def _walk_job(index: int) -> tuple[list[float], dict[str, int], float]:
    """One load process's share (forked: the TLS contexts are inherited, not pickled)."""
    return asyncio.run(walk_load(*_WALK_JOBS[index]))


def walk_run(
    url: str, contexts: list[ssl.SSLContext], sites: list[tuple[str, int, int]], args: argparse.Namespace
) -> dict[str, object]:
    """The connections shared among --load-processes processes, so the load generator is not held to one core."""
    share = -(-len(sites) // args.load_processes)
    _WALK_JOBS[:] = [
        (url, contexts[i : i + share], sites[i : i + share], args.duration_s, args.warm_up_s)
        for i in range(0, len(sites), share)
    ]
    with multiprocessing.get_context("fork").Pool(len(_WALK_JOBS)) as pool:
        parts = pool.map(_walk_job, range(len(_WALK_JOBS)))
    lat = sorted(x for part in parts for x in part[0])
    errors: Counter[str] = Counter()
    for part in parts:
        errors.update(part[1])
    duration_s = args.duration_s
    cpu_s_used = sum(part[2] for part in parts)
    return {
        "connections": len(sites),
        "requests_ok": len(lat),
        "requests_per_s": round(len(lat) / duration_s, 1),
        "latency_ms": {q: round(percentile(lat, v) * 1e3, 2) for q, v in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))},
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "load_generator_cpu_s_per_s": round(cpu_s_used / duration_s, 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def build_walkload(build_dir: Path) -> Path:
    """The C load client (benchmarks/walkload.c), compiled for this run: needs gcc and OpenSSL's headers."""
    binary = build_dir / "walkload"
    cmd = ["gcc", "-O2", "-Wall", "-o", str(binary), str(WALKLOAD_SOURCE), "-lssl", "-lcrypto"]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = exc.stderr if isinstance(exc, subprocess.CalledProcessError) else exc
        needs = "gcc and libssl-dev needed, or --load-client python"
        raise SystemExit(f"cannot build {WALKLOAD_SOURCE.name} ({needs}): {detail}") from None
    return binary


def walkload_run(
    binary: Path, url: str, pki: TestPKI, sites: list[tuple[str, int, int]], args: argparse.Namespace
) -> dict[str, object]:
    """One run of the C client: each connection with its site's certificate walking its site's paths."""
    host, port = url.removeprefix("https://").rsplit(":", 1)
    lines = [f"host {host}", f"port {port}", f"ca {pki.ca_cert_path}", f"ciphers {CSIP_CIPHERS}"]
    lines += [f"warmup_s {args.warm_up_s}", f"duration_s {args.duration_s}"]
    for name, edev, program in sites:
        identity = pki.device_identity(name)
        lines.append(f"conn {identity.cert_path} {identity.key_path}")
        lines += [f"get {path}" for path in walk_paths(edev, program)]
    config = binary.with_name("walkload.conf")
    config.write_text("\n".join(lines) + "\n")
    done = subprocess.run([str(binary), str(config)], capture_output=True, text=True, timeout=args.duration_s + 120)
    if done.returncode != 0:
        raise RuntimeError(f"walkload failed: {done.stderr}")
    result: dict[str, object] = json.loads(done.stdout)
    return {
        "connections": result["connections"],
        "requests_ok": result["requests_ok"],
        "requests_per_s": result["requests_per_s"],
        "latency_ms": result["latency_ms"],
        "errors": result["errors"],
        "errors_by_kind": result["errors_by_kind"],
        "load_generator_cpu_s_per_s": round(float(result["cpu_s"]) / args.duration_s, 3),  # type: ignore[arg-type]
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def walk(args: argparse.Namespace) -> dict[str, object]:
    """Capacity of `csip serve --workers N` for each N, runs interleaved, medians and the ratio."""
    runs: dict[int, list[dict[str, object]]] = {n: [] for n in args.workers}
    with tempfile.TemporaryDirectory(prefix="csip_walk_") as tmp:
        workdir = Path(tmp)
        pki, sites = prepare(workdir, args.connections)
        binary = build_walkload(workdir) if args.load_client == "c" else None
        contexts = site_contexts(pki, sites) if binary is None else []
        for _ in range(args.repeat):
            for workers in args.workers:
                server, url = start_server(workdir, workers)
                try:
                    if binary is not None:
                        result = walkload_run(binary, url, pki, sites, args)
                    else:
                        result = walk_run(url, contexts, sites, args)
                finally:
                    server.terminate()
                    server.wait(timeout=30)
                print(json.dumps({"workers": workers, **result}), file=sys.stderr, flush=True)
                runs[workers].append(result)
    summary: dict[str, object] = {"load_client": args.load_client}
    for workers, results in runs.items():
        summary[f"workers_{workers}"] = {
            "requests_per_s_median": median([float(r["requests_per_s"]) for r in results]),  # type: ignore[arg-type]
            "p99_ms_median": median([float(r["latency_ms"]["p99"]) for r in results]),  # type: ignore[index]
            "errors": sum(int(r["errors"]) for r in results),  # type: ignore[call-overload]
            "runs": results,
        }
    first, last = args.workers[0], args.workers[-1]
    rate = {n: summary[f"workers_{n}"]["requests_per_s_median"] for n in (first, last)}  # type: ignore[index]
    summary["ratio"] = round(rate[last] / rate[first], 2) if rate[first] else None
    summary["ratio_of"] = f"workers {last} / workers {first}, requests/s medians"
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--walk", action="store_true", help="the server's capacity: connections walking the tree")
    parser.add_argument("--connections", type=int, default=200, help="--walk: kept-alive connections (one site each)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="--walk: server processes, per run")
    parser.add_argument("--repeat", type=int, default=3, help="--walk: runs of each --workers value, interleaved")
    parser.add_argument("--warm-up-s", type=float, default=2.0, help="--walk: walking before the window opens")
    parser.add_argument(
        "--load-client",
        choices=["c", "python"],
        default="c",
        help="--walk: the C client (benchmarks/walkload.c, built with gcc) or the Python asyncio one",
    )
    parser.add_argument("--load-processes", type=int, default=2, help="--walk: Python load generator processes")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--duration-s", type=float, default=20.0, help="measured window (bounded run time)")
    parser.add_argument("--interval-s", type=float, default=2.0, help="each site's poll period (3 GETs per poll)")
    parser.add_argument("--ramp-concurrency", type=int, default=50, help="concurrent TLS handshakes at start")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    raise_file_limit()
    if args.walk:
        summary = {"benchmark": "csip_walk", "cores": os.cpu_count(), "python": sys.version.split()[0], **walk(args)}
        text = json.dumps(summary, indent=1)
        print(text)
        out = args.out if args.out != DEFAULT_OUT else DEFAULT_OUT.with_name("csip_walk.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        return 0 if all(summary[f"workers_{n}"]["errors"] == 0 for n in args.workers) else 1  # type: ignore[index]
    with tempfile.TemporaryDirectory(prefix="csip_load_") as tmp:
        workdir = Path(tmp)
        t0 = time.perf_counter()
        pki, sites = prepare(workdir, args.clients)
        setup_s = time.perf_counter() - t0
        server, url = start_server(workdir)
        try:
            cpu_before = cpu_s(server.pid), time.process_time()
            result = asyncio.run(run_load(url, pki, sites, args.duration_s, args.interval_s, args.ramp_concurrency))
            result["server_cpu_s"] = round(cpu_s(server.pid) - cpu_before[0], 1)
            result["load_generator_cpu_s"] = round(time.process_time() - cpu_before[1], 1)
        finally:
            server.terminate()
            server.wait(timeout=30)
    result.update(
        {
            "benchmark": "csip_load",
            "setup_s": round(setup_s, 1),
            "cipher": "ECDHE-ECDSA-AES128-CCM8",
            "tls": "1.2",
            "cores": os.cpu_count(),
            "python": sys.version.split()[0],
        }
    )
    text = json.dumps(result, indent=1)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
