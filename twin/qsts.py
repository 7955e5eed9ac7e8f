"""Quasi-static time series: the feeder solved interval by interval over a horizon.

Regulators and capacitors carry their state from one interval to the next, as in
a real day. The result is what operators look at before any envelope: site
voltages, the extremes over the feeder, conductor loading and regulator taps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from flexbench.twin.profiles import Profiles
from flexbench.twin.twin import Twin


@dataclass
class QstsResult:
    """Per-interval results (index: interval start, UTC)."""

    site_voltage_pu: pd.DataFrame  # lowest terminal voltage of each site
    summary: pd.DataFrame  # vmin_pu, vmax_pu, max_loading, head_power_w, losses_w
    taps: pd.DataFrame  # regulator tap numbers


def run_qsts(twin: Twin, profiles: Profiles, progress: Callable[[int, int], None] | None = None) -> QstsResult:
    """Solve every interval of profiles (columns: the twin's site ids) in order."""
    prof = profiles.for_sites(twin.site_ids)
    m = twin.model
    loads, pvs = prof.load_w.to_numpy(), prof.pv_w.to_numpy()
    site_nodes = [[m.node_index[f"{s.bus}.{k}"] for k in s.nodes if f"{s.bus}.{k}" in m.node_index] for s in m.sites]
    dss = twin.engine.dss
    reg_names = list(dss.RegControls.AllNames()) if dss.RegControls.Count() else []
    volts, rows, taps = [], [], []
    twin.reset_controls()
    total = len(prof.index)
    for k in range(total):
        twin.set_operating_point(loads[k], pvs[k])
        st = twin.solve_forecast(f"at {prof.index[k]}")
        vpu = np.abs(st.voltages) / np.where(m.base_v > 0, m.base_v, 1.0)
        volts.append([vpu[n].min() if n else np.nan for n in site_nodes])
        power = dss.Circuit.TotalPower()
        losses = dss.Circuit.Losses()
        rows.append(
            {
                "vmin_pu": float(st.vm_pu.min()),
                "vmax_pu": float(st.vm_pu.max()),
                "max_loading": float((st.im_a / m.thermal_rating_a).max()),
                "head_power_w": -float(power[0]) * 1000.0,
                "losses_w": float(losses[0]),
            }
        )
        taps.append(list(twin.engine.control_state()[0]))
        if progress:
            progress(k + 1, total)
    idx = prof.index
    return QstsResult(
        pd.DataFrame(volts, index=idx, columns=twin.site_ids),
        pd.DataFrame(rows, index=idx),
        pd.DataFrame(taps, index=idx, columns=reg_names[: len(taps[0])] if taps else reg_names),
    )
