"""OPC-UA limit latency: operator write -> site sees it -> site's applied limit back at the server.

The envelope server runs in its own process (`flexbench opcua serve`, loopback,
Basic256Sha256 SignAndEncrypt). In this process an operator client and N echo
sites (SiteClient: subscription to its limits, then a write-back of the applied
limit, as a site controller or the virtual DUT does) are connected. Each round
the operator writes every site's ImportLimitW in one request; for each site we
time, on this process's monotonic clock:

- delivery: from sending the operator's write to the site's subscription seeing the new value;
- applied: to the server acknowledging the site's AppliedImportLimitW write-back.

Prints and writes JSON with p50/p99 per site count.

    python benchmarks/opcua_latency.py                      # 1 and 100 sites
    python benchmarks/opcua_latency.py --sites 1 10 500 --rounds 20
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from asyncua import ua

from flexbench.signals.opcua import ClientSecurity, OperatorClient, SiteClient, provision
from flexbench.signals.opcua.model import IMPORT_LIMIT
from flexbench.signals.opcua.site_client import write_values

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "opcua_latency.json"
RATED_W = 100_000.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary_ms(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "max_ms": round(max(ms), 2),
    }


def start_server(certs: Path, sites: int) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-c", "import sys; from flexbench.lab.cli import main; sys.exit(main())",
               "opcua", "serve", "--certs", str(certs), "--sites", str(sites),
               "--endpoint", "opc.tcp://127.0.0.1:0/flexbench/bench",
               "--rated-import-w", str(RATED_W), "--rated-export-w", str(RATED_W),
               "--security-mode", "sign-encrypt"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("endpoint: "):
            return process, line.split()[1]
    process.kill()
    raise RuntimeError("the envelope server did not start")


class EchoSite:
    """Applies each new import limit at once and writes it back (stand-in for a site controller)."""

    def __init__(self, endpoint: str, name: str, security: ClientSecurity, publishing_interval_ms: float) -> None:
        self.name = name
        self.sent_at: dict[float, float] = {}  # limit value -> when the operator sent it
        self.delivery_s: list[float] = []
        self.applied_s: list[float] = []
        self.done: dict[float, asyncio.Event] = {}
        self.client = SiteClient(endpoint, name, security, on_change=self._changed,
                                 publishing_interval_ms=publishing_interval_ms, timeout_s=30)

    async def _changed(self, variable: str, value: float) -> None:
        if variable != IMPORT_LIMIT or value not in self.sent_at:
            return
        seen = time.monotonic()
        await self.client.report(0.0, 0.0, applied_import_limit_w=value)
        acknowledged = time.monotonic()
        self.delivery_s.append(seen - self.sent_at[value])
        self.applied_s.append(acknowledged - self.sent_at[value])
        self.done[value].set()


async def measure(endpoint: str, certs: Path, names: list[str], rounds: int, publishing_interval_ms: float) -> dict:
    sites = [EchoSite(endpoint, n, ClientSecurity.from_pki(certs, n), publishing_interval_ms) for n in names]
    t0 = time.monotonic()
    for i in range(0, len(sites), 20):  # connect in batches: each session costs RSA and scrypt work
        await asyncio.gather(*(s.client.connect() for s in sites[i:i + 20]))
    connect_s = time.monotonic() - t0
    errors = 0
    async with OperatorClient(endpoint, ClientSecurity.from_pki(certs, "operator"), timeout_s=30) as op:
        for r in range(rounds):
            value = 40_000.0 + (r % 2) * 20_000.0 + r  # unique per round
            for s in sites:
                s.done[value] = asyncio.Event()
            items = [(op.node_id(s.name, IMPORT_LIMIT), s.name, value, ua.VariantType.Double) for s in sites]
            sent = time.monotonic()
            for s in sites:
                s.sent_at[value] = sent
            await write_values(op.client, items)
            try:
                await asyncio.wait_for(asyncio.gather(*(s.done[value].wait() for s in sites)), 30)
            except asyncio.TimeoutError:
                errors += sum(1 for s in sites if not s.done[value].is_set())
            await asyncio.sleep(random.uniform(0.0, 0.1))  # decorrelate from the publishing interval
    await asyncio.gather(*(s.client.disconnect() for s in sites))
    delivery = [x for s in sites for x in s.delivery_s]
    applied = [x for s in sites for x in s.applied_s]
    return {
        "sites": len(sites),
        "rounds": rounds,
        "connect_all_s": round(connect_s, 2),
        "missed": errors,
        "delivery": summary_ms(delivery),
        "write_to_applied": summary_ms(applied),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, nargs="+", default=[1, 100], help="site counts to measure")
    parser.add_argument("--rounds", type=int, default=50, help="limit changes per site count")
    parser.add_argument("--publishing-interval-ms", type=float, default=50.0, help="sites' subscription interval")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="opcua-latency-") as tmp:
        for count in args.sites:
            certs = Path(tmp) / f"pki-{count}"
            names = [f"site-{i:03d}" for i in range(1, count + 1)]
            print(f"{count} site(s): certificates and accounts...", flush=True)
            provision(certs, names)
            process, endpoint = start_server(certs, count)
            try:
                print(f"{count} site(s): measuring {args.rounds} rounds against {endpoint}", flush=True)
                result = asyncio.run(measure(endpoint, certs, names, args.rounds, args.publishing_interval_ms))
            finally:
                process.terminate()
                process.wait(30)
            results.append(result)
            print(json.dumps(result), flush=True)
    report = {
        "benchmark": "opcua_latency",
        "security": "Basic256Sha256 SignAndEncrypt, username + pinned client certificate",
        "publishing_interval_ms": args.publishing_interval_ms,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
