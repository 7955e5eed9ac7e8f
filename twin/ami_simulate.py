"""Meter data from the twin: what AMI would record on a modelled feeder, to validate `ami.py` against the model.

The feeder runs through the profiles as a quasi-static time series (qsts.py:
regulators and capacitors act and carry over), and each site's meter records
its voltage (the lowest of its phases to neutral, in V), its net import P and
its Q (the load at its own power factor; PV at unity), with measurement noise
and the meter's 0.1 V and 1 W resolution.

The synthetic profiles are smooth daily shapes (3 % noise), smoother than a
house's 15-minute readings, where appliances switching on and off move each
meter on its own: `load_variation` multiplies every site's load in every
interval by an independent factor of that standard deviation (lognormal, mean 1)
before the time series, which is what lets a meter's own sensitivity be seen.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from flexbench.twin.profiles import Profiles
from flexbench.twin.qsts import run_qsts
from flexbench.twin.twin import Twin

# one standard deviation of the meters' error: 0.1 % of nominal voltage, 0.5 % of power plus 2 W / 2 var
VOLTAGE_NOISE_FRACTION = 0.001
POWER_NOISE_FRACTION = 0.005
POWER_NOISE_W = 2.0


def simulate_ami(
    twin: Twin,
    profiles: Profiles,
    *,
    seed: int = 0,
    voltage_noise_fraction: float = VOLTAGE_NOISE_FRACTION,
    power_noise_fraction: float = POWER_NOISE_FRACTION,
    load_variation: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """A long table (meter_id, timestamp, voltage_v, p_w, q_var, nominal_v) over the profiles' intervals."""
    prof = profiles.for_sites(twin.site_ids)
    rng = np.random.default_rng(seed)
    if load_variation > 0:
        sigma = np.sqrt(np.log1p(load_variation**2))
        factor = rng.lognormal(-sigma * sigma / 2, sigma, prof.load_w.shape)
        prof = Profiles(prof.load_w * factor, prof.pv_w, prof.source)
    result = run_qsts(twin, prof, progress=progress)
    m = twin.model
    nominal_v = np.array(
        [
            max(m.base_v[m.node_index[f"{s.bus}.{k}"]] for k in s.nodes if f"{s.bus}.{k}" in m.node_index)
            for s in m.sites
        ]
    )
    load, pv = prof.load_w.to_numpy(), prof.pv_w.to_numpy()
    p = load - pv
    q = load * m.load_q_ratio[None, :]
    v = result.site_voltage_pu.to_numpy() * nominal_v[None, :]
    v = v + rng.normal(0.0, voltage_noise_fraction, v.shape) * nominal_v[None, :]
    p = p + rng.normal(0.0, 1.0, p.shape) * (power_noise_fraction * np.abs(p) + POWER_NOISE_W)
    q = q + rng.normal(0.0, 1.0, q.shape) * (power_noise_fraction * np.abs(q) + POWER_NOISE_W)
    nt, ns = v.shape
    return pd.DataFrame(
        {
            "meter_id": np.tile(np.array(twin.site_ids, dtype=object), nt),
            "timestamp": np.repeat(prof.index, ns),
            "voltage_v": np.round(v, 1).ravel(),
            "p_w": np.round(p).ravel(),
            "q_var": np.round(q).ravel(),
            "nominal_v": np.tile(np.round(nominal_v, 3), nt),
        }
    )
