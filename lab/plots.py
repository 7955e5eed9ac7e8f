"""Evidence plots: the power at the DUT and at the PCC against the limit, windows shaded.

The plot is drawn from the recorded samples and an evidence spec saved with
the results, so a report rebuilt from a run folder shows the same figures.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown")
_WINDOW_COLORS = ("tab:red", "tab:green", "tab:gray")


def channel_series(samples: pd.DataFrame, channel: str, start_s: float, end_s: float) -> tuple[np.ndarray, np.ndarray]:
    rows = samples[(samples["channel"] == channel) & (samples["t_s"] >= start_s) & (samples["t_s"] <= end_s)]
    return rows["t_s"].to_numpy(float), rows["value"].to_numpy(float)


def step_series(samples: pd.DataFrame, channel: str, start_s: float, end_s: float) -> tuple[np.ndarray, np.ndarray]:
    """A setpoint channel as a step line over [start_s, end_s], including the value in force at start_s."""
    rows = samples[samples["channel"] == channel].sort_values("t_s")
    before = rows[rows["t_s"] < start_s].tail(1)
    inside = rows[(rows["t_s"] >= start_s) & (rows["t_s"] <= end_s)]
    t = list(inside["t_s"])
    v = list(inside["value"])
    if not before.empty:
        t.insert(0, start_s)
        v.insert(0, float(before["value"].iloc[0]))
    if t:
        t.append(end_s)
        v.append(v[-1])
    return np.asarray(t, float), np.asarray(v, float)


def render_evidence_png(samples: pd.DataFrame, spec: dict[str, Any]) -> bytes:
    """PNG of one test's evidence. spec keys: title, t_cmd_s, start_s, end_s, channels {channel: label},
    steps {channel: label} (setpoints drawn as steps), windows [{start_s, end_s, label}];
    optional: unit_scale (values are divided by it, default 1000 for kW), ylabel, xlabel."""
    t0 = float(spec["t_cmd_s"])
    start_s, end_s = float(spec["start_s"]), float(spec["end_s"])
    scale = float(spec.get("unit_scale", 1000.0))
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=90)
    try:
        for i, (channel, label) in enumerate(spec.get("channels", {}).items()):
            t, v = channel_series(samples, channel, start_s, end_s)
            ax.plot(t - t0, v / scale, color=_COLORS[i % len(_COLORS)], lw=1.4, label=label)
        for i, (channel, label) in enumerate(spec.get("steps", {}).items()):
            t, v = step_series(samples, channel, start_s, end_s)
            ax.step(
                t - t0,
                v / scale,
                where="post",
                color="black",
                lw=1.2 if i == 0 else 0.9,
                ls="-" if i == 0 else "--",
                label=label,
            )
        for i, window in enumerate(spec.get("windows", [])):
            ax.axvspan(
                float(window["start_s"]) - t0,
                float(window["end_s"]) - t0,
                color=_WINDOW_COLORS[i % len(_WINDOW_COLORS)],
                alpha=0.12,
                label=window["label"],
            )
        ax.axvline(0.0, color="gray", lw=0.8)
        ax.set_xlim(start_s - t0, end_s - t0)
        ax.set_xlabel(spec.get("xlabel", "time from command (s, bench time)"))
        ax.set_ylabel(spec.get("ylabel", "active power (kW)"))
        ax.set_title(spec.get("title", ""), fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=7, ncol=2)
        # fixed margins for the fixed figure size: tight_layout would measure every label on every plot
        fig.subplots_adjust(left=0.075, right=0.985, bottom=0.14, top=0.91)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)
