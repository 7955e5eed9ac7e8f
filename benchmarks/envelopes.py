"""Envelope benchmark: fast method against bisection with full power flows.

For each feeder: a day of 15-minute envelopes for every customer location
(fast method, equal allocation, every published limit checked by full power
flow), an independent safety check (every site at its limits at once), and, on
a sample of sites and intervals, single-site envelopes by both methods: their
time per site-interval and the largest gap between them. The full run is timed
on one twin --repeat times: the median, and the first run apart (it builds the
twin's sensitivities, which later runs reuse). The reference time of
the whole problem is extrapolated from the sample; the ratio compares it with
the measured fast run.

Then a feeder of about 4,000 customers (IEEE 8500 with several customers per
service transformer, twin/synthetic.py): one dynamic interval at a time, as an
operator updates envelopes from measurements. The first interval of a twin
builds its sensitivities (reported apart); later ones reuse them.

    python benchmarks/envelopes.py [--quick] [--repeat N] [--workers 2] [--feeders ieee8500,customers4000] [--out FILE]

Prints a table and writes JSON (default benchmarks/results/envelopes.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from flexbench.twin import Twin, compute_envelope, synthetic_profiles
from flexbench.twin.compute import EnvelopeSettings, IntervalEngine
from flexbench.twin.limits import binding_name
from flexbench.twin.operating_envelopes import MeasuredState
from flexbench.twin.synthetic import write_customer_feeder
from flexbench.twin.verify import check_envelope

START = "2025-07-14"
INTERVALS = 96  # one day at 15 minutes
SEED = 11
CUSTOMERS = 4000
FEEDERS = ("ieee13", "ieee123", "ieee8500", f"customers{CUSTOMERS}")


def full_run(twin: Twin, workers: int, repeat: int) -> dict:
    """All sites, all intervals, fast method, equal allocation; then the safety check."""
    prof = synthetic_profiles(twin.sites, START, INTERVALS, "15min", seed=SEED)
    times, cpu = [], []
    env = None
    for _ in range(repeat):
        before = os.times()
        started = time.perf_counter()
        env = compute_envelope(
            twin,
            "variable",
            profiles=prof,
            start=START,
            horizon="24h",
            resolution="15min",
            allocation="equal",
            method="fast",
            workers=workers,
        )
        times.append(time.perf_counter() - started)
        after = os.times()
        cpu.append(sum(after[:4]) - sum(before[:4]))  # this process and its workers
    started = time.perf_counter()
    report = check_envelope(twin, env, prof.load_w.to_numpy(), prof.pv_w.to_numpy())
    check_s = time.perf_counter() - started
    return {
        "sites": len(env.site_ids),
        "intervals": env.shape[1],
        "workers": workers,
        "fast_s_runs": [round(t, 2) for t in times],
        "fast_s_median": round(statistics.median(times), 2),
        # the first run on a twin builds its sensitivities; later runs reuse them
        "fast_s_first": round(times[0], 2),
        "fast_cpu_s_runs": [round(t, 2) for t in cpu],
        "fast_cpu_s_median": round(statistics.median(cpu), 2),
        "verified_by_computation": bool(env.verified),
        "safety_check_ok": bool(report.ok),
        "safety_worst_import_usage": float(report.worst_import.max()),
        "safety_worst_export_usage": float(report.worst_export.max()),
        "safety_check_s": round(check_s, 2),
        "mean_import_headroom_w": float((env.import_limit_w - env.forecast_import_w).mean()),
        "mean_export_headroom_w": float((env.export_limit_w + env.forecast_import_w).mean()),
    }


def sample_comparison(twin: Twin, nsites: int, intervals: list[int], repeat: int) -> dict:
    """Single-site envelopes of a sample by both methods, timed per site-interval."""
    rng = np.random.default_rng(SEED)
    sites = sorted(rng.choice(twin.site_ids, min(nsites, len(twin.site_ids)), replace=False).tolist())
    pos = twin.site_numbers(sites)
    prof = synthetic_profiles(twin.sites, START, INTERVALS, "15min", seed=SEED)
    loads, pvs = prof.load_w.to_numpy(), prof.pv_w.to_numpy()
    results = {}
    for method in ("fast", "reference"):
        runs = []
        for _ in range(repeat if method == "fast" else 1):
            engine = IntervalEngine(twin, pos, EnvelopeSettings(method=method, allocation="none"))
            if method == "fast":
                # the one-off factorization is not per site-interval work
                engine.interval(loads[intervals[0]], pvs[intervals[0]])
            got, flows = [], 0
            started = time.perf_counter()
            for k in intervals:
                r = engine.interval(loads[k], pvs[k], reset=True)
                got.append(r)
                flows += r.power_flows
            runs.append(time.perf_counter() - started)
        results[method] = (statistics.median(runs), got, flows)
    fast_t, fast, fast_flows = results["fast"]
    ref_t, ref, ref_flows = results["reference"]
    gaps, rel, agree, total = [], [], 0, 0
    for f, r in zip(fast, ref):
        for a, b, ca, cb in (
            (f.import_headroom_w, r.import_headroom_w, f.binding_import, r.binding_import),
            (f.export_headroom_w, r.export_headroom_w, f.binding_export, r.binding_export),
        ):
            gaps.extend(np.abs(a - b))
            rel.extend(np.abs(a - b) / np.maximum(b, 1.0))
            allowed = np.maximum(0.02 * b, 1000.0)
            total += len(a)
            agree += int(np.sum(np.abs(a - b) <= allowed))
            names_a = [binding_name(twin.model, c) for c in ca]
            names_b = [binding_name(twin.model, c) for c in cb]
            results.setdefault("binding_same", []).extend(x == y for x, y in zip(names_a, names_b))
    n = len(sites) * len(intervals)
    return {
        "sample_sites": len(sites),
        "sample_intervals": intervals,
        "fast_single_site_s_per_site_interval": fast_t / n,
        "reference_s_per_site_interval": ref_t / n,
        "fast_power_flows_per_site_interval": fast_flows / n,
        "reference_power_flows_per_site_interval": ref_flows / n,
        "single_site_speedup": (ref_t / n) / (fast_t / n),
        "max_gap_w": float(max(gaps)),
        "max_gap_pct": float(100 * max(rel)),
        "within_2pct_or_1kw": f"{agree}/{total}",
        "binding_agreement": float(np.mean(results["binding_same"])),
    }


def dynamic_run(customers: int, repeat: int) -> dict:
    """One dynamic interval at a time on a feeder of `customers` customers: the first, then `repeat` more."""
    with tempfile.TemporaryDirectory(prefix="flexbench-customers-") as tmp:
        started = time.perf_counter()
        twin = Twin.from_file(write_customer_feeder("ieee8500", customers, tmp, seed=SEED))
        compile_s = time.perf_counter() - started
        prof = synthetic_profiles(twin.sites, START, INTERVALS, "15min", seed=SEED)
        net = (prof.load_w - prof.pv_w).to_numpy()
        times, cpu = [], []
        for k in [40 + 4 * j for j in range(repeat + 1)]:
            measured = MeasuredState(prof.load_w.index[k], dict(zip(twin.site_ids, net[k])))
            before = os.times()
            started = time.perf_counter()
            env = compute_envelope(twin, "dynamic", profiles=prof, measured=measured, allocation="equal")
            times.append(time.perf_counter() - started)
            cpu.append(sum(os.times()[:4]) - sum(before[:4]))
            if not env.verified:
                raise SystemExit(f"customers{customers}: interval {k} not verified")
    return {
        "sites": len(twin.sites),
        "nodes": len(twin.model.node_names),
        "compile_s": round(compile_s, 2),
        "first_interval_s": round(times[0], 2),
        "first_interval_cpu_s": round(cpu[0], 2),
        "interval_s_runs": [round(t, 2) for t in times[1:]],
        "interval_s_median": round(statistics.median(times[1:]), 2),
        "interval_cpu_s_median": round(statistics.median(cpu[1:]), 2),
        "verified": True,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, smaller samples")
    parser.add_argument("--repeat", type=int, default=3, help="timed repeats of each run (median)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the full runs")
    parser.add_argument("--feeders", default=",".join(FEEDERS), help=f"comma-separated, of {', '.join(FEEDERS)}")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "envelopes.json"))
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    chosen = [f.strip() for f in args.feeders.split(",") if f.strip()]
    unknown = sorted(set(chosen) - set(FEEDERS))
    if unknown:
        parser.error(f"--feeders: unknown {', '.join(unknown)}; use {', '.join(FEEDERS)}")
    out = {
        "benchmark": "envelopes",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_start": os.getloadavg(),
        },
        "settings": {
            "start": START,
            "intervals": INTERVALS,
            "resolution": "15min",
            "allocation": "equal",
            "repeat": repeat,
        },
        "feeders": {},
        "dynamic": {},
    }
    plan = [
        ("ieee13", 1, 15, [8, 40, 72]),
        ("ieee123", 1, 20 if not args.quick else 8, [8, 40, 72]),
        ("ieee8500", args.workers, 10 if not args.quick else 5, [8, 40, 72]),
    ]
    for name, workers, nsample, sample_intervals in plan:
        if name not in chosen:
            continue
        twin = Twin.from_name(name)
        print(
            f"{name}: full run ({len(twin.sites)} sites x {INTERVALS} intervals, {workers} worker(s))...",
            file=sys.stderr,
        )
        full = full_run(twin, workers, repeat)
        print(f"{name}: sample of {nsample} sites, both methods...", file=sys.stderr)
        sample = sample_comparison(twin, nsample, sample_intervals, repeat)
        reference_full_s = sample["reference_s_per_site_interval"] * full["sites"] * full["intervals"]
        out["feeders"][name] = {
            **full,
            **sample,
            "reference_full_estimate_s": round(reference_full_s, 1),
            "speedup_full_vs_reference": round(reference_full_s / full["fast_s_median"], 1),
        }
    if f"customers{CUSTOMERS}" in chosen:
        print(f"customers{CUSTOMERS}: dynamic intervals...", file=sys.stderr)
        out["dynamic"][f"customers{CUSTOMERS}"] = dynamic_run(CUSTOMERS, max(repeat, 3))
    out["machine"]["load_average_end"] = os.getloadavg()
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))

    print(
        f"\n{'feeder':9s} {'sites':>5s} {'fast s':>8s} {'first s':>8s} {'cpu s':>7s} {'ref est s':>10s} {'ratio':>7s} "
        f"{'1-site x':>8s} {'max gap':>12s} {'<=2%/1kW':>9s} {'binding':>7s} {'safe':>5s}"
    )
    for name, r in out["feeders"].items():
        print(
            f"{name:9s} {r['sites']:5d} {r['fast_s_median']:8.1f} {r['fast_s_first']:8.1f} {r['fast_cpu_s_median']:7.1f} "
            f"{r['reference_full_estimate_s']:10.0f} "
            f"{r['speedup_full_vs_reference']:7.0f} {r['single_site_speedup']:8.1f} "
            f"{r['max_gap_w']:7.0f} W {r['max_gap_pct']:3.1f}% {r['within_2pct_or_1kw']:>9s} "
            f"{100 * r['binding_agreement']:6.0f}% {str(r['safety_check_ok']):>5s}"
        )
    for name, r in out["dynamic"].items():
        print(
            f"\n{name}: {r['sites']} sites, {r['nodes']} nodes; one dynamic interval: median "
            f"{r['interval_s_median']:.1f} s (cpu {r['interval_cpu_s_median']:.1f} s) of {len(r['interval_s_runs'])}; "
            f"first interval (builds the sensitivities) {r['first_interval_s']:.1f} s"
        )
    print(f"\nwrote {path}")
    ok = all(r["safety_check_ok"] for r in out["feeders"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
