"""Utility scale: day-ahead envelopes of a synthetic utility's feeders on Dask, 1 vs 2 workers.

N synthetic feeder instances (from IEEE 13 and IEEE 123 by default: every
instance has its own loads, PV and flexible-connection sites), a day-ahead
horizon of 96 intervals at 15 min, on a LocalCluster of one and then two
worker processes. Prints and writes JSON: wall time, time per site-interval,
speed-up, and the workers a 3,000-feeder utility needs to refresh every
feeder's envelope every 15 minutes at the measured cost per feeder.

    python benchmarks/utility_scale.py                     # 1,000 feeders
    python benchmarks/utility_scale.py --feeders 100       # a quick run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

from flexbench.twin.distributed import close_client, run_feeders, start_client
from flexbench.twin.synthetic import generate_instances, write_manifest

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "utility_scale.json"


def measure(instances: list, workers: int, workdir: Path) -> dict:
    client = start_client("local", workers=workers)
    try:
        t0 = time.perf_counter()
        summary = run_feeders(
            instances,
            workdir / f"out-{workers}",
            client=client,
            resume=False,
            progress=lambda d, f, t: (
                print(f"  {workers} worker(s): {d}/{t} feeders" + (f", {f} failed" if f else ""), file=sys.stderr)
                if d % 100 == 0 or d == t
                else None
            ),
        )
        wall_s = time.perf_counter() - t0
    finally:
        close_client(client)
    task_s = sum(d["seconds"] for d in summary.done)
    site_intervals = summary.site_intervals
    return {
        "workers": workers,
        "feeders": len(summary.done),
        "failed": summary.failed,
        "wall_s": round(wall_s, 2),
        "site_intervals": site_intervals,
        "wall_us_per_site_interval": round(wall_s / site_intervals * 1e6, 1),
        "worker_us_per_site_interval": round(wall_s * workers / site_intervals * 1e6, 1),
        "task_s_per_feeder_mean": round(task_s / max(len(summary.done), 1), 3),
        "worker_s_per_feeder": round(wall_s * workers / max(len(summary.done), 1), 3),
        "all_verified": all(d["verified"] for d in summary.done),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeders", type=int, default=1000, help="synthetic feeder instances (default 1000)")
    parser.add_argument("--bases", default="ieee13,ieee123", help="base feeders, comma-separated")
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (default 1,2)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--utility-feeders", type=int, default=3000, help="feeders of the utility projected")
    parser.add_argument("--refresh-min", type=float, default=15.0, help="refresh period projected, minutes")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    bases = tuple(b.strip() for b in args.bases.split(",") if b.strip())
    instances = generate_instances(args.feeders, bases=bases, seed=args.seed, horizon="24h", resolution="15min")
    runs = []
    with tempfile.TemporaryDirectory(prefix="utility_scale_") as tmp:
        workdir = Path(tmp)
        write_manifest(instances, workdir / "manifest.json")
        for workers in (int(w) for w in args.workers.split(",")):
            runs.append(measure(instances, workers, workdir))
    base = runs[0]
    best = runs[-1]
    speedup = base["wall_s"] / best["wall_s"] * base["workers"]
    efficiency = speedup / best["workers"]
    refresh_s = args.refresh_min * 60.0
    # worker-seconds per feeder as measured with the most workers (includes scheduling overhead)
    needed = math.ceil(args.utility_feeders * best["worker_s_per_feeder"] / refresh_s)
    result = {
        "benchmark": "utility_scale",
        "feeders": args.feeders,
        "bases": list(bases),
        "instances": {b: sum(1 for i in instances if i.base == b) for b in bases},
        "intervals": instances[0].intervals,
        "resolution": instances[0].resolution,
        "sites_mean": round(best["site_intervals"] / max(best["feeders"], 1) / instances[0].intervals, 1),
        "runs": runs,
        "speedup": round(speedup, 2),
        "parallel_efficiency": round(efficiency, 2),
        "projection": {
            "utility_feeders": args.utility_feeders,
            "refresh_s": refresh_s,
            "worker_s_per_feeder": best["worker_s_per_feeder"],
            "workers_needed": needed,
            "basis": f"{best['workers']}-worker run, same feeder mix, one core per worker",
        },
        "cores": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "python": sys.version.split()[0],
    }
    text = json.dumps(result, indent=1)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0 if all(not r["failed"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
