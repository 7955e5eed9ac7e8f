"""The EnvelopeSet: import and export limits of many sites over the same intervals, firm and non-firm.

An ``Envelope`` (flexbench.core) is one site's schedule; the twin computes many
sites at once, so it holds them as a table: numpy arrays with documented units
and a flat table form. ``EnvelopeSet.envelope(site_id)`` gives one site's core
Envelope, what the lab and the IEEE 2030.5 / OPC-UA side publish.

- ``import_limit_w`` / ``export_limit_w`` (sites x intervals, W): the most the
  site may import / export at its connection point in that interval (firm +
  non-firm). Normally >= 0. A negative export limit means the site must keep
  importing at least that much (its generation may not cover all of its load:
  on IEEE 2030.5 an export limit of 0 plus a generation limit); a negative
  import limit likewise means it must keep exporting.
- ``firm_import_w`` / ``firm_export_w`` (sites, W, >= 0): what the worst
  interval of the planning period allows; the fallback (DefaultDERControl) on
  loss of communication.
- ``nonfirm_import_w`` / ``nonfirm_export_w``: limit minus firm, per interval.
- ``binding_import`` / ``binding_export``: the constraint that sets each limit,
  e.g. ``voltage_low:bus.1``, ``voltage_high:bus.2``, ``thermal:Line.x/1``
  (element and conductor), or ``cap`` when nothing binds below the site cap
  (20 times the site rating).
- ``binding_import_limit`` / ``binding_export_limit``: which limit of that
  constraint held: ``vmin 0.9500 pu``, ``vmax 1.0500 pu``, ``rating 400.0 A``,
  or ``base violation rule 0.9390 pu`` when the constraint was already outside
  its band at the forecast (or sat at its limit and was pushed the unusual way)
  and the rule's tolerance bound it; ``cap`` with the cap.
- ``forecast_import_w``: the net import forecast the limits were computed around.
- ``intervals``: one row per interval: ``start`` (UTC, NaT for static
  month x hour values), ``duration_s``, ``month`` (1-12, 0 if not static),
  ``hour`` (0-23, -1 if not static).

Files: CSV and Parquet hold the long table (one row per site and interval);
JSON holds one record per site with arrays over the intervals. The meta data
records the assumptions the envelope was computed under: voltage band, thermal
ratings source, injection model, regulator policy and the base-violation rule
with its tolerances. All three read back with ``EnvelopeSet.read``; CSV and JSON are also what
``flexbench.core.read_envelope_file`` (the publish commands) reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from flexbench.core import Envelope, Interval, SiteLimits

SCHEMA = "flexbench-envelope/1"
KINDS = ("static", "variable", "dynamic")
VALUE_COLUMNS = (
    "import_limit_w",
    "export_limit_w",
    "firm_import_w",
    "firm_export_w",
    "nonfirm_import_w",
    "nonfirm_export_w",
    "forecast_import_w",
)
# What an envelope assumed, as recorded in its meta data (EnvelopeSet fields of these names).
ASSUMPTIONS = (
    "thermal_ratings",
    "injection_model",
    "regulator_policy",
    "base_violation_rule",
    "base_violation_tolerance_pu",
    "base_violation_tolerance_fraction",
    "vmin_ll_pu",
    "vmax_ll_pu",
    "voltages",
)
NUMERIC_ASSUMPTIONS = (
    "base_violation_tolerance_pu",
    "base_violation_tolerance_fraction",
    "vmin_ll_pu",
    "vmax_ll_pu",
)


@dataclass
class EnvelopeSet:
    """Operating envelopes of a set of sites over a set of intervals (see module doc)."""

    feeder: str
    kind: str
    method: str
    allocation: str
    site_ids: list[str]
    intervals: pd.DataFrame
    import_limit_w: np.ndarray
    export_limit_w: np.ndarray
    firm_import_w: np.ndarray
    firm_export_w: np.ndarray
    forecast_import_w: np.ndarray
    binding_import: np.ndarray
    binding_export: np.ndarray
    vmin_pu: float = 0.95
    vmax_pu: float = 1.05
    verified: bool = True
    created: str = field(default_factory=lambda: pd.Timestamp.now(tz="UTC").isoformat())
    binding_import_limit: np.ndarray | None = None
    binding_export_limit: np.ndarray | None = None
    thermal_ratings: str = ""
    injection_model: str = ""
    regulator_policy: str = ""
    base_violation_rule: str = ""
    base_violation_tolerance_pu: float = float("nan")
    base_violation_tolerance_fraction: float = float("nan")
    # line-to-line band on ungrounded sections, and which voltages were bounded where
    vmin_ll_pu: float = float("nan")
    vmax_ll_pu: float = float("nan")
    voltages: str = ""

    def __post_init__(self) -> None:
        # files from before the limit columns: the limit is unknown
        for name in ("binding_import_limit", "binding_export_limit"):
            if getattr(self, name) is None:
                setattr(self, name, np.full(self.import_limit_w.shape, "", dtype=object))

    # -- derived ---------------------------------------------------------------------
    @property
    def nonfirm_import_w(self) -> np.ndarray:
        return np.maximum(self.import_limit_w - self.firm_import_w[:, None], 0.0)

    @property
    def nonfirm_export_w(self) -> np.ndarray:
        return np.maximum(self.export_limit_w - self.firm_export_w[:, None], 0.0)

    @property
    def shape(self) -> tuple[int, int]:
        return self.import_limit_w.shape

    def meta(self) -> dict:
        """Everything but the values: feeder, kind, method, allocation, limits."""
        return {
            "schema": SCHEMA,
            "feeder": self.feeder,
            "kind": self.kind,
            "method": self.method,
            "allocation": self.allocation,
            "vmin_pu": self.vmin_pu,
            "vmax_pu": self.vmax_pu,
            **{name: getattr(self, name) for name in ASSUMPTIONS},
            "verified": bool(self.verified),
            "created": self.created,
        }

    def site(self, site_id: str) -> pd.DataFrame:
        """One site's rows of the table over the intervals (all columns; `envelope` gives the schedule)."""
        self._index(site_id)
        frame = self.to_frame()
        return frame[frame["site_id"] == site_id].reset_index(drop=True)

    def envelope(self, site_id: str) -> Envelope:
        """One site's schedule as a core Envelope, its firm limits as `firm`.

        Limits are magnitudes there: a negative limit here (the site must keep importing,
        or exporting, that much) goes out as 0, the tightest a site limit can say.
        Static envelopes (month x hour values, no times) have no schedule to give.
        """
        i = self._index(site_id)
        starts = pd.to_datetime(self.intervals["start"], utc=True)
        if starts.isna().any():
            raise ValueError(f"site {site_id}: a {self.kind} envelope has no start times (month x hour values)")
        intervals = tuple(
            Interval(
                start_s=pd.Timestamp(start).timestamp(),
                duration_s=float(duration),
                limits=SiteLimits(
                    import_limit_w=max(float(self.import_limit_w[i, k]), 0.0),
                    export_limit_w=max(float(self.export_limit_w[i, k]), 0.0),
                ),
            )
            for k, (start, duration) in enumerate(zip(starts, self.intervals["duration_s"]))
        )
        firm = SiteLimits(import_limit_w=float(self.firm_import_w[i]), export_limit_w=float(self.firm_export_w[i]))
        return Envelope(site_id=site_id, intervals=intervals, firm=firm)

    def _index(self, site_id: str) -> int:
        if site_id not in self.site_ids:
            from flexbench.twin.errors import SiteError, suggest

            raise SiteError(f"site {site_id!r} is not in this envelope{suggest(site_id, self.site_ids)}")
        return self.site_ids.index(site_id)

    # -- table form ------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """Long table: one row per (site, interval)."""
        ns, nt = self.shape
        iv = self.intervals.reset_index(drop=True)
        frame = pd.DataFrame(
            {
                "site_id": np.repeat(np.array(self.site_ids, dtype=object), nt),
                "interval": np.tile(np.arange(nt), ns),
                "start": pd.DatetimeIndex(pd.to_datetime(iv["start"], utc=True))[np.tile(np.arange(nt), ns)],
                "duration_s": np.tile(iv["duration_s"].to_numpy(dtype=np.int64), ns),
                "month": np.tile(iv["month"].to_numpy(dtype=np.int64), ns),
                "hour": np.tile(iv["hour"].to_numpy(dtype=np.int64), ns),
                "import_limit_w": self.import_limit_w.ravel(),
                "export_limit_w": self.export_limit_w.ravel(),
                "firm_import_w": np.repeat(self.firm_import_w, nt),
                "firm_export_w": np.repeat(self.firm_export_w, nt),
                "nonfirm_import_w": self.nonfirm_import_w.ravel(),
                "nonfirm_export_w": self.nonfirm_export_w.ravel(),
                "forecast_import_w": self.forecast_import_w.ravel(),
                "binding_import": self.binding_import.ravel().astype(str),
                "binding_export": self.binding_export.ravel().astype(str),
                "binding_import_limit": np.asarray(self.binding_import_limit).ravel().astype(str),
                "binding_export_limit": np.asarray(self.binding_export_limit).ravel().astype(str),
            }
        )
        return frame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, meta: dict) -> EnvelopeSet:
        """Rebuild from the long table and the meta dict (inverse of to_frame)."""
        missing = [c for c in ("site_id", "interval", *VALUE_COLUMNS[:2]) if c not in frame.columns]
        if missing:
            raise ValueError(f"envelope table lacks columns {missing}")
        frame = frame.assign(site_id=frame["site_id"].astype(str))
        sites = list(dict.fromkeys(frame["site_id"]))
        order = {s: i for i, s in enumerate(sites)}
        frame = frame.assign(_order=frame["site_id"].map(order)).sort_values(["_order", "interval"])
        nt = int(frame["interval"].max()) + 1 if len(frame) else 0
        ns = len(sites)

        def grid(col: str) -> np.ndarray:
            return frame[col].to_numpy().reshape(ns, nt)

        def text_grid(col: str) -> np.ndarray | None:
            return grid(col).astype(str).astype(object) if col in frame.columns else None

        first = frame[frame["site_id"] == sites[0]] if ns else frame
        start = pd.to_datetime(first["start"], utc=True) if "start" in first else pd.Series([pd.NaT] * nt)
        intervals = pd.DataFrame(
            {
                "start": start.to_numpy(),
                "duration_s": first["duration_s"].to_numpy(dtype=np.int64),
                "month": first["month"].to_numpy(dtype=np.int64),
                "hour": first["hour"].to_numpy(dtype=np.int64),
            }
        )
        intervals["start"] = pd.to_datetime(intervals["start"], utc=True)
        return cls(
            feeder=meta.get("feeder", ""),
            kind=meta.get("kind", ""),
            method=meta.get("method", ""),
            allocation=meta.get("allocation", ""),
            site_ids=sites,
            intervals=intervals,
            import_limit_w=grid("import_limit_w").astype(float),
            export_limit_w=grid("export_limit_w").astype(float),
            firm_import_w=grid("firm_import_w")[:, 0].astype(float) if nt else np.zeros(ns),
            firm_export_w=grid("firm_export_w")[:, 0].astype(float) if nt else np.zeros(ns),
            forecast_import_w=grid("forecast_import_w").astype(float),
            binding_import=grid("binding_import").astype(str).astype(object),
            binding_export=grid("binding_export").astype(str).astype(object),
            binding_import_limit=text_grid("binding_import_limit"),
            binding_export_limit=text_grid("binding_export_limit"),
            vmin_pu=float(meta.get("vmin_pu", 0.95)),
            vmax_pu=float(meta.get("vmax_pu", 1.05)),
            verified=str(meta.get("verified", True)).lower() in ("true", "1"),
            created=str(meta.get("created", "")),
            **_assumptions(meta),
        )

    # -- files -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write CSV, Parquet or JSON, chosen by the file suffix."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            return self.to_csv(path)
        if suffix in (".parquet", ".pq"):
            return self.to_parquet(path)
        if suffix == ".json":
            return self.to_json(path)
        raise ValueError(f"{path}: unknown envelope format {suffix!r}; use .csv, .parquet or .json")

    def to_csv(self, path: str | Path) -> Path:
        """Long table with the meta data as '# key: value' lines on top."""
        path = Path(path)
        with path.open("w", newline="") as fh:
            for k, v in self.meta().items():
                fh.write(f"# {k}: {v}\n")
            self.to_frame().to_csv(fh, index=False, float_format="%.3f")
        return path

    def to_parquet(self, path: str | Path) -> Path:
        """Long table; the meta data rides in the Parquet schema metadata."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = Path(path)
        table = pa.Table.from_pandas(self.to_frame(), preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[b"flexbench"] = json.dumps(self.meta()).encode()
        pq.write_table(table.replace_schema_metadata(meta), path)
        return path

    def to_dict(self) -> dict:
        """JSON-ready: meta, intervals, and one record per site with arrays."""
        iv = self.intervals
        intervals = [
            {
                "start": None if pd.isna(s) else pd.Timestamp(s).isoformat(),
                "duration_s": int(d),
                "month": int(mo),
                "hour": int(h),
            }
            for s, d, mo, h in zip(iv["start"], iv["duration_s"], iv["month"], iv["hour"])
        ]
        sites = []
        held_i, held_e = np.asarray(self.binding_import_limit), np.asarray(self.binding_export_limit)
        for i, sid in enumerate(self.site_ids):
            sites.append(
                {
                    "site_id": sid,
                    "firm_import_w": round(float(self.firm_import_w[i]), 3),
                    "firm_export_w": round(float(self.firm_export_w[i]), 3),
                    "import_limit_w": np.round(self.import_limit_w[i], 3).tolist(),
                    "export_limit_w": np.round(self.export_limit_w[i], 3).tolist(),
                    "forecast_import_w": np.round(self.forecast_import_w[i], 3).tolist(),
                    "binding_import": [str(b) for b in self.binding_import[i]],
                    "binding_export": [str(b) for b in self.binding_export[i]],
                    "binding_import_limit": [str(b) for b in held_i[i]],
                    "binding_export_limit": [str(b) for b in held_e[i]],
                }
            )
        return {**self.meta(), "intervals": intervals, "sites": sites}

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), separators=(",", ":")))
        return path

    @classmethod
    def from_dict(cls, data: dict) -> EnvelopeSet:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"not a flexbench envelope (schema {data.get('schema')!r})")
        iv = pd.DataFrame(data["intervals"])
        iv["start"] = pd.to_datetime(iv["start"], utc=True)
        sites = data["sites"]

        def grid(key: str, dtype=float) -> np.ndarray:
            return np.array([s[key] for s in sites], dtype=dtype).reshape(len(sites), len(iv))

        def text_grid(key: str) -> np.ndarray | None:
            return grid(key, object) if all(key in s for s in sites) else None

        return cls(
            feeder=data["feeder"],
            kind=data["kind"],
            method=data["method"],
            allocation=data["allocation"],
            site_ids=[s["site_id"] for s in sites],
            intervals=iv,
            import_limit_w=grid("import_limit_w"),
            export_limit_w=grid("export_limit_w"),
            firm_import_w=np.array([s["firm_import_w"] for s in sites], dtype=float),
            firm_export_w=np.array([s["firm_export_w"] for s in sites], dtype=float),
            forecast_import_w=grid("forecast_import_w"),
            binding_import=grid("binding_import", object),
            binding_export=grid("binding_export", object),
            binding_import_limit=text_grid("binding_import_limit"),
            binding_export_limit=text_grid("binding_export_limit"),
            vmin_pu=float(data["vmin_pu"]),
            vmax_pu=float(data["vmax_pu"]),
            verified=bool(data["verified"]),
            created=str(data.get("created", "")),
            **_assumptions(data),
        )

    @classmethod
    def read(cls, path: str | Path) -> EnvelopeSet:
        """Read an envelope written by save()."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".json":
            return cls.from_dict(json.loads(path.read_text()))
        if suffix in (".parquet", ".pq", ".csv"):
            meta, frame = read_table(path)
            return cls.from_frame(frame, meta)
        raise ValueError(f"{path}: unknown envelope format {suffix!r}")


def read_table(path: Path) -> tuple[dict, pd.DataFrame]:
    """The meta data and the table of a Parquet file (schema metadata) or a CSV file ('# key: value' lines)."""
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        return json.loads((table.schema.metadata or {}).get(b"flexbench", b"{}")), table.to_pandas()
    meta = {}
    with path.open() as fh:
        for line in fh:
            if not line.startswith("# "):
                break
            key, _, value = line[2:].partition(":")
            meta[key.strip()] = value.strip()
    return meta, pd.read_csv(path, comment="#", keep_default_na=False, na_values=[""])


def _assumptions(meta: dict) -> dict:
    """The recorded assumptions of a file's meta data (CSV gives them as text)."""
    out: dict = {}
    for name in ASSUMPTIONS:
        if name in meta:
            value = meta[name]
            out[name] = float(value) if name in NUMERIC_ASSUMPTIONS else str(value)
    return out
