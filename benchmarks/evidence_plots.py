"""CPU time of one evidence plot, as every test of a run renders one for its report.

A run of ten minutes of bench time sampled at 10 Hz (PCC and DUT power, the
limit in force as steps, a response and a steady-state window): the plot of
its last two minutes is rendered `--plots` times after a warm-up. CPU time
(process_time) is the figure, since reports are rendered while a run's
threads compete for the cores.

Prints the median and p90 in milliseconds and writes JSON.

    python benchmarks/evidence_plots.py                 # 30 plots
    python benchmarks/evidence_plots.py --plots 100 --out results.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from flexbench.core import channels
from flexbench.lab.plots import render_evidence_png

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "evidence_plots.json"
RUN_S = 600.0
SAMPLE_PERIOD_S = 0.1


def samples() -> pd.DataFrame:
    t_s = np.arange(0.0, RUN_S, SAMPLE_PERIOD_S)
    limit_w = np.where(t_s < RUN_S - 90.0, 10_000.0, 6_600.0)
    dut_w = np.minimum(limit_w, 9_800.0) + 30.0 * np.sin(t_s)
    frames = [
        pd.DataFrame({"t_s": t_s, "channel": channels.DUT_P_W, "value": dut_w}),
        pd.DataFrame({"t_s": t_s, "channel": channels.PCC_P_W, "value": 500.0 - dut_w}),
        pd.DataFrame({"t_s": t_s[::50], "channel": channels.LIMIT_W, "value": limit_w[::50]}),
    ]
    return pd.concat(frames, ignore_index=True)


def spec() -> dict:
    step_s = RUN_S - 90.0
    return {
        "title": "Limit 66 % of 10000 W",
        "t_cmd_s": step_s,
        "start_s": step_s - 30.0,
        "end_s": RUN_S,
        "channels": {channels.DUT_P_W: "DUT active power", channels.PCC_P_W: "PCC import"},
        "steps": {channels.LIMIT_W: "limit"},
        "windows": [
            {"start_s": step_s, "end_s": step_s + 30.0, "label": "response window 30 s"},
            {"start_s": step_s + 60.0, "end_s": RUN_S, "label": "steady-state window"},
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plots", type=int, default=30)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    data, plot = samples(), spec()
    for _ in range(3):
        render_evidence_png(data, plot)
    cpu_ms = []
    for _ in range(args.plots):
        start = time.process_time()
        png = render_evidence_png(data, plot)
        cpu_ms.append((time.process_time() - start) * 1000.0)
    cpu_ms.sort()
    result = {
        "plots": args.plots,
        "samples": len(data),
        "median_cpu_ms": round(statistics.median(cpu_ms), 1),
        "p90_cpu_ms": round(cpu_ms[min(len(cpu_ms) - 1, round(0.9 * (len(cpu_ms) - 1)))], 1),
        "png_bytes": len(png),
        "python": platform.python_version(),
    }
    print(f"evidence plot: median {result['median_cpu_ms']} ms CPU, p90 {result['p90_cpu_ms']} ms ({args.plots} plots)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
