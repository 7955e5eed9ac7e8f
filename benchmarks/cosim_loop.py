"""PHIL loop rate and jitter on the virtual bench, in one process and over HELICS.

Runs the loop of `lab/benches/virtual-phil.toml` (IEEE 123 twin, bus 48, the
virtual PV inverter site scaled to 100 kW, emulated Chroma 61845 and
Yokogawa WT1800 on loopback) at time scale 1 for a duration, twice:

- in-process: the twin (OpenDSS) in the loop's own thread;
- HELICS: the twin as a federate in another process (`flexbench cosim twin`,
  which starts a zmq_ss broker on a free localhost port and prints it: one port
  per federation, so other federations on the host never collide), the lab federate here;

and both again with the loop thread at real-time priority (`realtime`,
SCHED_FIFO where the host allows it: see events.jsonl's cosim_realtime). The
load average after each case is saved with it: on a shared 2-core host the
normal-priority figures move with what else runs.

Jitter is |achieved period - nominal period| per step (bench time = wall time
at scale 1); compute is the time from a step's start to its last command.
Target (DESIGN.md): 50 Hz with p99 jitter under 5 ms in-process.

    python benchmarks/cosim_loop.py                     # 30 s each at 50 Hz
    python benchmarks/cosim_loop.py --duration 60 --rate-hz 100 --out results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from flexbench.lab.bench_config import load_bench
from flexbench.lab.cosim.runner import run_cosim
from flexbench.lab.recorder import load_events

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "lab" / "benches" / "virtual-phil.toml"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "cosim_loop.json"
FIGURES = (
    "steps",
    "rate_hz_achieved",
    "period_ms_p50",
    "jitter_ms_p50",
    "jitter_ms_p99",
    "jitter_ms_max",
    "compute_ms_p50",
    "compute_ms_p99",
    "overruns",
    "max_abs_v_set_minus_v_twin_v",
    "stopped",
)


def in_process(settings, duration_s: float, work: Path) -> dict:
    return run_cosim(load_bench(BENCH), settings, work, duration_s)


def over_helics(settings, duration_s: float, work: Path) -> dict:
    # a free port the twin's broker takes and prints; zmq_ss: that one port, whatever else runs on this host
    settings = replace(settings, helics=replace(settings.helics, broker="127.0.0.1:0", core="zmq_ss"))
    twin = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flexbench.lab.cli",
            "cosim",
            "twin",
            "--bench",
            str(BENCH),
            "--broker",
            settings.helics.broker,
            "--core",
            settings.helics.core,
            "--start-broker",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert twin.stderr is not None
        address = next((line.split()[-1] for line in twin.stderr if line.startswith("HELICS broker at ")), None)
        if address is None:
            raise RuntimeError(f"the twin federate's broker did not start (exit {twin.wait()})")
        settings = replace(settings, helics=replace(settings.helics, broker=address))
        summary = run_cosim(load_bench(BENCH), settings, work, duration_s, federated=True)
        _, err = twin.communicate(timeout=60)
        if twin.returncode != 0:
            raise RuntimeError(f"twin federate failed: {err.strip()}")
    finally:
        if twin.poll() is None:
            twin.kill()
            twin.wait()
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0, help="bench seconds per case (default 30)")
    parser.add_argument("--rate-hz", type=float, default=50.0, help="loop rate (default 50)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write")
    args = parser.parse_args(argv)

    settings = replace(load_bench(BENCH).cosim, rate_hz=args.rate_hz)
    cases: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, case, realtime in (
            ("in_process", in_process, False),
            ("helics_localhost_zmq_ss", over_helics, False),
            ("in_process_realtime", in_process, True),
            ("helics_localhost_zmq_ss_realtime", over_helics, True),
        ):
            summary = case(replace(settings, realtime=realtime), args.duration, work / name)
            cases[name] = {k: summary.get(k) for k in FIGURES}
            cases[name]["realtime_priority"] = any(
                e["kind"] == "cosim_realtime" and e["ok"] for e in load_events(work / name)
            )
            cases[name]["load_average_1min"] = round(os.getloadavg()[0], 2)
            print(f"{name:34s} " + "  ".join(f"{k}={cases[name][k]}" for k in FIGURES), flush=True)

    result = {
        "benchmark": "cosim_loop",
        "bench": str(BENCH.relative_to(ROOT)),
        "feeder": settings.feeder,
        "bus": settings.bus,
        "rate_hz": args.rate_hz,
        "duration_s": args.duration,
        "time_scale": 1.0,
        "target": "50 Hz with p99 jitter < 5 ms in-process",
        "host": {"python": platform.python_version(), "platform": platform.platform()},
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0 if all(c["stopped"] is None for c in cases.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
