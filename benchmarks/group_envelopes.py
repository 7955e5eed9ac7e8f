"""Group envelope benchmark: the customers behind IEEE 8500 service transformers, one day at 1 h.

IEEE 8500 with two or three customers per service transformer (each on its own
copy of the service drop, twin/synthetic.py); for the smallest transformers
feeding three customers, the group envelope (twin/group.py, any split of the
group limit safe, every interval checked by full power flow) over 24 hours.
Reported per group: time, what binds the group's import and export, and what
the any-split guarantee costs: the group import headroom against the sum of
the max-total allocation (the most the group can take at once in one chosen
split) and against the sum of the members' single-site headrooms.

    python benchmarks/group_envelopes.py [--groups N] [--hours H] [--out FILE]

Prints a table and writes JSON (default benchmarks/results/group_envelopes.json).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from flexbench.twin import EnvelopeSettings, Twin, compute_envelope, synthetic_profiles
from flexbench.twin.group import group_envelope, group_sites

CUSTOMERS = 2400
START = "2025-07-14T00:00:00Z"


def smallest_transformers(twin: Twin, count: int) -> list[str]:
    """The `count` smallest service transformers feeding three customers."""
    sharing = collections.Counter(s.service_transformer for s in twin.sites)
    rating = {s.service_transformer: s.rating_w for s in twin.sites}
    names = sorted((rating[t], t) for t, n in sharing.items() if t and n == 3)
    return [t.partition(".")[2] for _, t in names[:count]]


def kinds(names) -> dict[str, int]:
    return dict(collections.Counter(str(b).partition(":")[0] for b in names))


def run(groups: int, hours: int, out_path: Path) -> int:
    with tempfile.TemporaryDirectory() as folder:
        from flexbench.twin.synthetic import write_customer_feeder

        started = time.monotonic()
        twin = Twin.from_file(write_customer_feeder("ieee8500", CUSTOMERS, folder))
        load_s = time.monotonic() - started
    prof = synthetic_profiles(twin.sites, START, hours, "1h", seed=3)
    rows = []
    for name in smallest_transformers(twin, groups):
        sites = group_sites(twin, f"transformer:{name}")
        started = time.monotonic()
        group = group_envelope(twin, sites, profiles=prof, start=START, horizon=f"{hours}h")
        group_s = time.monotonic() - started
        kwargs = dict(sites=sites, profiles=prof, start=START, horizon=f"{hours}h")
        best = compute_envelope(twin, "variable", allocation="max-total", **kwargs)
        alone = compute_envelope(twin, "variable", allocation="none", **kwargs)
        forecast = group.forecast_import_w
        head = group.import_limit_w - forecast
        with np.errstate(divide="ignore", invalid="ignore"):
            vs_best = head / (best.import_limit_w - best.forecast_import_w).sum(axis=0)
            vs_alone = head / (alone.import_limit_w - alone.forecast_import_w).sum(axis=0)
        rows.append(
            {
                "transformer": name,
                "sites": len(sites),
                "rating_kva": round(3 * twin.site(sites[0]).rating_w / 1000, 1),
                "group_s": round(group_s, 1),
                "s_per_interval": round(group_s / hours, 2),
                "verified": bool(group.verified),
                "binding_import": kinds(group.binding_import),
                "binding_export": kinds(group.binding_export),
                "split_import": dict(collections.Counter(str(s).split(" ")[0] for s in group.binding_import_split)),
                "import_headroom_over_max_total_median": round(float(np.nanmedian(vs_best)), 3),
                "import_headroom_over_sum_alone_median": round(float(np.nanmedian(vs_alone)), 3),
            }
        )
    result = {
        "benchmark": "group_envelopes",
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()},
        "feeder": f"ieee8500 with {CUSTOMERS} customers",
        "feeder_load_s": round(load_s, 1),
        "envelope": f"variable, {hours} x 1h from {START}, fast method, equal allocation",
        "settings": repr(EnvelopeSettings()),
        "groups": rows,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2))
    print(f"{result['feeder']}: loaded in {load_s:.1f} s; {result['envelope']}")
    print(
        f"{'transformer':14s} {'kVA':>5s} {'s':>6s} {'s/int':>6s} {'vs max-total':>12s} {'vs sum alone':>12s} binds import"
    )
    for r in rows:
        print(
            f"{r['transformer']:14s} {r['rating_kva']:5.1f} {r['group_s']:6.1f} {r['s_per_interval']:6.2f} "
            f"{r['import_headroom_over_max_total_median']:12.3f} {r['import_headroom_over_sum_alone_median']:12.3f} "
            f"{r['binding_import']}"
        )
    print(f"\nwrote {out_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=3, help="transformers (default: 3)")
    parser.add_argument("--hours", type=int, default=24, help="hours of 1 h intervals (default: 24)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "group_envelopes.json"))
    args = parser.parse_args(argv)
    return run(args.groups, args.hours, Path(args.out))


if __name__ == "__main__":
    sys.exit(main())
