"""Operating envelopes from meter data alone, where no secondary model exists (ruling Q19, Q24).

Many single-phase customers have no model of their service transformer and
secondary. Their meters still record voltage, P and Q every 15 minutes or hour,
and that is enough to estimate how a meter's voltage moves with its own power:

    dV_pu(t) = a + b dP(t) + c dQ(t) + d dVref(t) + e(t)

fitted per meter by least squares on the changes from one reading to the next
(d: the difference of consecutive readings, both present), where Vref(t) is the
median voltage of all meters at t. The feeder term absorbs what moves every
meter together (the substation, regulator taps, capacitors, the feeder's load);
one meter barely moves a median, so its own effect stays in b and c. Changes
rather than levels: a meter's level follows the daily shape that its
neighbours share (their drop on the same transformer would be taken for its
own), while its changes from one reading to the next are mostly its own
appliances switching. A meter whose Q moves with
its P (no PV, a fixed power factor) cannot tell b from c: it is fitted on P
alone, and that combined sensitivity (at its own power factor) is used for both
directions, which overstates the rise of a unity power factor export: the safe
side.

The limits keep the meter's voltage in the band of `Limits` (ANSI C84.1 range A
by default, the same band and base-violation rule as the model-based
envelopes), linear in the meter's own P and Q from its forecast operating
point. Each sensitivity has a standard error; the published limit is computed
at the upper confidence bound of the sensitivity (one-sided, 95 % by default),
and the file also holds the central estimate and the other end of the band.

What it does not know: conductor ratings (voltage only), neighbours taking the
same headroom at once (each meter alone beyond its forecast, others as
forecast), and anything beyond the linear range the meter was seen in.

- `read_ami(path)`: a long CSV or Parquet table, one row per meter and time:
  `meter_id`, `timestamp`, `voltage_v`, `p_w` (import positive; or `p_kw`),
  `q_var` (or `q_kvar`), optional `nominal_v`. Empty cells are missing
  readings; anything else that is not a number is refused with the file, line
  and column.
- `estimate_sensitivity(data)`: the per-meter fit.
- `ami_envelope(data, kind)`: static (month x hour worst cases of the history)
  or variable (a forecast from the history) envelopes, written like the
  model-based ones with the method and assumptions in the header.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd

from flexbench.twin.envelope import EnvelopeSet
from flexbench.twin.errors import TwinError
from flexbench.twin.profiles import Profiles, forecast, parse_duration, parse_resolution
from flexbench.twin.twin import INJECTION_MODELS, NO_UPPER_PU, Limits

METHOD = "ami-regression"
MODEL_TEXT = "per-meter least squares on consecutive changes: dV_pu ~ 1 + dP + dQ + d(median V_pu of all meters)"
METER_COLUMNS = ("meter_id", "meter", "site_id", "site")
TIME_COLUMNS = ("timestamp", "time", "datetime", "interval_start")
VOLTAGE_COLUMNS = {"voltage_v": 1.0, "v": 1.0, "voltage": 1.0}
P_COLUMNS = {"p_w": 1.0, "power_w": 1.0, "p_kw": 1000.0, "power_kw": 1000.0}
Q_COLUMNS = {"q_var": 1.0, "reactive_var": 1.0, "q_kvar": 1000.0, "reactive_kvar": 1000.0}
STANDARD_NOMINAL_V = (120.0, 208.0, 230.0, 240.0, 277.0, 347.0, 400.0, 480.0, 600.0)
MIN_SAMPLES = 48
# |corr(P, Q)| above which a meter's own P and Q are one regressor
COLLINEAR = 0.98
# A limit never exceeds this many times the meter's largest measured power (nor 1 kW x it).
CAP_FACTOR = 20.0


class AmiError(TwinError):
    """A meter data file or meter that cannot be used: the message names file, line and column or meter."""


@dataclass
class MeterData:
    """Meter readings on a regular UTC grid (time x meter; NaN where a reading is missing)."""

    source: str
    voltage_v: pd.DataFrame
    p_w: pd.DataFrame
    q_var: pd.DataFrame
    nominal_v: pd.Series

    @property
    def meter_ids(self) -> list[str]:
        return [str(c) for c in self.voltage_v.columns]

    @property
    def resolution(self) -> pd.Timedelta:
        return pd.Timedelta(self.voltage_v.index[1] - self.voltage_v.index[0])

    @property
    def voltage_pu(self) -> pd.DataFrame:
        return self.voltage_v / self.nominal_v

    def select(self, meter_ids: list[str] | None) -> MeterData:
        """Only these meters (all for None); an unknown one is an AmiError."""
        if meter_ids is None:
            return self
        unknown = [m for m in meter_ids if m not in self.voltage_v.columns]
        if unknown:
            raise AmiError(f"{self.source}: no meter {unknown[0]!r}")
        return MeterData(
            self.source,
            self.voltage_v[meter_ids],
            self.p_w[meter_ids],
            self.q_var[meter_ids],
            self.nominal_v[meter_ids],
        )


# -- reading ------------------------------------------------------------------------------
def read_ami(path: str | Path) -> MeterData:
    """Meter readings from a long CSV or Parquet table (see module doc)."""
    path = Path(path)
    if not path.is_file():
        raise AmiError(f"{path}: no such meter data file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
            row_base, word = 2, "line"  # the header is line 1
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
            row_base, word = 1, "row"
        else:
            raise AmiError(f"{path}: meter data files are .csv or .parquet, got {suffix or 'no suffix'!r}")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, AmiError):
            raise
        raise AmiError(f"{path}: not a readable {suffix[1:]} table: {exc}") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if frame.empty:
        raise AmiError(f"{path}: no readings")

    def where(i: int) -> str:
        return f"{path}: {word} {row_base + i}"

    meter_col = _column(path, frame, METER_COLUMNS, "meter id")
    time_col = _column(path, frame, TIME_COLUMNS, "time")
    meters = frame[meter_col].astype(str).str.strip()
    blank = np.flatnonzero((meters == "").to_numpy())
    if len(blank):
        raise AmiError(f"{where(int(blank[0]))}: column {meter_col}: empty meter id")
    stamps = _times(frame[time_col], time_col, where)
    values = {}
    for label, options in (("voltage_v", VOLTAGE_COLUMNS), ("p_w", P_COLUMNS), ("q_var", Q_COLUMNS)):
        name = _column(path, frame, tuple(options), label)
        values[label] = _numbers(frame[name], name, where) * options[name]
    bad_v = np.flatnonzero(values["voltage_v"] <= 0)
    if len(bad_v):
        i = int(bad_v[0])
        raise AmiError(
            f"{where(i)}: column voltage_v: {frame.iloc[i][_found(frame, VOLTAGE_COLUMNS)]!r} is not a voltage"
        )
    table = pd.DataFrame({"meter": meters.to_numpy(dtype=object), "time": stamps, **values})
    dup = np.flatnonzero(table.duplicated(["meter", "time"]).to_numpy())
    if len(dup):
        i = int(dup[0])
        raise AmiError(f"{where(i)}: meter {table['meter'][i]} has a second reading at {table['time'][i]}")
    step = _step(table["time"], time_col, where)
    nominal = _nominal(path, frame, table, where)
    index = pd.date_range(table["time"].min(), table["time"].max(), freq=step)
    order = [str(m) for m in pd.unique(table["meter"].to_numpy(dtype=object))]

    def wide(col: str) -> pd.DataFrame:
        out = table.pivot(index="time", columns="meter", values=col).reindex(index=index, columns=order)
        out.columns = pd.Index(order, name=None)
        return out

    return MeterData(str(path), wide("voltage_v"), wide("p_w"), wide("q_var"), nominal.reindex(order))


def _found(frame: pd.DataFrame, options) -> str:
    return next(c for c in options if c in frame.columns)


def _column(path: Path, frame: pd.DataFrame, options: tuple[str, ...], what: str) -> str:
    for name in options:
        if name in frame.columns:
            return name
    raise AmiError(f"{path}: missing column {options[0]} ({what}; also read as {', '.join(options[1:])})")


def _times(col: pd.Series, name: str, where) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(col):
        stamps = pd.to_datetime(col, utc=True)
        if not stamps.isna().any():
            return stamps
    text = col.astype(str).str.strip()
    try:
        stamps = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    except ValueError:
        stamps = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
    bad = np.flatnonzero(stamps.isna().to_numpy())
    if len(bad):
        i = int(bad[0])
        raise AmiError(f"{where(i)}: column {name}: {text.iloc[i]!r} is not a time")
    return stamps


def _numbers(col: pd.Series, name: str, where) -> np.ndarray:
    """Numbers of a column; empty cells are missing readings (NaN), other text is refused."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        values = col.to_numpy(dtype=float)
        bad = np.flatnonzero(np.isinf(values))
        if len(bad):
            raise AmiError(f"{where(int(bad[0]))}: column {name}: {values[bad[0]]!r} is not a number")
        return values
    text = col.astype(str).str.strip()
    empty = (text == "") | (text.str.lower() == "nan") | col.isna().to_numpy()
    values = pd.to_numeric(text.where(~empty, "nan"), errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero((np.isnan(values) & ~empty.to_numpy()) | np.isinf(values))
    if len(bad):
        i = int(bad[0])
        raise AmiError(f"{where(i)}: column {name}: {text.iloc[i]!r} is not a number")
    return values


def _step(times: pd.Series, name: str, where) -> pd.Timedelta:
    """The grid of the readings: 15 minutes or an hour, every reading on it."""
    unique = np.sort(times.unique())
    if len(unique) < 2:
        raise AmiError(f"{where(0)}: column {name}: one time only; a history needs many")
    step = pd.Timedelta(np.diff(unique).min())
    if step not in (pd.Timedelta(minutes=15), pd.Timedelta(hours=1)):
        raise AmiError(f"{where(0)}: column {name}: readings {step} apart; meter data is at 15min or 1h")
    off = np.flatnonzero(((times - times.min()) % step != pd.Timedelta(0)).to_numpy())
    if len(off):
        i = int(off[0])
        raise AmiError(f"{where(i)}: column {name}: {times.iloc[i]} is off the {step} grid of the other readings")
    return step


def _nominal(path: Path, frame: pd.DataFrame, table: pd.DataFrame, where) -> pd.Series:
    """Each meter's nominal voltage: the file's nominal_v, else the standard voltage nearest its median."""
    if "nominal_v" in frame.columns:
        values = _numbers(frame["nominal_v"], "nominal_v", where)
        bad = np.flatnonzero(~(values > 0))
        if len(bad):
            raise AmiError(f"{where(int(bad[0]))}: column nominal_v: must be a positive voltage")
        return pd.Series(values, index=table["meter"]).groupby(level=0).first()
    out = {}
    for meter, v in table.groupby("meter")["voltage_v"].median().items():
        std = np.array(STANDARD_NOMINAL_V)
        near = std[np.argmin(np.abs(std - v))]
        if abs(v / near - 1) > 0.1:
            raise AmiError(
                f"{path}: meter {meter}: median voltage {v:.1f} V is near no standard service voltage; add a nominal_v column"
            )
        out[meter] = near
    return pd.Series(out, dtype=float)


# -- estimation ---------------------------------------------------------------------------
@dataclass
class Sensitivity:
    """Per-meter voltage sensitivity (pu per W of extra import; per W of extra export) and its standard error."""

    meter_ids: list[str]
    import_drop_pu_per_w: np.ndarray  # voltage drop per W of extra import at the injection model's power factor
    import_drop_se: np.ndarray
    export_rise_pu_per_w: np.ndarray  # voltage rise per W of extra export at unity power factor
    export_rise_se: np.ndarray
    dv_dp_pu_per_w: np.ndarray  # fitted coefficients (dv_dq NaN where P and Q are one regressor)
    dv_dq_pu_per_var: np.ndarray
    reference_coef: np.ndarray
    residual_pu: np.ndarray
    samples: np.ndarray
    combined: np.ndarray  # P and Q fitted as one regressor (they move together)
    q_ratio: np.ndarray  # var per W of the meter's import (median), the load power factor

    def subset(self, positions: list[int]) -> Sensitivity:
        """The sensitivities of the meters at these positions."""
        arrays = {k: v[positions] for k, v in self.__dict__.items() if isinstance(v, np.ndarray)}
        return Sensitivity([self.meter_ids[i] for i in positions], **arrays)

    def frame(self) -> pd.DataFrame:
        """One row per meter."""
        return pd.DataFrame(
            {k: v for k, v in self.__dict__.items() if k != "meter_ids"}, index=pd.Index(self.meter_ids, name="meter")
        )


def estimate_sensitivity(data: MeterData, injection_model: str = INJECTION_MODELS[0]) -> Sensitivity:
    """Fit each meter's voltage on its own P and Q and the feeder's median voltage (see module doc)."""
    if injection_model not in INJECTION_MODELS:
        raise ValueError(f"injection model {injection_model!r}: use one of {', '.join(INJECTION_MODELS)}")
    v = data.voltage_pu.to_numpy()
    p = data.p_w.to_numpy()
    q = data.q_var.to_numpy()
    ref = np.nanmedian(v, axis=1)
    n = v.shape[1]
    out = {k: np.full(n, np.nan) for k in ("g", "g_se", "e", "e_se", "b", "c", "d", "res")}
    samples = np.zeros(n, dtype=int)
    combined = np.zeros(n, dtype=bool)
    ratio = np.zeros(n)
    dv, dp, dq, dref = np.diff(v, axis=0), np.diff(p, axis=0), np.diff(q, axis=0), np.diff(ref)
    for i, meter in enumerate(data.meter_ids):
        ok = np.isfinite(dv[:, i]) & np.isfinite(dp[:, i]) & np.isfinite(dq[:, i]) & np.isfinite(dref)
        samples[i] = int(ok.sum())
        if samples[i] < MIN_SAMPLES:
            raise AmiError(
                f"{data.source}: meter {meter}: {samples[i]} pairs of consecutive complete readings, "
                f"at least {MIN_SAMPLES} needed"
            )
        pi, qi, yi, ri = dp[ok, i], dq[ok, i], dv[ok, i], dref[ok]
        importing = (p[:, i] > 0) & np.isfinite(q[:, i])
        ratio[i] = float(np.median(q[importing, i] / p[importing, i])) if importing.any() else 0.0
        if np.ptp(pi) <= 0:
            raise AmiError(f"{data.source}: meter {meter}: its P never changes; no sensitivity can be seen")
        corr = np.corrcoef(pi, qi)[0, 1] if np.ptp(qi) > 0 else 1.0
        combined[i] = not np.isfinite(corr) or abs(corr) > COLLINEAR
        cols = [np.ones_like(pi), pi, ri] if combined[i] else [np.ones_like(pi), pi, qi, ri]
        coef, cov, res = _least_squares(np.column_stack(cols), yi)
        out["b"][i], out["d"][i], out["res"][i] = coef[1], coef[-1], res
        if combined[i]:
            # the fit on P carries Q along at the meter's own ratio: the import drop at its power
            # factor; a unity export rises less than that, so using it errs on the safe side
            out["g"][i], out["g_se"][i] = -coef[1], np.sqrt(cov[1, 1])
            out["e"][i], out["e_se"][i] = -coef[1], np.sqrt(cov[1, 1])
            continue
        out["c"][i] = coef[2]
        k = ratio[i] if injection_model == "load-pf" else 0.0
        out["g"][i] = -(coef[1] + k * coef[2])
        out["g_se"][i] = np.sqrt(max(cov[1, 1] + k * k * cov[2, 2] + 2 * k * cov[1, 2], 0.0))
        out["e"][i], out["e_se"][i] = -coef[1], np.sqrt(cov[1, 1])
    return Sensitivity(
        data.meter_ids,
        out["g"],
        out["g_se"],
        out["e"],
        out["e_se"],
        out["b"],
        out["c"],
        out["d"],
        out["res"],
        samples,
        combined,
        ratio,
    )


def _least_squares(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Coefficients, their covariance and the residual standard deviation (columns scaled for conditioning)."""
    scale = np.maximum(np.abs(x).max(axis=0), 1e-12)
    xs = x / scale
    coef, *_ = np.linalg.lstsq(xs, y, rcond=None)
    resid = y - xs @ coef
    dof = max(len(y) - x.shape[1], 1)
    sigma2 = float(resid @ resid) / dof
    cov = sigma2 * np.linalg.pinv(xs.T @ xs)
    return coef / scale, cov / np.outer(scale, scale), float(np.sqrt(sigma2))


# -- envelopes ----------------------------------------------------------------------------
@dataclass
class AmiEnvelope:
    """An EnvelopeSet from meter data, with its confidence band and what it assumed.

    `envelope` holds the published limits (at the stated confidence); the band
    arrays (sites x intervals, W) hold the central estimate and the other end.
    """

    envelope: EnvelopeSet
    import_limit_central_w: np.ndarray
    export_limit_central_w: np.ndarray
    import_limit_high_w: np.ndarray
    export_limit_high_w: np.ndarray
    sensitivity: Sensitivity
    meta: dict = field(default_factory=dict)

    def header(self) -> dict:
        """The meta data of the file: the envelope's, then how it was estimated."""
        return {**self.envelope.meta(), **self.meta}

    def to_frame(self) -> pd.DataFrame:
        frame = self.envelope.to_frame()
        for name in ("import_limit_central_w", "export_limit_central_w", "import_limit_high_w", "export_limit_high_w"):
            frame[name] = getattr(self, name).ravel()
        return frame

    def save(self, path: str | Path) -> Path:
        """CSV (meta data as '# key: value' lines), Parquet (in its schema metadata) or JSON, by suffix.

        The same layouts as EnvelopeSet.save, with the band as extra columns (arrays in JSON).
        """
        path = Path(path)
        suffix = path.suffix.lower()
        header = self.header()
        if suffix == ".csv":
            with path.open("w", newline="") as fh:
                for k, v in header.items():
                    fh.write(f"# {k}: {v}\n")
                self.to_frame().to_csv(fh, index=False, float_format="%.3f")
        elif suffix in (".parquet", ".pq"):
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(self.to_frame(), preserve_index=False)
            meta = dict(table.schema.metadata or {})
            meta[b"flexbench"] = json.dumps(header).encode()
            pq.write_table(table.replace_schema_metadata(meta), path)
        elif suffix == ".json":
            data = {**self.envelope.to_dict(), **self.meta}
            for i, site in enumerate(data["sites"]):
                for name in ("import_limit_central_w", "export_limit_central_w"):
                    site[name] = np.round(getattr(self, name)[i], 3).tolist()
                for name in ("import_limit_high_w", "export_limit_high_w"):
                    site[name] = np.round(getattr(self, name)[i], 3).tolist()
            path.write_text(json.dumps(data, separators=(",", ":")))
        else:
            raise ValueError(f"{path}: unknown envelope format {suffix!r}; use .csv, .parquet or .json")
        return path


def ami_envelope(
    data: MeterData,
    kind: str = "variable",
    *,
    meters: list[str] | None = None,
    start: str | pd.Timestamp | None = None,
    horizon: str = "72h",
    resolution: str = "1h",
    limits: Limits | None = None,
    injection_model: str = INJECTION_MODELS[0],
    confidence: float = 0.95,
) -> AmiEnvelope:
    """Static (month x hour) or variable (forecast over the horizon) envelopes of every meter.

    variable: the base point of each interval is the history's mean at the same
    weekday and time over the last 4 weeks (profiles.forecast), from `start`
    (default: right after the history). static: each month x hour of the history,
    export at its highest voltage and lowest import, import at the lowest voltage
    and highest import.
    """
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must be at least 0.5 and below 1, got {confidence}")
    limits = limits or Limits()
    if kind not in ("static", "variable"):
        raise TwinError(f"meter data envelopes are static or variable, not {kind!r}")
    sel = [data.meter_ids.index(m) for m in data.select(meters).meter_ids]  # every meter informs the feeder term
    sens = estimate_sensitivity(data, injection_model).subset(sel)
    if kind == "variable":
        intervals, v_exp, p_exp = _variable_base(data, start, horizon, resolution)
        v_imp, p_imp = v_exp, p_exp
    else:
        intervals, v_imp, p_imp, v_exp, p_exp = _static_base(data)
    v_imp, p_imp, v_exp, p_exp = (a[:, sel] for a in (v_imp, p_imp, v_exp, p_exp))
    data = data.select(meters)
    z = NormalDist().inv_cdf(confidence)
    cap_w = limit_cap_w(data)
    im, low_limit = headroom(sens, "import", v_imp, cap_w, limits, (z, 0.0, -z))
    ex, up_limit = headroom(sens, "export", v_exp, cap_w, limits, (z, 0.0, -z))
    vmin, vmax, tol = limits.vmin_pu, limits.vmax_pu, limits.base_violation_tolerance_pu
    imp = (p_imp + im[z]).T
    exp = (ex[z] - p_exp).T
    ids = data.meter_ids
    bind_i = _binding(im[z], cap_w, "voltage_low", ids)
    bind_e = _binding(ex[z], cap_w, "voltage_high", ids)
    held_i = _held(im[z], cap_w, np.where(v_imp < vmin, "base violation rule", f"vmin {vmin:.4f} pu"), low_limit)
    held_e = _held(ex[z], cap_w, np.where(v_exp > vmax, "base violation rule", f"vmax {vmax:.4f} pu"), up_limit)
    env = EnvelopeSet(
        feeder=f"meter data {Path(data.source).name}",
        kind=kind,
        method=METHOD,
        allocation="none",
        site_ids=ids,
        intervals=intervals,
        import_limit_w=imp,
        export_limit_w=exp,
        firm_import_w=np.maximum(imp.min(axis=1), 0.0),
        firm_export_w=np.maximum(exp.min(axis=1), 0.0),
        forecast_import_w=p_imp.T,
        binding_import=bind_i,
        binding_export=bind_e,
        vmin_pu=vmin,
        vmax_pu=vmax,
        verified=False,
        binding_import_limit=held_i,
        binding_export_limit=held_e,
        thermal_ratings="none: meter data holds no conductor ratings; voltage only",
        injection_model=injection_model,
        regulator_policy="as measured: taps and capacitors move every meter, absorbed by the feeder median term",
        base_violation_rule=limits.base_violation_rule,
        base_violation_tolerance_pu=tol,
        base_violation_tolerance_fraction=float("nan"),
        voltages=f"at each of {len(ids)} meters, pu of its nominal voltage",
    )
    meta = {
        "ami_model": MODEL_TEXT,
        "ami_confidence": confidence,
        "ami_limits_at": f"upper {confidence:.0%} bound of each sensitivity (central and other end in the *_central_w, *_high_w columns)",
        "ami_history": f"{data.voltage_v.index[0].isoformat()} to {data.voltage_v.index[-1].isoformat()}, {_fmt(data.resolution)}",
        "ami_source": data.source,
        "ami_assumptions": "each meter alone beyond its forecast, other meters as forecast; linear in the meter's own P and Q; "
        "voltage band only, no conductor ratings; P and Q that move together fitted as one (safe side for export)",
        "ami_combined_pq_meters": int(sens.combined.sum()),
    }
    return AmiEnvelope(
        env, (p_imp + im[0.0]).T, (ex[0.0] - p_exp).T, (p_imp + im[-z]).T, (ex[-z] - p_exp).T, sens, meta
    )


def limit_cap_w(data: MeterData) -> np.ndarray:
    """The most any limit says, per meter: CAP_FACTOR times its largest measured power (at least 1 kW)."""
    return CAP_FACTOR * np.maximum(np.nanmax(np.abs(data.p_w.to_numpy()), axis=0), 1000.0)


def headroom(
    sens: Sensitivity,
    direction: str,
    v_pu: np.ndarray,
    cap_w: np.ndarray,
    limits: Limits,
    z_values: tuple[float, ...],
) -> tuple[dict[float, np.ndarray], np.ndarray]:
    """Extra import or export (W, intervals x meters) from base voltages v_pu, at sensitivity + z x its error.

    Also returns the voltage limit that applies: the band, or for a voltage
    already outside it the base value plus the tolerance (hold) or no limit (ignore).
    """
    hold = limits.base_violation_rule == "hold"
    tol = limits.base_violation_tolerance_pu
    if direction == "export":
        bound = np.where(v_pu > limits.vmax_pu, v_pu + tol if hold else NO_UPPER_PU, limits.vmax_pu)
        room, rate, se = bound - v_pu, sens.export_rise_pu_per_w, sens.export_rise_se
    else:
        bound = np.where(v_pu < limits.vmin_pu, v_pu - tol if hold else 0.0, limits.vmin_pu)
        room, rate, se = v_pu - bound, sens.import_drop_pu_per_w, sens.import_drop_se
    out = {}
    for z in z_values:
        per_w = rate + z * se
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(per_w[None, :] > 0, room / per_w[None, :], np.inf)
        out[z] = np.clip(np.nan_to_num(x, nan=0.0), 0.0, cap_w[None, :])
    return out, bound


def _fmt(step: pd.Timedelta) -> str:
    return "15min" if step == pd.Timedelta(minutes=15) else "1h"


def _binding(head: np.ndarray, cap_w: np.ndarray, kind: str, ids: list[str]) -> np.ndarray:
    names = np.array([f"{kind}:{m}" for m in ids], dtype=object)
    return np.where(head.T >= cap_w[:, None], "cap", names[:, None]).astype(object)


def _held(head: np.ndarray, cap_w: np.ndarray, text: np.ndarray, limit_pu: np.ndarray) -> np.ndarray:
    out = np.where(
        text == "base violation rule", np.char.add("base violation rule ", np.char.mod("%.4f pu", limit_pu)), text
    )
    out = np.where(head >= cap_w[None, :], np.char.mod("cap %.0f W", np.broadcast_to(cap_w, head.shape)), out)
    return out.T.astype(object)


def _variable_base(data: MeterData, start, horizon: str, resolution: str):
    """Intervals over the horizon and each meter's forecast voltage (pu) and net import (W)."""
    res = parse_resolution(resolution)
    periods = int(parse_duration(horizon) / res)
    if periods < 1:
        raise TwinError(f"horizon {horizon} is shorter than one {resolution} interval")
    index = data.voltage_v.index
    if start is None:
        start = (index[-1] + data.resolution).ceil(res)
    start = pd.Timestamp(start)
    start = (start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")).floor(res)
    if start <= index[0]:
        raise AmiError(f"{data.source}: the envelope starts at {start}, before any history")
    # Profiles carries two frames over meters: here voltage (pu) and net import (W)
    fc = forecast(Profiles(data.voltage_pu, data.p_w, data.source), start, periods, res)
    intervals = pd.DataFrame({"start": fc.index, "duration_s": int(res.total_seconds()), "month": 0, "hour": -1})
    return intervals, fc.load_w.to_numpy(), fc.pv_w.to_numpy()


def _static_base(data: MeterData):
    """Month x hour of the history: highest voltage and lowest import (export), the reverse (import)."""
    v, p = data.voltage_pu, data.p_w
    keys = [v.index.month, v.index.hour]
    v_hi, v_lo = v.groupby(keys).max(), v.groupby(keys).min()
    p_hi, p_lo = p.groupby(keys).max(), p.groupby(keys).min()
    months = v_hi.index.get_level_values(0).to_numpy(dtype=int)
    hours = v_hi.index.get_level_values(1).to_numpy(dtype=int)
    intervals = pd.DataFrame(
        {
            "start": pd.Series([pd.NaT] * len(months), dtype="datetime64[ns, UTC]"),
            "duration_s": 3600,
            "month": months,
            "hour": hours,
        }
    )
    return intervals, v_lo.to_numpy(), p_hi.to_numpy(), v_hi.to_numpy(), p_lo.to_numpy()
