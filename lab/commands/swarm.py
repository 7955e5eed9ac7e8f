"""`flexbench swarm`: N simulated CSIP sites against a 2030.5 server, to size what it can serve."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from pathlib import Path

import aiohttp

from flexbench.lab.errors import UserError

SITES_PER_PROCESS = 5000
# the published envelope starts this long after registration began, halfway into the ramp
STARTUP_MARGIN_S = 5.0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "swarm",
        help="simulated CSIP sites polling a 2030.5 server: requests/s, latency, errors, stale sites",
        description="Run N simulated IEEE 2030.5 sites (each with its own device certificate and mutual-TLS "
        "connection) against a server: discovery, polling at the server's pollRate, Responses and "
        "MirrorUsagePoint telemetry. Certificates are made in the test PKI (reused when present) and "
        "registered with the operator certificate of the same PKI. Reports requests/s, latency "
        "percentiles, errors and the fraction of sites whose envelope was stale at the end.",
    )
    p.add_argument("--server", required=True, metavar="URL", help="https://host:port of the 2030.5 server")
    p.add_argument("--clients", required=True, type=int, metavar="N", help="number of simulated sites")
    p.add_argument("--certs", required=True, metavar="DIR", help="test PKI (flexbench certs init) with operator.crt")
    p.add_argument(
        "--duration", type=float, default=60.0, metavar="S", help="measured window after the ramp, seconds (default 60)"
    )
    p.add_argument(
        "--ramp",
        type=float,
        metavar="S",
        help="sites start at a random time within this many seconds (default: min(60, poll rate))",
    )
    p.add_argument("--poll-rate", type=float, metavar="S", help="poll every S seconds (default: the server's pollRate)")
    p.add_argument(
        "--processes",
        type=int,
        metavar="P",
        help=f"event-loop processes sharing the sites (default: one per {SITES_PER_PROCESS} sites, "
        "at most the number of cores)",
    )
    p.add_argument(
        "--register",
        choices=("operator", "in-band", "none"),
        default="operator",
        help="operator: register over the operator API (default); in-band: sites POST their own "
        "EndDevice (server must allow it); none: already registered",
    )
    p.add_argument(
        "--no-envelope",
        action="store_true",
        help="do not publish a short envelope to every site before the run (no Responses then)",
    )
    p.add_argument(
        "--randomize",
        type=int,
        default=0,
        metavar="S",
        help="randomizeStart/randomizeDuration of the published controls, seconds (default 0: every "
        "site posts its Responses at the same interval boundary)",
    )
    p.add_argument("--no-telemetry", action="store_true", help="do not mirror meter readings")
    p.add_argument("--interop", action="store_true", help="also offer AES-128-GCM (servers without CCM-8)")
    p.add_argument(
        "--handshakes",
        type=int,
        default=32,
        metavar="K",
        help="concurrent TLS handshakes per process while sites come up (default 32)",
    )
    p.add_argument("--prefix", default="swarm", help="device certificate names PREFIX-000000... (default swarm)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", metavar="FILE.json", help="also write the report here")
    p.add_argument("--json", action="store_true", help="print the report as JSON only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from flexbench.signals.csip.swarm import SwarmConfig, held, run_swarm
    from flexbench.signals.csip.swarm_sites import EnvelopePlan, register_sites, site_certificates
    from flexbench.signals.csip.tls import CSIP_CIPHERS, INTEROP_CIPHERS
    from flexbench.signals.pki import TestPKI

    if args.clients < 1:
        raise UserError(f"--clients must be at least 1, got {args.clients}")
    if args.duration <= 0:
        raise UserError(f"--duration must be positive, got {args.duration}")
    if not args.server.startswith("https://"):
        raise UserError(f"--server must be https://host:port, got {args.server!r}")
    pki = TestPKI(args.certs)
    if not pki.exists():
        raise UserError(f"--certs {args.certs}: no test PKI there (run `flexbench certs init {args.certs}`)")
    if args.register == "operator" and not (Path(args.certs) / "operator.crt").is_file():
        raise UserError(f"--certs {args.certs}: no operator.crt to register sites with (or use --register none)")
    out = Path(args.out) if args.out else None
    if out is not None and not out.parent.exists():
        raise UserError(f"--out {out}: folder {out.parent} does not exist")
    processes = args.processes or max(1, min(os.cpu_count() or 1, math.ceil(args.clients / SITES_PER_PROCESS)))

    def say(text):
        return print(text, file=sys.stderr, flush=True)

    def progress(stage: str, done: int, total: int) -> None:
        say(f"{stage}: {done}/{total}")

    sites = site_certificates(args.certs, args.clients, prefix=args.prefix, progress=progress)
    ramp_s = args.ramp if args.ramp is not None else min(60.0, args.poll_rate or 60.0)
    if args.register == "operator":
        plan = (
            None
            if args.no_envelope
            else EnvelopePlan(
                start_s=int(time.time() + STARTUP_MARGIN_S + ramp_s / 2),
                interval_s=max(60, int(args.duration / 3)),
                randomize_s=args.randomize,
            )
        )
        try:
            setup = asyncio.run(register_sites(args.server, args.certs, sites, plan, progress=progress))
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise UserError(f"cannot reach {args.server} with the operator certificate: {exc}") from None
        except RuntimeError as exc:
            raise UserError(str(exc)) from None
        say(f"registered {setup['sites']} sites ({setup['newly_registered']} new) in {setup['seconds']} s")
    config = SwarmConfig(
        server_url=args.server,
        ca_cert=str(pki.ca_cert_path),
        duration_s=args.duration,
        poll_rate_s=args.poll_rate,
        ramp_s=args.ramp,
        processes=processes,
        telemetry=not args.no_telemetry,
        handshake_concurrency=args.handshakes,
        ciphers=INTEROP_CIPHERS if args.interop else CSIP_CIPHERS,
        register_in_band=args.register == "in-band",
        seed=args.seed,
        progress=not args.json,
    )
    say(
        f"swarm: {args.clients} sites in {processes} process(es), ramp {config.ramp():g} s, "
        f"measuring {args.duration:g} s"
    )
    report = run_swarm(config, sites)
    text = json.dumps(report, indent=1)
    if out is not None:
        out.write_text(text + "\n")
    if args.json:
        print(text)
    else:
        print(summary(report))
    return 0 if held(report) else 1


def summary(report: dict) -> str:
    """The report in a few lines for a person; the JSON has everything."""
    from flexbench.signals.csip.swarm import held

    lat = report["latency_ms"]
    verdict = "held" if held(report) else "DID NOT HOLD"
    lines = [
        f"{report['clients']} sites, {report['processes']} process(es), poll every {report['poll_rate_s']} s "
        f"({report['poll_rate_source']}), {report['duration_s']:g} s measured: {verdict}",
        f"  sites up {report['sites_discovered']}/{report['clients']}, polls {report['polls_ok']} ok "
        f"/ {report['polls_failed']} failed, responses {report['responses_posted']}, "
        f"readings {report['readings_posted']}",
        f"  {report['requests_per_s']} requests/s; latency p50 {lat['p50']} ms, p90 {lat['p90']} ms, "
        f"p99 {lat['p99']} ms, max {lat['max']} ms",
        f"  errors {report['errors']} {report['errors_by_kind'] or ''}".rstrip(),
        f"  stale at the end: {report['stale_sites']} sites ({100 * report['stale_fraction']:.2f} %)",
        f"  client loop lag p99 {report['loop_lag_ms']['p99']} ms, client CPU {report['client_cpu_s']} s",
    ]
    return "\n".join(lines)
