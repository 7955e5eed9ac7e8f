"""Envelopes as plain data: intervals of import and export limits for one site.

The operator API takes any of: a list of (start, duration_s, import_limit_w,
export_limit_w) tuples, dicts with those keys, or objects with those
attributes. `start` is epoch seconds, an aware datetime (naive means UTC) or
an ISO 8601 string. Files (CSV or JSON) use the same column names.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIELDS = ("start", "duration_s", "import_limit_w", "export_limit_w")
SITE_KEYS = ("site", "site_id", "location")


@dataclass(frozen=True)
class Interval:
    """One interval of an envelope; a limit of None leaves that element out of the control."""

    start_s: int
    duration_s: int
    import_limit_w: float | None
    export_limit_w: float | None

    @property
    def end_s(self) -> int:
        return self.start_s + self.duration_s


def to_epoch_s(value: Any) -> int:
    """Epoch seconds from a number, a datetime or an ISO 8601 string."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp())
    if isinstance(value, (int, float)):
        return int(value)
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return to_epoch_s(value.to_pydatetime())
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(float(text))
        except ValueError:
            pass
        try:
            return to_epoch_s(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
        except ValueError:
            raise ValueError(f"start {value!r} is neither epoch seconds nor an ISO 8601 time") from None
    raise ValueError(f"start {value!r} is neither epoch seconds nor a time")


def _limit(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    number = float(value)
    if math.isnan(number):
        return None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite, non-negative number of watts, got {value!r}")
    return number


def _get(item: Any, key: str) -> Any:
    if isinstance(item, dict):
        return item.get(key)
    return getattr(item, key, None)


def as_interval(item: Any) -> Interval:
    if isinstance(item, Interval):
        return item
    if isinstance(item, (tuple, list)):
        if len(item) != 4:
            raise ValueError(f"an interval tuple is {FIELDS}, got {item!r}")
        start, duration, imp, exp = item
    else:
        start = _get(item, "start")
        if start is None:
            start = _get(item, "start_s")
        duration, imp, exp = (_get(item, k) for k in FIELDS[1:])
    if start is None or duration is None:
        raise ValueError(f"an interval needs start and duration_s, got {item!r}")
    duration_s = int(float(duration))
    if duration_s <= 0:
        raise ValueError(f"duration_s must be positive, got {duration!r}")
    return Interval(to_epoch_s(start), duration_s, _limit(imp, "import_limit_w"), _limit(exp, "export_limit_w"))


def as_intervals(items: Any) -> list[Interval]:
    """Normalise an envelope (iterable of intervals, or an object with `.intervals`) to sorted Intervals."""
    if hasattr(items, "intervals") and not isinstance(items, (list, tuple)):
        items = items.intervals
    out = sorted((as_interval(i) for i in items), key=lambda i: i.start_s)
    for a, b in zip(out, out[1:]):
        if b.start_s < a.end_s:
            raise ValueError(f"intervals overlap: one starts at {b.start_s} before the previous ends at {a.end_s}")
    return out


def _site_of(row: dict[str, Any]) -> str | None:
    for key in SITE_KEYS:
        if row.get(key) not in (None, ""):
            return str(row[key])
    return None


def read_envelope_file(path: str | Path, site: str | None = None) -> list[Interval]:
    """Intervals from a CSV or JSON envelope file, for one site if the file holds several."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such envelope file")
    suffix = path.suffix.lower()
    rows: list[dict[str, Any]]
    if suffix == ".csv":
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    elif suffix == ".json":
        data = json.loads(path.read_text())
        if isinstance(data, dict):
            data = data.get("intervals", data.get("envelope", []))
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a list of intervals or an object with 'intervals'")
        rows = data
    else:
        raise ValueError(f"{path}: envelope files are .csv or .json")
    if site is not None:
        rows = [r for r in rows if _site_of(r) in (None, site)]
    sites = {_site_of(r) for r in rows} - {None}
    if len(sites) > 1:
        raise ValueError(f"{path}: holds sites {sorted(sites)}; choose one with --envelope-site")
    out = []
    for number, row in enumerate(rows, start=2 if suffix == ".csv" else 1):
        missing = [k for k in ("start", "duration_s") if row.get(k) in (None, "")]
        if missing:
            raise ValueError(f"{path}: row {number}: missing {', '.join(missing)}")
        try:
            out.append(as_interval(row))
        except ValueError as exc:
            raise ValueError(f"{path}: row {number}: {exc}") from None
    if not out:
        raise ValueError(f"{path}: no intervals" + (f" for site {site}" if site else ""))
    return as_intervals(out)
