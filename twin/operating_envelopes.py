"""Static, variable and dynamic operating envelopes: the twin's public entry points.

- static: month x hour worst cases of a year of load/PV (Load Limit Letter /
  Limited Generation Profile style); firm = the worst month-hour.
- variable: a day-ahead schedule (72 h by default) from a forecast; firm = the
  worst interval of the horizon unless given.
- dynamic: one near-real-time interval from a measured state (site powers,
  substation voltage, feeder-head flow); firm from the caller (e.g. the static
  envelope) or the interval itself.

Intervals are independent (each settles its own regulator taps from the same
start), so they can be split across worker processes.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from flexbench.twin.compute import EnvelopeSettings, IntervalEngine, IntervalResult
from flexbench.twin.controls import ControlState, control_state
from flexbench.twin.envelope import EnvelopeSet
from flexbench.twin.errors import ProfileError, TwinError
from flexbench.twin.feeders import FeederSource
from flexbench.twin.limits import EXPORT, IMPORT, binding_name, limit_text
from flexbench.twin.model import FeederModel
from flexbench.twin.profiles import (
    Profiles,
    forecast,
    month_hour_worst,
    parse_duration,
    parse_resolution,
    synthetic_profiles,
)
from flexbench.twin.threads import set_blas_threads, single_blas_thread
from flexbench.twin.twin import INJECTION_MODELS, Limits, Twin
from flexbench.twin.worker_memory import keep_freed_memory

Progress = Callable[[int, int], None]
# Controls carry over from interval to interval within a block; each block starts
# from the twin's reference control state, so results do not depend on how many
# workers share the blocks.
BLOCK_INTERVALS = 12


@dataclass
class MeasuredState:
    """What the operator measures now: site net powers, head voltage and flow (SCADA/AMI)."""

    timestamp: pd.Timestamp
    site_power_w: Mapping[str, float] = field(default_factory=dict)
    source_voltage_pu: float | None = None
    feeder_head_power_w: float | None = None


# -- public API -------------------------------------------------------------------------
def compute_envelope(
    twin: Twin,
    kind: str = "variable",
    *,
    sites: list[str] | None = None,
    profiles: Profiles | None = None,
    start: str | pd.Timestamp | None = None,
    horizon: str = "72h",
    resolution: str | None = None,
    allocation: str = "equal",
    method: str = "fast",
    injection_model: str = INJECTION_MODELS[0],
    limits: Limits | None = None,
    controls: ControlState | str | Path | None = None,
    measured: MeasuredState | None = None,
    firm_import_w: np.ndarray | None = None,
    firm_export_w: np.ndarray | None = None,
    workers: int = 1,
    progress: Progress | None = None,
    seed: int = 0,
) -> EnvelopeSet:
    """Envelopes of the given sites (all by default) of a twin.

    profiles: measured/forecast load and PV (W) per site; synthetic shapes when
    None. injection_model: how a site's extra import enters the feeder,
    'load-pf' (its own load's power factor and load model, the default) or
    'unity' (extra export is at unity power factor under both). controls: where regulator
    taps and capacitor states come from, a policy name or a measured state file (controls.py). For 'variable', profiles that end before start are history and are
    turned into a forecast; for 'static', they must cover a year. resolution
    defaults to 1h (15min for dynamic).
    """
    resolution = resolution or ("15min" if kind == "dynamic" else "1h")
    settings = EnvelopeSettings(
        limits=limits or Limits(),
        method=method,
        allocation=allocation,
        injection_model=injection_model,
        controls=control_state(controls),
    )
    if kind == "variable":
        return variable_envelope(
            twin,
            sites=sites,
            profiles=profiles,
            start=start,
            horizon=horizon,
            resolution=resolution,
            settings=settings,
            firm_import_w=firm_import_w,
            firm_export_w=firm_export_w,
            workers=workers,
            progress=progress,
            seed=seed,
        )
    if kind == "static":
        return static_envelope(
            twin,
            sites=sites,
            profiles=profiles,
            start=start,
            settings=settings,
            workers=workers,
            progress=progress,
            seed=seed,
        )
    if kind == "dynamic":
        return dynamic_envelope(
            twin,
            measured=measured,
            sites=sites,
            profiles=profiles,
            resolution=resolution,
            settings=settings,
            firm_import_w=firm_import_w,
            firm_export_w=firm_export_w,
            progress=progress,
            seed=seed,
        )
    raise TwinError(f"envelope kind {kind!r}: use static, variable or dynamic")


def variable_envelope(
    twin: Twin,
    *,
    sites: list[str] | None = None,
    profiles: Profiles | None = None,
    start=None,
    horizon: str = "72h",
    resolution: str = "1h",
    settings: EnvelopeSettings | None = None,
    firm_import_w=None,
    firm_export_w=None,
    workers: int = 1,
    progress: Progress | None = None,
    seed: int = 0,
) -> EnvelopeSet:
    """A day-ahead style schedule of limits over the horizon."""
    settings = settings or EnvelopeSettings()
    prof, res = horizon_profiles(twin, profiles, start, horizon, resolution, seed)
    positions = twin.site_numbers(sites)
    results = run_intervals(
        twin,
        positions,
        settings,
        prof.load_w.to_numpy(),
        prof.pv_w.to_numpy(),
        workers=workers,
        progress=progress,
    )
    intervals = pd.DataFrame({"start": prof.index, "duration_s": int(res.total_seconds()), "month": 0, "hour": -1})
    return assemble(twin, "variable", settings, positions, intervals, results, firm_import_w, firm_export_w)


def static_envelope(
    twin: Twin,
    *,
    sites: list[str] | None = None,
    profiles: Profiles | None = None,
    start=None,
    settings: EnvelopeSettings | None = None,
    workers: int = 1,
    progress: Progress | None = None,
    seed: int = 0,
) -> EnvelopeSet:
    """A month x hour profile of limits from the worst cases of a year."""
    settings = settings or EnvelopeSettings()
    if profiles is None:
        year0 = pd.Timestamp(start).year if start is not None else pd.Timestamp.now(tz="UTC").year
        profiles = synthetic_profiles(twin.sites, pd.Timestamp(f"{year0}-01-01", tz="UTC"), 8760, "1h", seed=seed)
    profiles = profiles.for_sites(twin.site_ids, _nominal(twin))
    keys, imp, exp = month_hour_worst(profiles)
    positions = twin.site_numbers(sites)
    n = len(keys)
    loads = np.vstack([imp.load_w.to_numpy(), exp.load_w.to_numpy()])
    pvs = np.vstack([imp.pv_w.to_numpy(), exp.pv_w.to_numpy()])
    directions = [(IMPORT,)] * n + [(EXPORT,)] * n
    results = run_intervals(
        twin, positions, settings, loads, pvs, workers=workers, progress=progress, directions=directions
    )
    merged = []
    for a, b in zip(results[:n], results[n:]):
        merged.append(
            IntervalResult(
                a.import_headroom_w,
                b.export_headroom_w,
                a.binding_import,
                b.binding_export,
                a.forecast_net_w,
                a.verified and b.verified,
                a.power_flows + b.power_flows,
                a.limit_import,
                b.limit_export,
                a.rule_import,
                b.rule_export,
            )
        )
    intervals = pd.DataFrame(
        {
            "start": pd.Series([pd.NaT] * n, dtype="datetime64[ns, UTC]"),
            "duration_s": 3600,
            "month": keys["month"].to_numpy(dtype=int),
            "hour": keys["hour"].to_numpy(dtype=int),
        }
    )
    return assemble(twin, "static", settings, positions, intervals, merged, None, None)


def dynamic_envelope(
    twin: Twin,
    *,
    measured: MeasuredState | None = None,
    sites: list[str] | None = None,
    profiles: Profiles | None = None,
    resolution: str = "15min",
    settings: EnvelopeSettings | None = None,
    firm_import_w=None,
    firm_export_w=None,
    progress: Progress | None = None,
    seed: int = 0,
) -> EnvelopeSet:
    """One near-real-time interval from a measured state (default: the profile at now)."""
    settings = settings or EnvelopeSettings()
    res = parse_resolution(resolution)
    if measured is None:
        now = pd.Timestamp.now(tz="UTC").floor(res)
        measured = MeasuredState(now)
    ts = pd.Timestamp(measured.timestamp)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    positions = twin.site_numbers(sites)
    prior = _profiles_for(twin, profiles, ts.floor(res), 1, res, seed)
    source_pu = twin.source_pu()
    try:
        load_w, pv_w = estimate_state(twin, measured, prior.load_w.to_numpy()[0], prior.pv_w.to_numpy()[0])
        engine = twin.envelope_engine(positions, settings)
        if progress:
            progress(0, 1)
        with single_blas_thread():
            result = engine.interval(load_w, pv_w, source_pu=measured.source_voltage_pu)
        if progress:
            progress(1, 1)
    finally:
        twin.set_source_pu(source_pu)  # the measurement was for this interval only
    intervals = pd.DataFrame({"start": [ts.floor(res)], "duration_s": int(res.total_seconds()), "month": 0, "hour": -1})
    return assemble(twin, "dynamic", settings, positions, intervals, [result], firm_import_w, firm_export_w)


def horizon_profiles(
    twin: Twin, profiles: Profiles | None, start, horizon: str, resolution: str, seed: int
) -> tuple[Profiles, pd.Timedelta]:
    """The forecast load and PV of every site over a variable envelope's horizon, and the interval length."""
    res = parse_resolution(resolution)
    periods = int(parse_duration(horizon) / res)
    if periods < 1:
        raise TwinError(f"horizon {horizon} is shorter than one {resolution} interval")
    return _profiles_for(twin, profiles, _start(start, profiles, res), periods, res, seed), res


def estimate_state(
    twin: Twin, measured: MeasuredState, prior_load_w: np.ndarray, prior_pv_w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Loads and PV of every site consistent with the measurements.

    Measured sites take their measured net power (as load, PV zero); the others
    keep their prior (forecast) shape, scaled so that the feeder-head power
    matches the SCADA value when one is given.
    """
    load = np.asarray(prior_load_w, dtype=float).copy()
    pv = np.asarray(prior_pv_w, dtype=float).copy()
    measured_pos = []
    if measured.site_power_w:
        ids = list(measured.site_power_w)
        pos = twin.site_numbers(ids)
        for p, sid in zip(pos, ids):
            load[p] = float(measured.site_power_w[sid])
            pv[p] = 0.0
        measured_pos = list(pos)
    if measured.source_voltage_pu is not None:
        twin.set_source_pu(float(measured.source_voltage_pu))
    if measured.feeder_head_power_w is not None:
        free = np.ones(len(load), dtype=bool)
        free[measured_pos] = False
        target = float(measured.feeder_head_power_w)
        scale = 1.0
        for _ in range(4):
            trial = load.copy()
            trial[free] *= scale
            twin.reset_controls()
            twin.set_operating_point(trial, pv)
            twin.solve_forecast("while matching the measured feeder-head power")
            head_w = -float(twin.engine.dss.Circuit.TotalPower()[0]) * 1000.0
            free_w = float((trial[free] - pv[free]).sum())
            if abs(head_w - target) < 1e-4 * max(abs(target), 1.0) or abs(free_w) < 1.0:
                break
            scale *= max(0.05, 1.0 + (target - head_w) / max(float(trial[free].sum()), 1.0))
        load[free] *= scale
    return load, pv


# -- running intervals ------------------------------------------------------------------
_WORKER: dict = {}
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _init_worker(source: FeederSource | Twin, positions: np.ndarray, settings: EnvelopeSettings) -> None:
    """A worker's engine: on the twin it was forked with, or on its own compile of the feeder."""
    set_blas_threads(1)
    keep_freed_memory()
    try:
        if isinstance(source, Twin):
            source.engine.forked()
            # the caller's engine, sensitivities built, as it was at the fork
            _WORKER["engine"] = source.envelope_engine(positions, settings)
            return
        twin = Twin(source)
    except TwinError as exc:
        # an error in a pool initializer only breaks the pool; keep it for the first task
        _WORKER["error"] = exc
        return
    _WORKER["engine"] = IntervalEngine(twin, positions, settings)


def _pool_start(twin: Twin) -> tuple[multiprocessing.context.BaseContext, FeederSource | Twin]:
    """Fork where that is safe, spawn elsewhere, and what the workers start from.

    A forked worker starts from the caller's imports, compiled twin and interval
    engine instead of repeating them (about 6 s per worker on IEEE 8500, and the
    engine's sensitivities stay on the twin for its next call). Forking a process whose
    other threads may hold locks is not safe, so a threaded caller (a bench, a
    server) gets spawned workers that compile the feeder themselves.
    """
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork"), twin
    return multiprocessing.get_context("spawn"), twin.source


def _run_chunk(items: list[tuple[int, np.ndarray, np.ndarray, tuple[str, ...]]]):
    if "error" in _WORKER:
        raise _WORKER["error"]
    engine: IntervalEngine = _WORKER["engine"]
    return [(k, engine.interval(load, pv, directions=d, reset=k % BLOCK_INTERVALS == 0)) for k, load, pv, d in items]


def run_intervals(
    twin: Twin,
    positions: np.ndarray,
    settings: EnvelopeSettings,
    loads_w: np.ndarray,
    pvs_w: np.ndarray,
    *,
    workers: int = 1,
    progress: Progress | None = None,
    directions: Sequence[tuple[str, ...]] | None = None,
) -> list[IntervalResult]:
    """Compute every interval (rows of loads_w/pvs_w over all sites), in order."""
    total = len(loads_w)
    directions = directions or [(IMPORT, EXPORT)] * total
    results: list[IntervalResult | None] = [None] * total
    workers = max(1, min(int(workers or 1), os.cpu_count() or 1, total))
    if progress:
        progress(0, total)
    if workers == 1:
        engine = twin.envelope_engine(positions, settings)
        with single_blas_thread():
            for k in range(total):
                results[k] = engine.interval(
                    loads_w[k], pvs_w[k], directions=directions[k], reset=k % BLOCK_INTERVALS == 0
                )
                if progress:
                    progress(k + 1, total)
        return results  # type: ignore[return-value]
    items = [(k, loads_w[k], pvs_w[k], directions[k]) for k in range(total)]
    chunks = [items[i : i + BLOCK_INTERVALS] for i in range(0, total, BLOCK_INTERVALS)]
    ctx, start_from = _pool_start(twin)
    if isinstance(start_from, Twin):
        # built once here rather than in every worker, and kept on the twin for its next call
        twin.envelope_engine(positions, settings).prepare(loads_w[0], pvs_w[0])
    done = 0
    # one BLAS thread per worker (the workers are the parallelism); workers start
    # while the futures are submitted, so the setting is restored after that
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    os.environ.update({k: "1" for k in _THREAD_VARS})
    try:
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(start_from, positions, settings),
        )
        futures = [pool.submit(_run_chunk, c) for c in chunks]
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
    with pool:
        for fut in as_completed(futures):
            for k, res in fut.result():
                results[k] = res
                done += 1
            if progress:
                progress(done, total)
    return results  # type: ignore[return-value]


def assemble(
    twin: Twin,
    kind: str,
    settings: EnvelopeSettings,
    positions: np.ndarray,
    intervals: pd.DataFrame,
    results: list[IntervalResult],
    firm_import_w=None,
    firm_export_w=None,
) -> EnvelopeSet:
    """Turn interval headroom into absolute limits, firm and non-firm parts."""
    m = twin.model
    lim = settings.limits
    forecast_w = np.column_stack([r.forecast_net_w for r in results])
    # signed: a negative export limit means the site must keep importing at least that
    # much (its generation may not cover all of its load), and vice versa
    imp = forecast_w + np.column_stack([r.import_headroom_w for r in results])
    exp = np.column_stack([r.export_headroom_w for r in results]) - forecast_w
    names = {}

    def name(code: int) -> str:
        if code not in names:
            names[code] = binding_name(m, code)
        return names[code]

    bind_i = np.array([[name(int(c)) for c in r.binding_import] for r in results], dtype=object).T
    bind_e = np.array([[name(int(c)) for c in r.binding_export] for r in results], dtype=object).T
    nv = len(m.vnode_index)
    texts: dict[tuple, str] = {}

    def held(codes, values, rules) -> list[str]:
        if values is None or rules is None:
            return [""] * len(codes)
        out = []
        for c, v, r in zip(codes.tolist(), values.tolist(), rules.tolist()):
            key = (c, v, r)
            if key not in texts:
                texts[key] = limit_text(nv, c, v, r, 0 <= c < 2 * nv and bool(m.vrow_ll[c % nv]))
            out.append(texts[key])
        return out

    held_i = np.array([held(r.binding_import, r.limit_import, r.rule_import) for r in results], dtype=object).T
    held_e = np.array([held(r.binding_export, r.limit_export, r.rule_export) for r in results], dtype=object).T
    firm_i = np.asarray(firm_import_w, dtype=float) if firm_import_w is not None else imp.min(axis=1)
    firm_e = np.asarray(firm_export_w, dtype=float) if firm_export_w is not None else exp.min(axis=1)
    if firm_i.shape != (len(positions),) or firm_e.shape != (len(positions),):
        raise TwinError(f"firm limits need one value per site ({len(positions)})")
    firm_i = np.maximum(np.minimum(firm_i, imp.min(axis=1)), 0.0)
    firm_e = np.maximum(np.minimum(firm_e, exp.min(axis=1)), 0.0)
    intervals = intervals.reset_index(drop=True)
    intervals["start"] = pd.to_datetime(intervals["start"], utc=True)
    return EnvelopeSet(
        feeder=twin.name,
        kind=kind,
        method=settings.method,
        allocation=settings.allocation,
        site_ids=[m.sites[p].site_id for p in positions],
        intervals=intervals,
        import_limit_w=imp,
        export_limit_w=exp,
        firm_import_w=firm_i,
        firm_export_w=firm_e,
        forecast_import_w=forecast_w,
        binding_import=bind_i,
        binding_export=bind_e,
        vmin_pu=lim.vmin_pu,
        vmax_pu=lim.vmax_pu,
        verified=all(r.verified for r in results),
        binding_import_limit=held_i,
        binding_export_limit=held_e,
        thermal_ratings=f"model: line normamps, transformer kVA (winding 1); x {lim.thermal_fraction:g}",
        injection_model=settings.injection_model,
        regulator_policy=settings.controls.describe(BLOCK_INTERVALS),
        base_violation_rule=lim.base_violation_rule,
        base_violation_tolerance_pu=lim.base_violation_tolerance_pu,
        base_violation_tolerance_fraction=lim.base_violation_tolerance_fraction,
        vmin_ll_pu=lim.ll_band[0],
        vmax_ll_pu=lim.ll_band[1],
        voltages=voltage_kinds(m),
    )


# -- helpers ------------------------------------------------------------------------------
def voltage_kinds(m: FeederModel) -> str:
    """Which voltages the envelope bounds, as its meta data records it."""
    ll = int(m.vrow_ll.sum())
    text = f"line-to-neutral at {len(m.vrow_ll) - ll} nodes of grounded sections"
    return text + (f", line-to-line at {ll} phase pairs of ungrounded sections" if ll else "")


def _nominal(twin: Twin) -> pd.Series:
    return pd.Series({s.site_id: 0.6 * s.nominal_w for s in twin.sites})


def _start(start, profiles: Profiles | None, res: pd.Timedelta) -> pd.Timestamp:
    if start is not None:
        ts = pd.Timestamp(start)
        return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).floor(res)
    if profiles is not None:
        last = profiles.index[-1]
        return (last + profiles.resolution).floor(res) if last < pd.Timestamp.now(tz="UTC") else profiles.index[0]
    return (pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)).normalize()


def _profiles_for(twin: Twin, profiles: Profiles | None, start, periods: int, res, seed: int) -> Profiles:
    """Forecast rows for the horizon: synthetic, the given rows, or a forecast from history."""
    if profiles is None:
        return synthetic_profiles(twin.sites, start, periods, res, seed=seed)
    prof = profiles.for_sites(twin.site_ids, _nominal(twin))
    end = start + periods * res
    if prof.index[0] <= start and prof.index[-1] + prof.resolution >= end:
        return prof.resample(res).window(start, periods)
    if prof.index[-1] < start:
        return forecast(prof, start, periods, res)
    raise ProfileError(
        f"{profiles.source}: covers {prof.index[0]} to {prof.index[-1]}, "
        f"neither the horizon {start} to {end} nor history before it"
    )
