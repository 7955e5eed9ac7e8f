"""Load and PV time series per customer location: synthetic shapes and measured history.

Profiles hold two wide tables (timestamps x site ids, W): what each site consumes
(load_w) and what its PV produces (pv_w); net import is their difference. They
come from the built-in synthetic daily and seasonal shapes (demos, tests) or
from AMI/SCADA files (CSV or Parquet), which are validated row by row so a bad
file is rejected with its name and the offending row.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from flexbench.twin.errors import ProfileError, SiteError, suggest

RESOLUTIONS = {"15min": pd.Timedelta(minutes=15), "1h": pd.Timedelta(hours=1)}
_TIME_COLUMNS = ("timestamp", "time", "datetime", "interval_start")
_VALUE_COLUMNS = {
    "power_w": 1.0,
    "power_kw": 1000.0,
    "load_w": 1.0,
    "load_kw": 1000.0,
    "net_w": 1.0,
    "net_kw": 1000.0,
}
_PV_COLUMNS = {"pv_w": 1.0, "pv_kw": 1000.0}
_OPTIONAL = {"reactive_var", "reactive_kvar", "quality", "unit"}


def parse_resolution(text: str | pd.Timedelta) -> pd.Timedelta:
    """'15min' or '1h' (also '15m', '60min', '1H') to a Timedelta."""
    if isinstance(text, pd.Timedelta):
        return text
    key = str(text).strip().lower().replace(" ", "")
    aliases = {"15m": "15min", "60min": "1h", "60m": "1h", "hourly": "1h", "h": "1h"}
    key = aliases.get(key, key)
    if key not in RESOLUTIONS:
        raise ValueError(f"resolution {text!r} not supported; use 15min or 1h")
    return RESOLUTIONS[key]


def parse_duration(text: str) -> pd.Timedelta:
    """'72h', '3d', '24h', '90min' to a Timedelta."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(min|m|h|d)\s*", str(text).lower())
    if not m:
        raise ValueError(f"duration {text!r} not understood; use e.g. 72h, 3d or 90min")
    value, unit = float(m.group(1)), m.group(2)
    return pd.Timedelta(
        **{"min": {"minutes": value}, "m": {"minutes": value}, "h": {"hours": value}, "d": {"days": value}}[unit]
    )


@dataclass(init=False)
class Profiles:
    """Per-site load and PV power (W) on a regular UTC time index; no PV is zero PV."""

    load_w: pd.DataFrame
    pv_w: pd.DataFrame
    source: str

    def __init__(self, load_w: pd.DataFrame, pv_w: pd.DataFrame | None = None, source: str = "synthetic") -> None:
        self.load_w = load_w
        if pv_w is None:
            self.pv_w = pd.DataFrame(0.0, index=load_w.index, columns=load_w.columns)
        else:
            self.pv_w = pv_w.reindex(index=load_w.index, columns=load_w.columns).fillna(0.0)
        self.source = source

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.load_w.index

    @property
    def resolution(self) -> pd.Timedelta:
        if len(self.index) < 2:
            return pd.Timedelta(hours=1)
        return pd.Timedelta(self.index[1] - self.index[0])

    @property
    def net_w(self) -> pd.DataFrame:
        return self.load_w - self.pv_w

    def window(self, start: pd.Timestamp, periods: int) -> Profiles:
        """The rows from start (inclusive), periods long."""
        start = _utc(start)
        sel = self.index[self.index >= start][:periods]
        if len(sel) < periods:
            raise ProfileError(f"{self.source}: needs {periods} intervals from {start}, has {len(sel)}")
        return Profiles(self.load_w.loc[sel], self.pv_w.loc[sel], self.source)

    def resample(self, resolution: str | pd.Timedelta) -> Profiles:
        """Average (down) or repeat (up) to another resolution."""
        res = parse_resolution(resolution)
        if res == self.resolution:
            return self
        if res > self.resolution:
            load = self.load_w.resample(res).mean()
            pv = self.pv_w.resample(res).mean()
        else:
            idx = pd.date_range(self.index[0], self.index[-1] + self.resolution - res, freq=res)
            load = self.load_w.reindex(idx, method="ffill")
            pv = self.pv_w.reindex(idx, method="ffill")
        return Profiles(load, pv, self.source)

    def for_sites(self, site_ids: list[str], defaults_w: pd.Series | None = None) -> Profiles:
        """Columns in the order of site_ids; sites without data keep defaults_w (constant)."""
        load = self.load_w.reindex(columns=site_ids)
        pv = self.pv_w.reindex(columns=site_ids).fillna(0.0)
        missing = [s for s in site_ids if s not in self.load_w.columns]
        if missing:
            if defaults_w is None:
                raise ProfileError(f"{self.source}: no data for sites {missing[:5]}")
            for s in missing:
                load[s] = float(defaults_w[s])
        return Profiles(load, pv, self.source)


def _fmt(step: pd.Timedelta) -> str:
    """'15min', '1h', '1d' rather than '0 days 00:15:00'."""
    minutes = step.total_seconds() / 60
    if minutes % 1440 == 0:
        return f"{int(minutes // 1440)}d"
    if minutes % 60 == 0:
        return f"{int(minutes // 60)}h"
    return f"{minutes:g}min"


def _utc(ts) -> pd.Timestamp:
    ts = pd.Timestamp(ts)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


# -- synthetic shapes ----------------------------------------------------------------
def residential_shape(hour: np.ndarray) -> np.ndarray:
    """Daily residential demand (fraction of peak): morning and evening peaks."""
    h = np.asarray(hour, dtype=float)
    morning = 0.30 * np.exp(-0.5 * ((h - 7.5) / 1.4) ** 2)
    evening = 0.60 * np.exp(-0.5 * (_wrap(h - 19.0) / 2.2) ** 2)
    return 0.38 + morning + evening - 0.08 * np.exp(-0.5 * ((h - 3.5) / 2.0) ** 2)


def commercial_shape(hour: np.ndarray) -> np.ndarray:
    """Daily commercial demand (fraction of peak): a working-day plateau."""
    h = np.asarray(hour, dtype=float)
    rise = 1.0 / (1.0 + np.exp(-(h - 7.5) * 2.0))
    fall = 1.0 / (1.0 + np.exp((h - 18.5) * 1.5))
    return 0.35 + 0.65 * rise * fall


def seasonal_factor(day_of_year: np.ndarray) -> np.ndarray:
    """Demand scale over the year: summer cooling peak, smaller winter peak."""
    d = np.asarray(day_of_year, dtype=float)
    return 0.80 + 0.12 * np.cos(2 * math.pi * (d - 200) / 365.25) + 0.08 * np.cos(4 * math.pi * (d - 200) / 365.25)


def pv_shape(hour: np.ndarray, day_of_year: np.ndarray) -> np.ndarray:
    """Clear-sky PV output (fraction of rating) by hour and season."""
    h = np.asarray(hour, dtype=float)
    d = np.asarray(day_of_year, dtype=float)
    half_day = 6.0 + 1.6 * np.cos(2 * math.pi * (d - 172) / 365.25)
    x = (h - (12.5 - half_day)) / (2 * half_day)
    peak = 0.78 + 0.22 * np.cos(2 * math.pi * (d - 172) / 365.25)
    return np.where((x > 0) & (x < 1), peak * np.sin(math.pi * np.clip(x, 0, 1)) ** 1.3, 0.0)


def _wrap(dh: np.ndarray) -> np.ndarray:
    return (dh + 12.0) % 24.0 - 12.0


def synthetic_profiles(
    sites,
    start: str | pd.Timestamp,
    periods: int,
    resolution: str | pd.Timedelta = "1h",
    seed: int = 0,
    peak_fraction: float = 0.6,
    pv_share: float = 0.3,
    pv_ratio: float = 1.0,
    tz: str = "UTC",
) -> Profiles:
    """Built-in demo profiles for a list of Site objects.

    Each site peaks near peak_fraction of its model load (the IEEE models are
    peak-load cases); polyphase sites follow a commercial shape, others a
    residential one. A pv_share of the sites (chosen by seed) has PV rated
    pv_ratio times its model load.
    """
    res = parse_resolution(resolution)
    idx = pd.date_range(_utc(start), periods=periods, freq=res)
    local = idx.tz_convert(tz)
    hour = np.asarray(local.hour + local.minute / 60.0, dtype=float)
    doy = np.asarray(local.day_of_year)
    weekend = np.asarray(local.day_of_week >= 5)
    day_number = np.asarray((idx - idx[0].normalize()) // pd.Timedelta(days=1))
    rng = np.random.default_rng(seed)
    n = len(sites)
    nominal = np.array([max(s.nominal_w, 0.0) for s in sites])
    poly = np.array([s.polyphase for s in sites])
    shift = rng.uniform(-0.75, 0.75, n)
    nday = int(day_number.max()) + 1 if periods else 1
    day_scale = rng.normal(1.0, 0.06, (nday, n)).clip(0.8, 1.2)
    season = seasonal_factor(doy)[:, None]
    hh = hour[:, None] + shift[None, :]
    shape = np.where(poly[None, :], commercial_shape(hh % 24.0), residential_shape(hh % 24.0))
    shape = np.where(poly[None, :] & weekend[:, None], 0.35 + 0.3 * (shape - 0.35), shape)
    noise = rng.normal(1.0, 0.03, (periods, n)).clip(0.9, 1.1)
    load = nominal[None, :] * peak_fraction * season * shape * day_scale[day_number] * noise
    has_pv = rng.random(n) < pv_share
    clear = rng.beta(5.0, 1.5, nday)
    pv = pv_shape(hour, doy)[:, None] * clear[day_number][:, None] * (pv_ratio * nominal * has_pv)[None, :]
    cols = [s.site_id for s in sites]
    return Profiles(
        pd.DataFrame(load, index=idx, columns=cols),
        pd.DataFrame(pv, index=idx, columns=cols),
        "synthetic",
    )


# -- measured history (AMI / SCADA) --------------------------------------------------
def read_profiles(
    path: str | Path,
    resolution: str | pd.Timedelta | None = None,
    site_ids: list[str] | None = None,
    tz: str = "UTC",
) -> Profiles:
    """Read AMI/SCADA history from CSV or Parquet, validated.

    Long layout: timestamp, site_id, and power_w | power_kw | load_w | load_kw
    (net import), optionally pv_w | pv_kw. Wide layout: a timestamp column and
    one column per site (W). Timestamps without zone are taken in tz. Rejects
    unknown columns, unparseable or missing values, duplicate timestamps, gaps
    and sites not on the feeder, naming the file and the row.
    """
    path = Path(path)
    if not path.is_file():
        raise ProfileError(f"{path}: file not found")
    frame, row_base = _read_table(path)
    cols = {c: str(c).strip().lower() for c in frame.columns}
    frame = frame.rename(columns=cols)
    time_col = next((c for c in _TIME_COLUMNS if c in frame.columns), None)
    if time_col is None:
        raise ProfileError(
            f"{path}: no timestamp column (expected one of {', '.join(_TIME_COLUMNS)}; "
            f"found {', '.join(map(str, frame.columns))})"
        )
    if not len(frame):
        raise ProfileError(f"{path}: no data rows")
    stamps = _parse_times(frame[time_col], path, row_base, tz)
    if "site_id" in frame.columns:
        load, pv = _long_layout(frame, stamps, time_col, path, row_base)
    else:
        load, pv = _wide_layout(frame, stamps, time_col, path, row_base)
    if site_ids is not None:
        known = {s.lower(): s for s in site_ids}
        for col in load.columns:
            if str(col).lower() not in known:
                raise SiteError(f"{path}: site {col!r} is not on the feeder{suggest(str(col), site_ids)}")
        load = load.rename(columns=lambda c: known[str(c).lower()])
        pv = pv.rename(columns=lambda c: known[str(c).lower()])
    step = parse_resolution(resolution) if resolution is not None else None
    load, pv = _check_grid(load, pv, path, step)
    return Profiles(load, pv, str(path))


def _read_table(path: Path) -> tuple[pd.DataFrame, int]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            # line numbers in messages: header is line 1, first data row line 2
            return pd.read_csv(path, dtype=str, keep_default_na=False), 2
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path), 1
    except Exception as exc:  # malformed file: say which and why
        raise ProfileError(f"{path}: cannot read: {exc}") from None
    raise ProfileError(f"{path}: unknown format {suffix!r}; use .csv or .parquet")


def _where(path: Path, row_base: int, i: int) -> str:
    return f"{path}: {'line' if row_base == 2 else 'row'} {i + row_base}"


def _is_text(col: pd.Series) -> bool:
    return col.dtype == object or pd.api.types.is_string_dtype(col.dtype)


def _parse_times(col: pd.Series, path: Path, row_base: int, tz: str) -> pd.Series:
    if _is_text(col):
        text = col.astype(str).str.strip()
        stamps = pd.to_datetime(text, errors="coerce", utc=False, format="ISO8601")
        if stamps.isna().any():
            stamps = pd.to_datetime(text, errors="coerce", utc=False, format="mixed")
    else:
        text = col
        stamps = pd.to_datetime(col, errors="coerce")
    bad = np.flatnonzero(stamps.isna().to_numpy())
    if len(bad):
        raise ProfileError(f"{_where(path, row_base, bad[0])}: cannot parse timestamp {col.iloc[bad[0]]!r}")
    try:
        if getattr(stamps.dt, "tz", None) is None:
            stamps = stamps.dt.tz_localize(tz)
        return stamps.dt.tz_convert("UTC")
    except (TypeError, ValueError):
        # mixed offsets: parse each with its own offset, then convert
        return pd.to_datetime(text, utc=True, format="mixed")


def _numbers(values: pd.Series, name: str, path: Path, row_base: int) -> np.ndarray:
    if _is_text(values):
        text = values.astype(str).str.strip()
        num = pd.to_numeric(text, errors="coerce")
        empty = text == ""
    else:
        num = pd.to_numeric(values, errors="coerce")
        empty = values.isna()
    bad = np.flatnonzero(num.isna().to_numpy() | ~np.isfinite(num.fillna(0).to_numpy(dtype=float)))
    if len(bad):
        i = bad[0]
        what = "missing value" if bool(np.asarray(empty)[i]) else f"not a number: {values.iloc[i]!r}"
        raise ProfileError(f"{_where(path, row_base, i)}: column {name!r}: {what}")
    return num.to_numpy(dtype=float)


def _long_layout(frame, stamps, time_col, path, row_base):
    value_col = next((c for c in _VALUE_COLUMNS if c in frame.columns), None)
    if value_col is None:
        raise ProfileError(
            f"{path}: no power column (expected one of {', '.join(_VALUE_COLUMNS)}; "
            f"found {', '.join(map(str, frame.columns))})"
        )
    pv_col = next((c for c in _PV_COLUMNS if c in frame.columns), None)
    allowed = {time_col, "site_id", value_col, pv_col, *_OPTIONAL}
    extra = [c for c in frame.columns if c not in allowed]
    if extra:
        known = list(_TIME_COLUMNS) + ["site_id"] + list(_VALUE_COLUMNS) + list(_PV_COLUMNS) + sorted(_OPTIONAL)
        raise ProfileError(f"{path}: unknown column {extra[0]!r}{suggest(extra[0], known)}")
    sites = frame["site_id"].astype(str).str.strip()
    empty = np.flatnonzero((sites == "").to_numpy())
    if len(empty):
        raise ProfileError(f"{_where(path, row_base, empty[0])}: column 'site_id': missing value")
    power = _numbers(frame[value_col], value_col, path, row_base) * _VALUE_COLUMNS[value_col]
    pv = _numbers(frame[pv_col], pv_col, path, row_base) * _PV_COLUMNS[pv_col] if pv_col else np.zeros(len(frame))
    if pv_col is None or value_col.startswith(("power", "net")):
        load = power + pv  # net import plus generation is consumption
    else:
        load = power
    key = pd.DataFrame({"t": stamps.to_numpy(), "s": sites.to_numpy()})
    dup = key.duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        first = rows[0]
        twin_row = rows[1:][(key.iloc[rows[1:]] == key.iloc[first]).all(axis=1).to_numpy()][0]
        raise ProfileError(
            f"{path}: duplicate timestamp {stamps.iloc[first]} for site {sites.iloc[first]!r} "
            f"({'lines' if row_base == 2 else 'rows'} {first + row_base} and {twin_row + row_base})"
        )
    rows = pd.Series(np.arange(len(frame)))
    data = pd.DataFrame({"t": stamps.to_numpy(), "s": sites.to_numpy(), "load": load, "pv": pv, "row": rows})
    load_w = data.pivot(index="t", columns="s", values="load")
    pv_w = data.pivot(index="t", columns="s", values="pv")
    row_of = data.pivot(index="t", columns="s", values="row")
    _missing_cells(load_w, row_of, path, row_base)
    load_w.attrs["rows"] = row_of
    return load_w, pv_w


def _missing_cells(load_w, row_of, path, row_base) -> None:
    """A site without a value at a timestamp others have is a gap."""
    holes = load_w.isna()
    if holes.to_numpy().any():
        t_idx, s_idx = np.argwhere(holes.to_numpy())[0]
        site = load_w.columns[s_idx]
        stamp = load_w.index[t_idx]
        col = row_of[site].dropna()
        before = col[col.index < stamp]
        near = f" (after {'line' if row_base == 2 else 'row'} {int(before.iloc[-1]) + row_base})" if len(before) else ""
        raise ProfileError(f"{path}: gap: site {site!r} has no value at {stamp}{near}")


def _wide_layout(frame, stamps, time_col, path, row_base):
    cols = [c for c in frame.columns if c != time_col]
    if not cols:
        raise ProfileError(f"{path}: no site columns next to {time_col!r}")
    data = {}
    for c in cols:
        data[c] = _numbers(frame[c], c, path, row_base)
    load = pd.DataFrame(data, index=pd.DatetimeIndex(stamps.to_numpy()))
    dup = load.index.duplicated(keep=False)
    if dup.any():
        rows = np.flatnonzero(dup)
        same = rows[load.index[rows] == load.index[rows[0]]]
        raise ProfileError(
            f"{path}: duplicate timestamp {load.index[rows[0]]} "
            f"({'lines' if row_base == 2 else 'rows'} {same[0] + row_base} and {same[1] + row_base})"
        )
    load.attrs["rows"] = pd.DataFrame({c: np.arange(len(frame), dtype=float) for c in cols}, index=load.index)
    return load, pd.DataFrame(0.0, index=load.index, columns=load.columns)


def _check_grid(load, pv, path, step):
    """Sorted, regular timestamps: report the first gap or off-grid stamp with its row."""
    rows = load.attrs.get("rows")
    order = np.argsort(load.index.to_numpy(), kind="stable")
    load, pv = load.iloc[order], pv.iloc[order]
    if rows is not None:
        rows = rows.iloc[order]
    idx = load.index
    if len(idx) < 2:
        raise ProfileError(f"{path}: needs at least two timestamps")
    diffs = pd.TimedeltaIndex(np.diff(idx.to_numpy()))
    if step is None:
        step = pd.Timedelta(pd.Series(diffs).median())
    if step <= pd.Timedelta(0):
        raise ProfileError(f"{path}: timestamps do not advance")

    def line(k: int) -> str:
        if rows is None:
            return ""
        r = rows.iloc[k].dropna()
        return (
            f" ({'line' if path.suffix.lower() == '.csv' else 'row'} {int(r.iloc[0]) + (2 if path.suffix.lower() == '.csv' else 1)})"
            if len(r)
            else ""
        )

    for k, d in enumerate(diffs):
        if d == step:
            continue
        if d > step and d % step == pd.Timedelta(0):
            raise ProfileError(
                f"{path}: gap: no data between {idx[k]}{line(k)} and {idx[k + 1]}{line(k + 1)} "
                f"({int(d / step) - 1} missing {_fmt(step)} intervals)"
            )
        raise ProfileError(f"{path}: timestamp {idx[k + 1]}{line(k + 1)} is off the {_fmt(step)} grid")
    load = load.copy()
    load.attrs = {}
    load.index = pd.DatetimeIndex(load.index, freq=step)
    pv = pv.copy()
    pv.index = load.index
    return load, pv


# -- forecasts and planning scenarios ------------------------------------------------
def forecast(history: Profiles, start, periods: int, resolution="1h", weeks: int = 4) -> Profiles:
    """Day-ahead style forecast: mean of the same weekday and time over the last weeks.

    Falls back to the same time of day over all days when a weekday is missing.
    """
    res = parse_resolution(resolution)
    hist = history.resample(res)
    start = _utc(start)
    past = hist.index[hist.index < start]
    if not len(past):
        raise ProfileError(f"{history.source}: no history before {start}")
    keep = hist.index[(hist.index >= start - pd.Timedelta(weeks=weeks)) & (hist.index < start)]
    idx = pd.date_range(start, periods=periods, freq=res)
    out = {}
    for name, frame in (("load", hist.load_w.loc[keep]), ("pv", hist.pv_w.loc[keep])):
        tod = frame.index.hour * 60 + frame.index.minute
        by_week = frame.groupby([frame.index.day_of_week, tod]).mean()
        by_day = frame.groupby(tod).mean()
        rows = []
        for t in idx:
            key = (t.day_of_week, t.hour * 60 + t.minute)
            if key in by_week.index:
                rows.append(by_week.loc[key].to_numpy())
            elif (t.hour * 60 + t.minute) in by_day.index:
                rows.append(by_day.loc[t.hour * 60 + t.minute].to_numpy())
            else:
                rows.append(frame.mean().to_numpy())
        out[name] = pd.DataFrame(np.array(rows), index=idx, columns=frame.columns)
    return Profiles(out["load"], out["pv"], f"forecast from {history.source}")


def month_hour_worst(profiles: Profiles, tz: str = "UTC") -> tuple[pd.DataFrame, Profiles, Profiles]:
    """Worst cases per month x hour over a year: (keys, import case, export case).

    The import case takes every site's highest load and lowest PV at that month and
    hour (least room to import); the export case the lowest load and highest PV.
    """
    local = profiles.index.tz_convert(tz)
    key = pd.MultiIndex.from_arrays([local.month, local.hour], names=["month", "hour"])
    load = profiles.load_w.set_axis(key)
    pv = profiles.pv_w.set_axis(key)
    present = sorted(set(key))
    if len(present) < 288:
        months = sorted({m for m, _ in present})
        if len(months) < 12:
            raise ProfileError(f"{profiles.source}: a static envelope needs a year of data; months present: {months}")
    lmax, lmin = load.groupby(level=[0, 1]).max(), load.groupby(level=[0, 1]).min()
    pmax, pmin = pv.groupby(level=[0, 1]).max(), pv.groupby(level=[0, 1]).min()
    keys = lmax.index.to_frame(index=False)
    dummy = pd.date_range("2000-01-01", periods=len(keys), freq="h", tz="UTC")
    imp = Profiles(lmax.set_axis(dummy), pmin.set_axis(dummy), profiles.source)
    exp = Profiles(lmin.set_axis(dummy), pmax.set_axis(dummy), profiles.source)
    return keys, imp, exp
