"""Group envelopes: one limit for several sites that share equipment, and its split among them.

An aggregator coordinating the sites behind one service transformer (the
ruling's Q26) needs, per interval, what the shared equipment and the feeder let
the group import and export as a whole, and a split of that among its sites.

What the group limit guarantees: in each interval, with every site outside the
group at its forecast, any split of the group's total among its sites keeps
every voltage and rating within limits, as long as the total stays at or below
the group limit and every site stays at or above its own forecast (import: net
import; export: net export). The aggregator may re-allocate freely, even put
the group's whole headroom on one site; it may not make room by pushing a site
below its forecast.

How: the splits that put everything on one site are the corners of that set of
splits, and on the linearized network a constraint is worst at a corner, so the
group headroom starts at the smallest single-site headroom of the members
(every other site at its forecast). Full power flows then check every corner,
the equal split and the published allocation; if any breaks a limit, the
headroom shrinks (bisection) until every split passes. The per-site allocation
is the twin's joint allocation among the members (equal, proportional,
max-total), scaled down where its sum would exceed the group limit; it is an
ordinary envelope file, published as is.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from flexbench.twin.allocation import ALLOCATIONS
from flexbench.twin.compute import EnvelopeSettings, IntervalResult
from flexbench.twin.envelope import EnvelopeSet, read_table
from flexbench.twin.errors import SiteError, TwinError, suggest
from flexbench.twin.limits import (
    ACCEPT_TOL_PU,
    CAP,
    CHECK_TOL_PU,
    EXPORT,
    IMPORT,
    binding_name,
    held_limits,
    limit_text,
    usage,
)
from flexbench.twin.operating_envelopes import BLOCK_INTERVALS, assemble, horizon_profiles
from flexbench.twin.profiles import Profiles
from flexbench.twin.threads import single_blas_thread
from flexbench.twin.twin import INJECTION_MODELS, EffectiveLimits, Limits, Twin
from flexbench.twin.verify import forecast_limits, limits_of

GROUP_SCHEMA = "flexbench-group-envelope/1"
GUARANTEE = (
    "any split of the group total among its sites, each at or above its forecast and every other site "
    "at its forecast, keeps voltages and ratings within limits"
)
TRANSFORMER_PREFIX = "transformer:"
# the bisection of the group headroom stops within this (W, or fraction of the headroom)
TOL_W = 10.0
TOL_REL = 1e-3

Progress = Callable[[int, int], None]


# -- which sites ------------------------------------------------------------------------
def group_sites(twin: Twin, spec: str) -> list[str]:
    """Site ids of a group given as 'transformer:NAME', a file of site ids, or 'ID,ID,...'.

    A file holds site ids separated by commas or new lines; '#' starts a comment.
    Unknown sites are refused naming the file and line.
    """
    if spec.lower().startswith(TRANSFORMER_PREFIX):
        element = "Transformer." + spec[len(TRANSFORMER_PREFIX) :].strip()
        behind = sites_behind(twin, element)
        if len(behind) == 1:
            raise SiteError(
                f"{element} feeds one site ({behind[0]}): a group needs at least two (the IEEE feeders model one "
                "customer per service transformer; twin.synthetic.write_customer_feeder makes several)"
            )
        return behind
    path = Path(spec)
    if path.is_file():
        ids: list[str] = []
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for sid in (s.strip() for s in line.split("#")[0].split(",")):
                if sid:
                    if sid.lower() not in twin.model.site_index:
                        raise SiteError(
                            f"{path}:{number}: site {sid!r} is not on feeder {twin.name}"
                            f"{suggest(sid, twin.model.site_index)}"
                        )
                    ids.append(sid)
        return ids
    ids = [s.strip() for s in spec.split(",") if s.strip()]
    twin.site_numbers(ids)  # unknown sites: SiteError with near names
    return ids


def sites_behind(twin: Twin, element: str) -> list[str]:
    """The sites whose path to the source passes through element (e.g. 'Transformer.t5138259c')."""
    key = element.lower()
    paths = _paths(twin)
    found = [s.site_id for s, path in zip(twin.sites, paths) if key in path]
    if found:
        return found
    known = sorted({e for els in twin.model.bus_elements.values() for e in els if e.lower().startswith("transformer.")})
    kind, _, name = element.partition(".")
    names = [e.partition(".")[2] for e in known]
    if name.lower() in (n.lower() for n in names):
        raise SiteError(f"{element} on feeder {twin.name} feeds no customer location")
    raise SiteError(f"{kind.lower()} {name!r} is not on feeder {twin.name}{suggest(name, names)}")


def shared_equipment(twin: Twin, site_ids: list[str]) -> list[str]:
    """Elements every member's path to the source passes through, nearest first, beyond the feeder head.

    The feeder head (what every site of the feeder passes through) is left out:
    sites that share nothing else share no equipment as a group. SiteError then.
    """
    if len(site_ids) < 2:
        raise SiteError(f"a group needs at least two sites, got {', '.join(site_ids) or 'none'}")
    positions = twin.site_numbers(site_ids)
    paths = _paths(twin)
    ordered = _path_list(twin, twin.sites[positions[0]].bus)
    common = set.intersection(*(paths[p] for p in positions))
    everyone = set.intersection(*paths) if paths else set()
    shared = [e for e in ordered if e.lower() in common and e.lower() not in everyone]
    if not shared:
        meet = next((e for e in ordered if e.lower() in common), twin.model.source_bus)
        listed = ", ".join(site_ids[:5]) + (f" and {len(site_ids) - 5} more" if len(site_ids) > 5 else "")
        raise SiteError(
            f"sites {listed} share no equipment: their paths to the source meet at {meet}, "
            f"which every site of {twin.name} passes through"
        )
    return shared


def _path_list(twin: Twin, bus: str) -> list[str]:
    parent = twin.model.bus_parent
    out: list[str] = []
    while bus in parent and len(out) < len(parent):
        bus, element = parent[bus]
        out.append(element)
    return out


def _paths(twin: Twin) -> list[set[str]]:
    cached = getattr(twin, "_group_paths", None)
    if cached is None:
        cached = [{e.lower() for e in _path_list(twin, s.bus)} for s in twin.sites]
        twin._group_paths = cached  # type: ignore[attr-defined]
    return cached


# -- the group envelope -------------------------------------------------------------------
@dataclass
class GroupEnvelope:
    """A group's limits per interval (W, arrays over intervals) beside the per-site allocation (`sites`)."""

    name: str
    shared_equipment: str
    sites: EnvelopeSet
    import_limit_w: np.ndarray
    export_limit_w: np.ndarray
    binding_import: np.ndarray
    binding_export: np.ndarray
    binding_import_limit: np.ndarray
    binding_export_limit: np.ndarray
    # the split that bound: 'all on SITE', 'equal' or 'allocation'
    binding_import_split: np.ndarray
    binding_export_split: np.ndarray
    # the largest usage (pu, or fraction of a rating) the power flows found over the checked splits
    worst_import_usage: np.ndarray
    worst_export_usage: np.ndarray
    verified: bool = True

    @property
    def site_ids(self) -> list[str]:
        return self.sites.site_ids

    @property
    def forecast_import_w(self) -> np.ndarray:
        return self.sites.forecast_import_w.sum(axis=0)

    @property
    def allocated_import_w(self) -> np.ndarray:
        return self.sites.import_limit_w.sum(axis=0)

    @property
    def allocated_export_w(self) -> np.ndarray:
        return self.sites.export_limit_w.sum(axis=0)

    def meta(self) -> dict:
        return {
            **self.sites.meta(),
            "schema": GROUP_SCHEMA,
            "group": self.name,
            "sites": ",".join(self.site_ids),
            "shared_equipment": self.shared_equipment,
            "guarantee": GUARANTEE,
            "verified": bool(self.verified),
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per interval: the group's limits, the allocation's sums, what binds."""
        iv = self.sites.intervals.reset_index(drop=True)
        return pd.DataFrame(
            {
                "interval": np.arange(len(iv)),
                "start": pd.to_datetime(iv["start"], utc=True),
                "duration_s": iv["duration_s"].to_numpy(dtype=np.int64),
                "month": iv["month"].to_numpy(dtype=np.int64),
                "hour": iv["hour"].to_numpy(dtype=np.int64),
                "import_limit_w": self.import_limit_w,
                "export_limit_w": self.export_limit_w,
                "forecast_import_w": self.forecast_import_w,
                "allocated_import_w": self.allocated_import_w,
                "allocated_export_w": self.allocated_export_w,
                "binding_import": self.binding_import.astype(str),
                "binding_import_limit": self.binding_import_limit.astype(str),
                "binding_import_split": self.binding_import_split.astype(str),
                "binding_export": self.binding_export.astype(str),
                "binding_export_limit": self.binding_export_limit.astype(str),
                "binding_export_split": self.binding_export_split.astype(str),
                "worst_import_usage": self.worst_import_usage,
                "worst_export_usage": self.worst_export_usage,
            }
        )

    def save(self, path: str | Path) -> Path:
        """The group file (CSV with '# key: value' meta lines, JSON or Parquet, by suffix)."""
        path = Path(path)
        suffix = path.suffix.lower()
        frame = self.to_frame()
        if suffix == ".csv":
            with path.open("w", newline="") as fh:
                for k, v in self.meta().items():
                    fh.write(f"# {k}: {v}\n")
                frame.to_csv(fh, index=False, float_format="%.9g")
        elif suffix == ".json":
            rows = json.loads(frame.to_json(orient="records", date_format="iso"))
            path.write_text(json.dumps({**self.meta(), "intervals": rows}, separators=(",", ":")))
        elif suffix in (".parquet", ".pq"):
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            meta = {**(table.schema.metadata or {}), b"flexbench": json.dumps(self.meta()).encode()}
            pq.write_table(table.replace_schema_metadata(meta), path)
        else:
            raise ValueError(f"{path}: unknown group file format {suffix!r}; use .csv, .parquet or .json")
        return path


def group_file(envelope_file: str | Path) -> Path:
    """Where the group file of a per-site envelope file goes: env.csv -> env.group.csv."""
    path = Path(envelope_file)
    return path.with_name(f"{path.stem}.group{path.suffix}")


def read_group(path: str | Path) -> tuple[dict, pd.DataFrame]:
    """The meta data and the per-interval table of a group file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        data = json.loads(path.read_text())
        frame = pd.DataFrame(data.pop("intervals"))
        meta = data
    else:
        meta, frame = read_table(path)
    if meta.get("schema") != GROUP_SCHEMA:
        raise TwinError(f"{path}: not a flexbench group envelope (schema {meta.get('schema')!r})")
    return meta, frame


def group_envelope(
    twin: Twin,
    site_ids: list[str],
    *,
    name: str = "group",
    profiles: Profiles | None = None,
    start: str | pd.Timestamp | None = None,
    horizon: str = "72h",
    resolution: str = "1h",
    settings: EnvelopeSettings | None = None,
    progress: Progress | None = None,
    seed: int = 0,
) -> GroupEnvelope:
    """A variable (day-ahead) group envelope of the sites and its allocation among them (see module doc).

    settings: limits, method, allocation (equal, proportional or max-total), injection model, controls.
    """
    equipment = shared_equipment(twin, site_ids)
    settings = settings or EnvelopeSettings()
    if settings.allocation not in ALLOCATIONS:
        raise ValueError(f"allocation {settings.allocation!r}: use one of {', '.join(ALLOCATIONS)}")
    prof, res = horizon_profiles(twin, profiles, start, horizon, resolution, seed)
    periods = len(prof.index)
    positions = twin.site_numbers(site_ids)
    loads, pvs = prof.load_w.to_numpy(), prof.pv_w.to_numpy()
    joint = twin.envelope_engine(positions, settings)
    single = twin.envelope_engine(positions, replace(settings, allocation="none"))
    results: list[IntervalResult] = []
    rows: dict[str, list[tuple[float, str, str, str, float]]] = {IMPORT: [], EXPORT: []}
    verified = True
    rating = twin.model.thermal_rating_a
    nv = len(twin.model.vnode_index)
    if progress:
        progress(0, periods)
    with single_blas_thread():
        for k in range(periods):
            reset = k % BLOCK_INTERVALS == 0
            shared_result = joint.interval(loads[k], pvs[k], reset=reset)
            alone = single.interval(loads[k], pvs[k], reset=reset)
            # the engines leave the forecast in place, its controls settled: a frozen solve is its state
            base = twin.solve_frozen()
            eff = EffectiveLimits.from_state(settings.limits, base, rating, twin.model.vrow_ll)
            per_site = {}
            for d in (IMPORT, EXPORT):
                h_alone = alone.import_headroom_w if d == IMPORT else alone.export_headroom_w
                b_alone = alone.binding_import if d == IMPORT else alone.binding_export
                x = shared_result.import_headroom_w if d == IMPORT else shared_result.export_headroom_w
                b = shared_result.binding_import if d == IMPORT else shared_result.binding_export
                g = _group_headroom(twin, positions, eff, d, h_alone, b_alone, x)
                verified &= g.ok
                codes = np.where(g.scaled, g.code, b)
                held, rule = held_limits(eff, settings.limits, rating, codes, d)
                per_site[d] = (g.allocation_w, codes, held, rule)
                g_held, g_rule = held_limits(eff, settings.limits, rating, np.array([g.code]), d)
                text = limit_text(nv, g.code, float(g_held[0]), bool(g_rule[0]), _line_to_line(twin, g.code))
                rows[d].append((g.headroom_w, binding_name(twin.model, g.code), text, g.split, g.worst))
            twin.clear_deltas()
            results.append(
                IntervalResult(
                    per_site[IMPORT][0],
                    per_site[EXPORT][0],
                    per_site[IMPORT][1],
                    per_site[EXPORT][1],
                    shared_result.forecast_net_w,
                    shared_result.verified and alone.verified,
                    shared_result.power_flows + alone.power_flows,
                    per_site[IMPORT][2],
                    per_site[EXPORT][2],
                    per_site[IMPORT][3],
                    per_site[EXPORT][3],
                )
            )
            if progress:
                progress(k + 1, periods)
    intervals = pd.DataFrame({"start": prof.index, "duration_s": int(res.total_seconds()), "month": 0, "hour": -1})
    env = assemble(twin, "variable", settings, positions, intervals, results)
    env.verified = env.verified and verified
    forecast = env.forecast_import_w.sum(axis=0)

    def column(d: str, i: int) -> np.ndarray:
        return np.array([r[i] for r in rows[d]], dtype=float if i in (0, 4) else object)

    return GroupEnvelope(
        name=name,
        shared_equipment=equipment[0],
        sites=env,
        import_limit_w=forecast + column(IMPORT, 0),
        export_limit_w=column(EXPORT, 0) - forecast,
        binding_import=column(IMPORT, 1),
        binding_export=column(EXPORT, 1),
        binding_import_limit=column(IMPORT, 2),
        binding_export_limit=column(EXPORT, 2),
        binding_import_split=column(IMPORT, 3),
        binding_export_split=column(EXPORT, 3),
        worst_import_usage=column(IMPORT, 4),
        worst_export_usage=column(EXPORT, 4),
        verified=env.verified,
    )


def _line_to_line(twin: Twin, code: int) -> bool:
    nv = len(twin.model.vnode_index)
    return 0 <= code < 2 * nv and bool(twin.model.vrow_ll[code % nv])


# -- splits and their check -------------------------------------------------------------------
def splits(site_ids: list[str], headroom_w: float, allocation_w: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """What the check puts on the feeder: all the group headroom on each site, the equal split, the allocation."""
    n = len(site_ids)
    out = [(f"all on {sid}", headroom_w * np.eye(n)[j]) for j, sid in enumerate(site_ids)]
    out.append(("equal", np.full(n, headroom_w / n)))
    out.append(("allocation", np.asarray(allocation_w, dtype=float)))
    return out


def worst_split(
    twin: Twin, positions: np.ndarray, eff: EffectiveLimits, direction: str, candidates: list[tuple[str, np.ndarray]]
) -> tuple[float, int, str]:
    """Full power flow of each split (W beyond forecast, controls frozen): the largest usage, where, which split."""
    sign = 1.0 if direction == IMPORT else -1.0
    worst, code, which = -np.inf, CAP, ""
    for label, extra_w in candidates:
        twin.set_site_delta(positions, sign * extra_w)
        state = twin.solve_frozen()
        u = usage(state, eff, direction)
        k = int(np.argmax(u))
        value = float(u[k]) if state.converged else np.inf
        if value > worst:
            worst, code, which = value, k, label
    twin.clear_deltas()
    return worst, code, which


@dataclass
class _Group:
    headroom_w: float
    code: int
    split: str
    worst: float
    allocation_w: np.ndarray
    scaled: np.ndarray
    ok: bool


def _group_headroom(twin, positions, eff, direction, h_alone, b_alone, x_joint) -> _Group:
    """The largest group headroom every checked split of which passes, and the allocation within it."""
    ids = [twin.sites[p].site_id for p in positions]
    j = int(np.argmin(h_alone))
    head = float(h_alone[j])
    x_joint = np.asarray(x_joint, dtype=float)

    def fit(h: float) -> tuple[np.ndarray, np.ndarray]:
        total = float(x_joint.sum())
        factor = min(1.0, h / total) if total > 0 else 1.0
        return x_joint * factor, np.full(len(x_joint), factor < 1.0)

    def trial(h: float):
        alloc, scaled = fit(h)
        return worst_split(twin, positions, eff, direction, splits(ids, h, alloc)), alloc, scaled

    (worst, code, which), alloc, scaled = trial(head)
    binding, split = int(b_alone[j]), f"all on {ids[j]}"
    if worst <= ACCEPT_TOL_PU:
        return _Group(head, binding, split, worst, alloc, scaled, True)
    # a split beyond the corners breaks a limit (the network is not linear): shrink until all pass
    lo, hi = 0.0, head
    bad = (code, which)
    good = None
    while hi - lo > max(TOL_W, TOL_REL * hi):
        mid = 0.5 * (lo + hi)
        (w, c, s), a, sc = trial(mid)
        if w <= ACCEPT_TOL_PU:
            lo, good = mid, (w, a, sc)
        else:
            hi, bad = mid, (c, s)
    if good is None:
        (w, c, s), a, sc = trial(lo)
        good = (w, a, sc)
    return _Group(lo, bad[0], bad[1], good[0], good[1], good[2], good[0] <= ACCEPT_TOL_PU)


@dataclass
class GroupCheck:
    """Worst usage per interval over the checked splits of the group limit, and over-allocated intervals."""

    worst_import: np.ndarray
    worst_export: np.ndarray
    where_import: list[str]
    where_export: list[str]
    over_allocated: list[int]

    @property
    def ok(self) -> bool:
        return (
            not self.over_allocated
            and bool(np.all(self.worst_import <= CHECK_TOL_PU))
            and bool(np.all(self.worst_export <= CHECK_TOL_PU))
        )

    def summary(self) -> str:
        k_i, k_e = int(np.argmax(self.worst_import)), int(np.argmax(self.worst_export))
        text = (
            f"import: worst usage {self.worst_import[k_i]:+.2e} at interval {k_i} ({self.where_import[k_i]}); "
            f"export: worst usage {self.worst_export[k_e]:+.2e} at interval {k_e} ({self.where_export[k_e]})"
        )
        if self.over_allocated:
            text += f"; allocation above the group limit at intervals {self.over_allocated}"
        return text


def check_group(
    twin: Twin, group: GroupEnvelope, load_w: np.ndarray, pv_w: np.ndarray, limits: Limits | None = None
) -> GroupCheck:
    """Check a group envelope as published: its splits of the group limit and its allocation, by full power flow.

    load_w/pv_w: (intervals x all sites) operating points the envelope was made for.
    """
    env = group.sites
    limits = limits or limits_of(env)
    twin.set_injection_model(env.injection_model or INJECTION_MODELS[0])
    positions = twin.site_numbers(env.site_ids)
    nt = env.shape[1]
    worst = {IMPORT: np.zeros(nt), EXPORT: np.zeros(nt)}
    where: dict[str, list[str]] = {IMPORT: [], EXPORT: []}
    over = []
    for t in range(nt):
        if t % BLOCK_INTERVALS == 0:
            twin.reset_controls()
        eff = forecast_limits(twin, limits, load_w[t], pv_w[t])
        forecast = env.forecast_import_w[:, t]
        alloc = {IMPORT: env.import_limit_w[:, t] - forecast, EXPORT: env.export_limit_w[:, t] + forecast}
        head = {
            IMPORT: group.import_limit_w[t] - forecast.sum(),
            EXPORT: group.export_limit_w[t] + forecast.sum(),
        }
        if alloc[IMPORT].sum() > head[IMPORT] + 1.0 or alloc[EXPORT].sum() > head[EXPORT] + 1.0:
            over.append(t)
        for d in (IMPORT, EXPORT):
            w, code, which = worst_split(
                twin, positions, eff, d, splits(env.site_ids, max(head[d], 0.0), np.maximum(alloc[d], 0.0))
            )
            worst[d][t] = w
            where[d].append(f"{binding_name(twin.model, code)}, {which}")
    return GroupCheck(worst[IMPORT], worst[EXPORT], where[IMPORT], where[EXPORT], over)
