"""AMI envelope benchmark: envelopes from meter data alone against the model-based ones, on IEEE 8500.

The twin plays the field: two weeks of 15-minute time series of the synthetic
profiles (regulators and capacitors acting), each customer's meter recording V,
P and Q with noise (twin/ami_simulate.py). From those readings alone
(twin/ami.py) a day-ahead variable envelope of every meter at 1 h; the model
computes the same day's single-site envelopes (allocation none: each site alone
beyond its forecast, what the meter fit estimates) for a sample of sites from
the same history's forecast. Compared on export limits (and import, for the
record):

- relative difference (AMI - model) / max(|model|, 1 kW): median and p90 of its
  magnitude, and the share of site-intervals (and of sites, at any interval)
  where the AMI limit is above the model's: unsafe;
- the same with the AMI sensitivities applied at the model's own base voltage
  (the twin's forecast solved as the envelope engine solves it), which leaves
  out the difference of base voltage (tap positions, forecast) and measures the
  sensitivity alone;
- each fitted export sensitivity against the twin's (one power flow per site).

Smooth synthetic profiles hide a meter's own appliances, which is what makes
its sensitivity visible; each run states its load variation (`--variation`,
several runs: `0.3,0`).

    python benchmarks/ami_envelopes.py [--quick] [--sites N] [--days D] [--variation 0.3,0] [--out FILE]

Prints a table and writes JSON (default benchmarks/results/ami_envelopes.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from flexbench.twin import Limits, Twin, compute_envelope, forecast, synthetic_profiles
from flexbench.twin.ami import ami_envelope, headroom, limit_cap_w, read_ami
from flexbench.twin.ami_simulate import simulate_ami
from flexbench.twin.operating_envelopes import BLOCK_INTERVALS

FEEDER = "ieee8500"
KEYS = (
    "export",
    "export_central",
    "export_same_base",
    "export_same_base_central",
    "export_own_binding",
    "export_same_base_own_binding",
    "import",
    "import_same_base",
)
START = pd.Timestamp("2025-07-14", tz="UTC")
HOURS = 24
SEED = 11


def site_nodes(twin: Twin, site: int) -> list[int]:
    m = twin.model
    s = m.sites[site]
    return [m.node_index[f"{s.bus}.{k}"] for k in s.nodes if f"{s.bus}.{k}" in m.node_index]


def model_base_voltage(twin: Twin, load_w: np.ndarray, pv_w: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Each sample site's highest phase voltage (pu) at the forecast, solved as the envelope engine solves it."""
    m = twin.model
    nodes = [site_nodes(twin, p) for p in positions]
    out = np.zeros((len(load_w), len(positions)))
    for k in range(len(load_w)):
        if k % BLOCK_INTERVALS == 0:
            twin.reset_controls()
        twin.set_operating_point(load_w[k], pv_w[k])
        v = np.abs(twin.solve_forecast().voltages) / m.base_v
        out[k] = [v[n].max() for n in nodes]
    return out


def true_export_rise(twin: Twin, load_w: np.ndarray, pv_w: np.ndarray, positions: np.ndarray, step_w=5000.0):
    """The twin's own-voltage rise per W of export at each sample site (pu/W), controls frozen."""
    m = twin.model
    twin.reset_controls()
    twin.set_operating_point(load_w, pv_w)
    base = np.abs(twin.solve_forecast().voltages) / m.base_v
    out = []
    for p in positions:
        nodes = site_nodes(twin, p)
        twin.set_site_delta(np.array([p]), np.array([-step_w]))
        v = np.abs(twin.solve_frozen().voltages) / m.base_v
        twin.set_site_delta(np.array([p]), np.array([0.0]))
        out.append(float((v[nodes] - base[nodes]).max()) / step_w)
    return np.array(out)


def compare(ami: np.ndarray, model: np.ndarray, where: np.ndarray | None = None) -> dict:
    """Error figures of AMI limits against model limits (sites x intervals, W), on the site-intervals `where`."""
    where = np.ones(model.shape, dtype=bool) if where is None else where
    rel = ((ami - model) / np.maximum(np.abs(model), 1000.0))[where]
    above = np.where(where, ami > model, False)
    return {
        "site_intervals": int(where.sum()),
        "median_abs_rel": round(float(np.median(np.abs(rel))), 4),
        "p90_abs_rel": round(float(np.quantile(np.abs(rel), 0.9)), 4),
        "median_rel": round(float(np.median(rel)), 4),
        "unsafe_share_site_intervals": round(float(above.sum() / max(where.sum(), 1)), 4),
        "unsafe_share_sites": round(float(above.any(axis=1).sum() / max(where.any(axis=1).sum(), 1)), 4),
        "unsafe_share_site_intervals_beyond_5pct": round(float((rel > 0.05).mean()), 4),
    }


def own_binding(twin: Twin, env, positions: np.ndarray) -> np.ndarray:
    """Where the model's export limit is bound by the site's own voltage (sites x intervals)."""
    buses = [twin.model.sites[p].bus for p in positions]
    return np.array(
        [
            [str(b).startswith("voltage") and str(b).partition(":")[2].split(".")[0] == bus for b in row]
            for bus, row in zip(buses, env.binding_export)
        ]
    )


def binding_mix(twin: Twin, env, positions: np.ndarray) -> dict:
    """What bound the model's export limits: the site's own voltage, another node's, a rating, the cap."""
    buses = [twin.model.sites[p].bus for p in positions]
    own = other = thermal = cap = 0
    for i, bus in enumerate(buses):
        for name in env.binding_export[i]:
            kind, _, where = str(name).partition(":")
            if kind.startswith("voltage"):
                own += where.split(".")[0] == bus
                other += where.split(".")[0] != bus
            elif kind == "thermal":
                thermal += 1
            else:
                cap += 1
    total = max(own + other + thermal + cap, 1)
    return {
        "own_voltage": round(own / total, 4),
        "other_voltage": round(other / total, 4),
        "thermal": round(thermal / total, 4),
        "cap": round(cap / total, 4),
    }


def run_variation(
    twin: Twin, hist, variation: float, sites: list[str], model, v_model, true_rise, own, folder: Path
) -> dict:
    """Simulate the meters at one load variation, estimate their envelopes, compare with the model's."""
    started = time.perf_counter()
    table = simulate_ami(twin, hist, seed=SEED, load_variation=variation)
    path = folder / f"ami_{variation:g}.parquet"
    table.to_parquet(path)
    simulate_s = time.perf_counter() - started
    started = time.perf_counter()
    data = read_ami(path)
    result = ami_envelope(data, "variable", start=START, horizon=f"{HOURS}h", resolution="1h")
    estimate_s = time.perf_counter() - started
    env = result.envelope
    idx = [env.site_ids.index(s) for s in sites]
    sub = data.select(sites)
    sens = result.sensitivity.subset(idx)
    # the AMI sensitivities at the model's own base point: the sensitivity error alone
    z = float(np.round(NormalDist().inv_cdf(0.95), 6))
    room, _ = headroom(sens, "export", v_model, limit_cap_w(sub), Limits(), (z, 0.0))
    same_base = room[z].T - model.forecast_import_w
    same_base_central = room[0.0].T - model.forecast_import_w
    room_i, _ = headroom(sens, "import", v_model, limit_cap_w(sub), Limits(), (z,))
    same_base_import = room_i[z].T + model.forecast_import_w
    rise, se = sens.export_rise_pu_per_w, sens.export_rise_se
    ratio = rise / true_rise
    return {
        "load_variation": variation,
        "meters": len(env.site_ids),
        "readings": int(table["voltage_v"].notna().sum()),
        "simulate_s": round(simulate_s, 1),
        "read_and_estimate_s": round(estimate_s, 1),
        "meters_p_q_one_regressor": int(result.sensitivity.combined.sum()),
        "export": compare(env.export_limit_w[idx], model.export_limit_w),
        "export_central": compare(result.export_limit_central_w[idx], model.export_limit_w),
        "export_same_base": compare(same_base, model.export_limit_w),
        "export_same_base_central": compare(same_base_central, model.export_limit_w),
        "export_own_binding": compare(env.export_limit_w[idx], model.export_limit_w, own),
        "export_same_base_own_binding": compare(same_base, model.export_limit_w, own),
        "import": compare(env.import_limit_w[idx], model.import_limit_w),
        "import_same_base": compare(same_base_import, model.import_limit_w),
        "sensitivity_ratio_median": round(float(np.median(ratio)), 4),
        "sensitivity_ratio_p10": round(float(np.quantile(ratio, 0.1)), 4),
        "sensitivity_ratio_p90": round(float(np.quantile(ratio, 0.9)), 4),
        "sensitivity_bound_covers_true": round(float(np.mean(rise + z * se >= true_rise)), 4),
    }


def run(days: int, nsites: int, variations: list[float], out_path: Path) -> int:
    twin = Twin.from_name(FEEDER)
    hist = synthetic_profiles(twin.sites, START - pd.Timedelta(days=days), days * 96, "15min", seed=SEED)
    rng = np.random.default_rng(SEED)
    sites = sorted(rng.choice(twin.site_ids, min(nsites, len(twin.site_ids)), replace=False).tolist())
    positions = twin.site_numbers(sites)
    print(f"{FEEDER}: model single-site envelopes of {len(sites)} sites x {HOURS} h...", file=sys.stderr)
    started = time.perf_counter()
    model = compute_envelope(
        twin,
        "variable",
        sites=sites,
        profiles=hist,
        start=START,
        horizon=f"{HOURS}h",
        resolution="1h",
        allocation="none",
    )
    model_s = time.perf_counter() - started
    fc = forecast(hist, START, HOURS, "1h")
    load_w, pv_w = fc.load_w[twin.site_ids].to_numpy(), fc.pv_w[twin.site_ids].to_numpy()
    v_model = model_base_voltage(twin, load_w, pv_w, positions)
    noon = HOURS // 2 + 1
    true_rise = true_export_rise(twin, load_w[noon], pv_w[noon], positions)
    own = own_binding(twin, model, positions)
    result = {
        "benchmark": "ami_envelopes",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average": os.getloadavg()},
        "settings": {
            "feeder": FEEDER,
            "history_days": days,
            "history_resolution": "15min",
            "envelope": f"variable, {HOURS} x 1h from {START.isoformat()}",
            "sample_sites": len(sites),
            "confidence": 0.95,
            "model": "single-site (allocation none), fast method, load-pf, settle-half-load",
            "relative_difference": "(AMI - model) / max(|model|, 1 kW)",
        },
        "model_s": round(model_s, 1),
        "model_export_binding": binding_mix(twin, model, positions),
        "model_import_binding": binding_mix_import(model),
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as folder:
        for variation in variations:
            print(f"{FEEDER}: meter data, load variation {variation:g}...", file=sys.stderr)
            result["runs"].append(
                run_variation(twin, hist, variation, sites, model, v_model, true_rise, own, Path(folder))
            )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2))
    print(f"\nmodel export limits bound by: {result['model_export_binding']}")
    print(f"model import limits bound by: {result['model_import_binding']}")
    head = f"{'variation':>9s} {'limits':30s} {'median |rel|':>12s} {'p90 |rel|':>10s} {'unsafe s-i':>10s} {'unsafe sites':>12s}"
    print(head)
    for r in result["runs"]:
        for key in KEYS:
            c = r[key]
            print(
                f"{r['load_variation']:9.2f} {key:30s} {100 * c['median_abs_rel']:11.1f}% {100 * c['p90_abs_rel']:9.1f}% "
                f"{100 * c['unsafe_share_site_intervals']:9.1f}% {100 * c['unsafe_share_sites']:11.1f}%"
            )
        print(
            f"{r['load_variation']:9.2f} sensitivity / twin's: median {r['sensitivity_ratio_median']:.2f}, "
            f"p10 {r['sensitivity_ratio_p10']:.2f}, p90 {r['sensitivity_ratio_p90']:.2f}; "
            f"95 % bound covers the twin's at {100 * r['sensitivity_bound_covers_true']:.0f}% of sites"
        )
    print(f"\nwrote {out_path}")
    return 0


def binding_mix_import(env) -> dict:
    """Shares of the model's import limits by kind of binding constraint."""
    kinds = pd.Series([str(b).partition(":")[0] for b in env.binding_import.ravel()]).value_counts(normalize=True)
    return {k: round(float(v), 4) for k, v in kinds.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="7 days of history, 20 sites")
    parser.add_argument("--days", type=int, default=14, help="days of 15-minute meter history (default: 14)")
    parser.add_argument("--sites", type=int, default=60, help="sample sites compared with the model (default: 60)")
    parser.add_argument("--variation", default="0.3,0", help="load variations to run, comma separated")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "ami_envelopes.json"))
    args = parser.parse_args(argv)
    days, nsites = (7, 20) if args.quick else (args.days, args.sites)
    variations = [float(v) for v in args.variation.split(",") if v.strip()]
    return run(days, nsites, variations, Path(args.out))


if __name__ == "__main__":
    sys.exit(main())
