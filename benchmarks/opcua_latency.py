"""OPC-UA limit latency at the virtual DUT: a limit written until the virtual PCS controller has it in force.

Two paths, each for 1 and 100 sites (virtual PCS controllers, healthy profile):

- envelope server: the server runs in its own process (`flexbench opcua serve`,
  loopback, Basic256Sha256 SignAndEncrypt, accounts). Every virtual PCS is a
  site client of it (lab.virtual.opcua_link.OpcuaLink, as on the virtual bench,
  all sharing one loop thread). Each round the operator writes every site's
  ImportLimitW in one request; timed from sending that write to the moment
  the site's PCS controller holds the new import limit among its utility limits.
- device server: every virtual PCS serves its own OPC-UA server
  (lab.virtual.opcua_device.OpcuaDeviceServer, its points in kW, as on the
  virtual-pcs-opcua-device bench), all on one loop thread; the bench side holds
  one DeviceClient per device (node map and kW scale as in that bench file) on
  this process's main loop. Each round every client writes its device's import
  limit (with LimitEnable) at once; timed from each client's write call to the
  controller holding the limit.

Both sides run in this process (one GIL, as on the virtual bench); times are
time.monotonic(). Prints and writes JSON with p50/p99 per path and site count.

    python benchmarks/opcua_latency.py                      # 1 and 100 sites, both paths
    python benchmarks/opcua_latency.py --sites 1 10 --rounds 20 --paths device
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
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from asyncua import ua

from flexbench.lab.clock import ScaledClock
from flexbench.lab.virtual.opcua_device import OpcuaDeviceServer, node_id
from flexbench.lab.virtual.opcua_link import OpcuaLink
from flexbench.lab.virtual.pcs_site import PCS_FAULTS, PCSSite, PCSSiteParameters
from flexbench.signals.opcua import (
    ClientSecurity,
    DeviceClient,
    DeviceServerSecurity,
    LoopThread,
    OpcuaPKI,
    OperatorClient,
    provision,
)
from flexbench.signals.opcua.model import IMPORT_LIMIT
from flexbench.signals.opcua.provisioning import default_hosts
from flexbench.signals.opcua.site_client import write_values

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "opcua_latency.json"
RATED_W = 100_000.0
TIMEOUT_S = 60.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary_ms(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s] or [float("nan")]
    return {
        "n": len(values_s),
        "p50_ms": round(percentile(ms, 50), 2),
        "p99_ms": round(percentile(ms, 99), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
        "max_ms": round(max(ms), 2),
    }


def start_server(certs: Path, sites: int) -> tuple[subprocess.Popen, str]:
    command = [
        sys.executable,
        "-c",
        "import sys; from flexbench.lab.cli import main; sys.exit(main())",
        "opcua",
        "serve",
        "--certs",
        str(certs),
        "--sites",
        str(sites),
        "--endpoint",
        "opc.tcp://127.0.0.1:0/flexbench/bench",
        "--rated-import-w",
        str(RATED_W),
        "--rated-export-w",
        str(RATED_W),
        "--security-mode",
        "sign-encrypt",
    ]
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


class VirtualPCS:
    """One virtual PCS controller; records when each import limit came into force."""

    def __init__(self, name: str, loop: asyncio.AbstractEventLoop) -> None:
        self.name = name
        self.site = PCSSite(PCSSiteParameters(), PCS_FAULTS["healthy"])
        self.lock = threading.Lock()
        self._loop = loop
        self.waiting: dict[float, asyncio.Event] = {}  # import limit W -> set when in force
        self.in_force_at: dict[float, float] = {}

    def apply(self, channel: str) -> Callable[[float | None, float | None], None]:
        def apply(import_limit_w: float | None, export_limit_w: float | None) -> None:
            with self.lock:  # as the virtual PCS bench applies a utility channel's limits
                self.site.controller.set_utility_limits(channel, import_limit_w, export_limit_w)
            now = time.monotonic()
            if import_limit_w is not None:
                key = round(import_limit_w, 1)
                self.in_force_at.setdefault(key, now)
                event = self.waiting.get(key)
                if event is not None:
                    self._loop.call_soon_threadsafe(event.set)

        return apply

    def expect(self, import_limit_w: float) -> asyncio.Event:
        key = round(import_limit_w, 1)
        self.waiting[key] = asyncio.Event()
        return self.waiting[key]


async def rounds_of(duts: list[VirtualPCS], rounds: int, write: Callable[[float], Any]) -> tuple[list[float], int]:
    """Per round a new import limit for every DUT via `write(value)` -> {dut name: send time}; latencies."""
    latencies: list[float] = []
    missed = 0
    for r in range(rounds):
        value = 40_000.0 + (r % 2) * 20_000.0 + r  # unique per round, in W
        events = [d.expect(value) for d in duts]
        sent = await write(value)
        try:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), TIMEOUT_S)
        except TimeoutError:
            pass
        for d, e in zip(duts, events):
            if e.is_set():
                latencies.append(d.in_force_at[round(value, 1)] - sent[d.name])
            else:
                missed += 1
        await asyncio.sleep(random.uniform(0.0, 0.1))  # decorrelate from publishing intervals
    return latencies, missed


async def measure_envelope_path(tmp: Path, count: int, rounds: int) -> dict[str, Any]:
    certs = tmp / f"pki-envelope-{count}"
    names = [f"site-{i:03d}" for i in range(1, count + 1)]
    provision(certs, names)
    process, endpoint = start_server(certs, count)
    loop = asyncio.get_running_loop()
    thread = LoopThread("virtual-duts")
    thread.start()
    clock = ScaledClock(1.0)
    bench_side = SimpleNamespace(pki_dir=certs, endpoint=endpoint, config=SimpleNamespace(comm_loss_s=3600.0))
    duts = [VirtualPCS(n, loop) for n in names]
    links = [OpcuaLink(bench_side, d.name, clock, d.apply("opcua"), lambda: 0.0, thread=thread) for d in duts]
    try:
        t0 = time.monotonic()
        for i in range(0, len(links), 20):  # connect in batches: each session costs RSA and scrypt work
            await asyncio.gather(*(asyncio.to_thread(link.start) for link in links[i : i + 20]))
        connect_s = time.monotonic() - t0
        async with OperatorClient(endpoint, ClientSecurity.from_pki(certs, "operator"), timeout_s=30) as op:

            async def write(value: float) -> dict[str, float]:
                items = [(op.node_id(d.name, IMPORT_LIMIT), d.name, value, ua.VariantType.Double) for d in duts]
                sent = time.monotonic()
                await write_values(op.client, items)
                return {d.name: sent for d in duts}

            latencies, missed = await rounds_of(duts, rounds, write)
    finally:
        for link in links:
            await asyncio.to_thread(link.stop)
        thread.stop()
        process.terminate()
        process.wait(30)
    return {
        "path": "envelope-server",
        "sites": count,
        "rounds": rounds,
        "connect_all_s": round(connect_s, 2),
        "missed": missed,
        "write_to_in_force": summary_ms(latencies),
    }


async def measure_device_path(tmp: Path, count: int, rounds: int, security_mode: str) -> dict[str, Any]:
    certs = tmp / f"pki-device-{count}"
    provision(certs, [])
    pki = OpcuaPKI(certs)
    loop = asyncio.get_running_loop()
    thread = LoopThread("virtual-device-servers")
    thread.start()
    clock = ScaledClock(1.0)
    duts = [VirtualPCS(f"pcs-{i:03d}", loop) for i in range(1, count + 1)]
    servers: list[OpcuaDeviceServer] = []
    clients: list[DeviceClient] = []
    if security_mode == "none":
        client_security = ClientSecurity.insecure()
    else:
        client_security = ClientSecurity.from_pki(certs, "operator", mode=security_mode, login=False)
    mapping = {
        "setpoints": {
            "import_limit_w": {"node": node_id("ImportLimitKW"), "scale": 0.001, "enable_node": node_id("LimitEnable")}
        }
    }
    try:
        t0 = time.monotonic()
        for d in duts:
            security = None
            if security_mode != "none":
                cert = pki.issue_client(
                    f"{d.name}-device", application_uri=f"urn:flexbench:device:{d.name}", hosts=default_hosts()
                )
                security = DeviceServerSecurity(
                    cert.cert_path, cert.key_path, cert.application_uri, pki.trust_dir, modes=(security_mode,)
                )
            server = OpcuaDeviceServer(d.name, clock, d.apply("opcua-device"), lambda: {}, security, thread)
            await asyncio.to_thread(server.start)
            servers.append(server)
        start_s = time.monotonic() - t0
        t0 = time.monotonic()
        clients = [DeviceClient.from_mapping(s.endpoint, mapping, client_security, timeout_s=30) for s in servers]
        for i in range(0, len(clients), 20):
            await asyncio.gather(*(c.connect() for c in clients[i : i + 20]))
        connect_s = time.monotonic() - t0

        async def write(value: float) -> dict[str, float]:
            sent: dict[str, float] = {}

            async def one(d: VirtualPCS, c: DeviceClient) -> None:
                sent[d.name] = time.monotonic()
                await c.write_limits(import_limit_w=value)

            await asyncio.gather(*(one(d, c) for d, c in zip(duts, clients)))
            return sent

        latencies, missed = await rounds_of(duts, rounds, write)
    finally:
        await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)
        for server in servers:
            await asyncio.to_thread(server.stop)
        thread.stop()
    return {
        "path": "device-server",
        "sites": count,
        "rounds": rounds,
        "security": security_mode,
        "start_servers_s": round(start_s, 2),
        "connect_all_s": round(connect_s, 2),
        "missed": missed,
        "write_to_in_force": summary_ms(latencies),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, nargs="+", default=[1, 100], help="site counts to measure")
    parser.add_argument("--rounds", type=int, default=50, help="limit changes per path and site count")
    parser.add_argument("--paths", nargs="+", choices=("envelope", "device"), default=["envelope", "device"])
    parser.add_argument(
        "--device-security",
        choices=("none", "sign", "sign-encrypt"),
        default="sign-encrypt",
        help="security of the device servers (Basic256Sha256)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="opcua-latency-") as tmp:
        for path in args.paths:
            for count in args.sites:
                print(f"{path} path, {count} site(s): {args.rounds} rounds...", flush=True)
                load_before = os.getloadavg()[0]
                if path == "envelope":
                    result = asyncio.run(measure_envelope_path(Path(tmp), count, args.rounds))
                else:
                    result = asyncio.run(measure_device_path(Path(tmp), count, args.rounds, args.device_security))
                result["load_average_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]  # before, after
                results.append(result)
                w = result["write_to_in_force"]
                print(
                    f"  write to in force at the virtual PCS: p50 {w['p50_ms']} ms, p99 {w['p99_ms']} ms "
                    f"(n={w['n']}, missed {result['missed']})",
                    flush=True,
                )
    report = {
        "benchmark": "opcua_latency",
        "measures": "operator write on the envelope server (resp. DeviceClient write on the device's own server) "
        "until the virtual PCS controller has the new limit in force",
        "security": {
            "envelope-server": "Basic256Sha256 SignAndEncrypt, username + pinned client certificate",
            "device-server": f"Basic256Sha256 {args.device_security}, anonymous",
        },
        "publishing_interval_ms": 50.0,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
