"""Run the CSIP-AUS server test procedures of cactus-client against `flexbench csip serve`.

Each procedure gets a fresh server (its own store, a run-time loopback port) so that no procedure
sees another's registrations; the admin plugin acts on that server through its operator API.
Procedures mostly wait on the server, so several run at once (--jobs). The table goes to
reports/conformance/latest.json and latest.md.

    make conformance                      # every S-ALL and S-OPT procedure
    make conformance ONLY="S-ALL-01 S-ALL-53"   # those again, their results merged into the table
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from flexbench.signals.csip.tls import server_context
from flexbench.signals.pki import TestPKI, sfdi_from_lfdi

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notifications import NotificationService
from table import (
    CUT_SHORT,
    Row,
    assign_clients,
    failing_check,
    is_cut_short,
    merge,
    read_table,
    select_procedures,
    timeout_s,
    update_readme,
    write_table,
)

CLIENTS = {"device-a": "device", "device-b": "device", "aggregator": "aggregator"}
PIN = 111115  # flexbench's default registration PIN (check digit included)
PEN = 0
SERVER_START_S = 180  # several servers start at once on a loaded machine
ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--harness", required=True, type=Path, help="the Python 3.12 environment with cactus")
    parser.add_argument("--flexbench", required=True, help="the flexbench command")
    parser.add_argument("--work", type=Path, default=Path("build/conformance"), help="certificates, stores, logs")
    parser.add_argument("--out", type=Path, default=Path("reports/conformance"))
    parser.add_argument("--jobs", type=int, default=6, help="procedures run at once")
    parser.add_argument("--only", nargs="*", default=[], help="these procedure ids only")
    parser.add_argument(
        "--max-procedure-s",
        type=int,
        help="stop any procedure after this long (S-ALL-50 simulates 72 h); a stopped one is 'cut short'",
    )
    args = parser.parse_args()
    args.harness = args.harness.resolve()
    args.flexbench = shutil.which(args.flexbench) or args.flexbench

    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    pki = TestPKI(args.work / "certs")
    pki.init()
    clients = client_configs(pki)
    listing = json.loads(
        subprocess.run(
            [str(args.harness / "bin/python"), str(Path(__file__).parent / "list_procedures.py")],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    only = {
        name for item in args.only for name in item.split(",") if name
    }  # "S-ALL-01 S-ALL-02" or "S-ALL-01,S-ALL-02"
    unknown = sorted(only - {p["procedure"] for p in listing})
    if unknown:
        parser.error(f"--only: no procedure {', '.join(unknown)} in the installed cactus-test-definitions")
    procedures = [p for p in select_procedures(listing) if not only or p["procedure"] in only]
    print(f"{len(procedures)} procedures, {args.jobs} at a time", flush=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    webhooks = pki.device("notifications")  # the server notifies over mutual TLS, checking against the test CA
    notifications = NotificationService(server_context(pki.ca_cert_path, webhooks.cert_path, webhooks.key_path))
    notifications.start()
    try:
        with ThreadPoolExecutor(args.jobs) as pool:
            fresh = list(pool.map(lambda p: run_procedure(p, args, pki, clients, notifications), procedures))
    finally:
        notifications.stop()
    rows = [replace(r, run=started) for r in fresh]
    if args.only:  # a partial run updates the table: the others keep their earlier results
        rows = merge(read_table(args.out / "latest.json"), rows)
    json_path, md_path = write_table(rows, args.out, harness_versions(args.harness))
    if args.out.resolve() == (ROOT / "reports/conformance").resolve():
        update_readme(ROOT / "README.md", md_path.read_text())
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    return 0


def client_configs(pki: TestPKI) -> list[dict[str, Any]]:
    """cactus's clients: two devices, and an aggregator whose DER has an LFDI of its own."""
    out = []
    for name, kind in CLIENTS.items():
        identity = pki.device(name)
        lfdi, sfdi = identity.lfdi, identity.sfdi
        if kind == "aggregator":
            lfdi = pki.device(f"{name}-der").lfdi  # only its identifiers: the aggregator's certificate speaks
            sfdi = sfdi_from_lfdi(lfdi)
        out.append(
            {
                "id": name,
                "type": kind,
                "certificate_file": str(identity.cert_path.resolve()),
                "key_file": str(identity.key_path.resolve()),
                "lfdi": lfdi,
                "sfdi": sfdi,
                "pen": PEN,
                "pin": PIN,
                "max_watts": 10000,
            }
        )
    return out


def run_procedure(
    procedure: dict[str, Any],
    args: argparse.Namespace,
    pki: TestPKI,
    clients: list[Any],
    notifications: NotificationService,
) -> Row:
    name = procedure["procedure"]
    work = (args.work / name).resolve()
    (work / "out").mkdir(parents=True)
    try:
        server, url = start_server(args.flexbench, work, pki)
    except RuntimeError as exc:
        print(f"{name}: {exc}", flush=True)
        return Row(name, "fail", str(exc))
    try:
        config = {
            "output_dir": str(work / "out"),
            "server": {
                "device_capability_uri": f"{url}/dcap",
                "verify_ssl": True,
                "serca_pem_file": str(pki.ca_cert_path.resolve()),
                "notification_uri": notifications.webhook_url,
                "notification_admin_uri": notifications.admin_url,
                "pen": PEN,
            },
            "clients": clients,
        }
        (work / "cactus.yaml").write_text(json.dumps(config, indent=1))  # YAML reads JSON
        chosen = assign_clients(procedure["clients"], {c["id"]: c["type"] for c in clients})
        env = {
            **os.environ,
            "FLEXBENCH_ADMIN_URL": url,
            "FLEXBENCH_ADMIN_CA": str(pki.ca_cert_path.resolve()),
            "FLEXBENCH_ADMIN_CERT": str(pki.operator.cert_path.resolve()),
            "FLEXBENCH_ADMIN_KEY": str(pki.operator.key_path.resolve()),
            "COLUMNS": "200",
        }
        command = [str(args.harness / "bin/cactus"), "run", "-c", str(work / "cactus.yaml"), "--headless"]
        command += ["--timeout", str(timeout_s(procedure, args.max_procedure_s)), name, *chosen]
        started = time.monotonic()
        with open(work / "cactus.out", "w") as log:
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=work, check=False)
    finally:
        server.terminate()
        server.wait(timeout=30)
    row = outcome(procedure, work, args.max_procedure_s)
    print(f"{name}: {row.result} in {time.monotonic() - started:.0f} s {row.failing_check}", flush=True)
    return row


def start_server(flexbench: str, work: Path, pki: TestPKI) -> tuple[subprocess.Popen[str], str]:
    """`flexbench csip serve` on a free loopback port; returns it and its URL once it listens."""
    command = [flexbench, "csip", "serve", "--db", str(work / "state.db"), "--certs", str(pki.directory)]
    command += ["--port", "0", "--interop", "--allow-in-band", "--csipaus-version", "1.2"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=open(work / "server.log", "w"), text=True)
    assert server.stdout is not None
    timer = threading.Timer(SERVER_START_S, server.kill)  # a server that never says its port ends the wait
    timer.start()
    try:
        for line in server.stdout:
            if line.startswith("port "):
                return server, f"https://127.0.0.1:{int(line.split()[1])}"
    finally:
        timer.cancel()
    server.kill()
    server.wait()
    raise RuntimeError(f"flexbench csip serve did not start within {SERVER_START_S} s: see {work / 'server.log'}")


def outcome(procedure: dict[str, Any], work: Path, cap_s: int | None) -> Row:
    name = procedure["procedure"]
    results = list((work / "out").glob("run */.result"))
    if results and results[0].read_text().strip() == "PASS":
        return Row(name, "pass")
    why = failing_check((work / "cactus.out").read_text(errors="replace")) or "see the run's cactus.out"
    if is_cut_short(procedure, cap_s) and "timed out" in why:
        return Row(name, CUT_SHORT, f"stopped at the {cap_s} s cap; it runs {procedure['own_s']} s by itself: {why}")
    return Row(name, "fail", why)


def harness_versions(harness: Path) -> dict[str, str]:
    code = "import importlib.metadata as m; print(m.version('cactus-client'), m.version('cactus-test-definitions'))"
    out = subprocess.run([str(harness / "bin/python"), "-c", code], capture_output=True, text=True, check=True)
    client, definitions = out.stdout.split()
    return {"cactus-client": client, "cactus-test-definitions": definitions}


if __name__ == "__main__":
    sys.exit(main())
