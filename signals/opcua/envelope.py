"""Operating envelopes as plain data: intervals of import and export limits.

The publish API takes whatever the caller has — dicts, a twin Envelope's
intervals, rows of a CSV — as long as each item has `start` (datetime or Unix
seconds), `duration_s`, `import_limit_w` and `export_limit_w`, so signals/ needs
nothing from the twin.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua import ua

UTC = dt.UTC
FIELDS = ("start", "duration_s", "import_limit_w", "export_limit_w")


class EnvelopeError(ValueError):
    """An envelope that cannot be published; `status` is the OPC-UA status code a method call returns."""

    def __init__(self, message: str, status: int = ua.StatusCodes.BadInvalidArgument) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Interval:
    """One envelope interval: limits in W from start_s (Unix seconds) for duration_s."""

    start_s: float
    duration_s: float
    import_limit_w: float
    export_limit_w: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.start_s, UTC)


def to_unix_s(value: Any) -> float:
    """Unix seconds from a datetime (naive means UTC), an ISO 8601 string, or a number (or its text)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            return to_unix_s(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp, without importing pandas
        return to_unix_s(value.to_pydatetime())
    return float(value)


def _field(item: Any, name: str) -> Any:
    if isinstance(item, dict):
        if name not in item:
            raise EnvelopeError(f"envelope interval {item!r} has no {name!r}")
        return item[name]
    if not hasattr(item, name):
        raise EnvelopeError(f"envelope interval {item!r} has no attribute {name!r}")
    return getattr(item, name)


def to_intervals(items: Iterable[Any]) -> list[Interval]:
    """Intervals sorted by start; refuses non-finite numbers, negative limits, empty or overlapping intervals."""
    out: list[Interval] = []
    for item in items:
        if isinstance(item, Interval):
            out.append(item)
            continue
        try:
            values = [to_unix_s(_field(item, "start"))] + [float(_field(item, f)) for f in FIELDS[1:]]
        except (TypeError, ValueError) as exc:
            if isinstance(exc, EnvelopeError):
                raise
            raise EnvelopeError(f"envelope interval {item!r}: {exc}") from exc
        out.append(Interval(*values))
    out.sort(key=lambda i: i.start_s)
    for i, interval in enumerate(out):
        numbers = (interval.start_s, interval.duration_s, interval.import_limit_w, interval.export_limit_w)
        if not all(math.isfinite(x) for x in numbers):
            raise EnvelopeError(f"envelope interval {i}: every number must be finite", ua.StatusCodes.BadOutOfRange)
        if interval.duration_s <= 0:
            raise EnvelopeError(f"envelope interval {i}: duration_s must be > 0", ua.StatusCodes.BadOutOfRange)
        if interval.import_limit_w < 0 or interval.export_limit_w < 0:
            raise EnvelopeError(f"envelope interval {i}: limits are magnitudes (>= 0 W)", ua.StatusCodes.BadOutOfRange)
        if i and out[i - 1].end_s > interval.start_s + 1e-6:
            raise EnvelopeError(f"envelope intervals {i - 1} and {i} overlap")
    return out


def check_within(intervals: list[Interval], max_import_w: float, max_export_w: float, site: str) -> None:
    """Refuse limits outside the site's physical range (BadOutOfRange)."""
    for i, interval in enumerate(intervals):
        if interval.import_limit_w > max_import_w or interval.export_limit_w > max_export_w:
            raise EnvelopeError(
                f"site {site}, envelope interval {i}: limits {interval.import_limit_w} W import, "
                f"{interval.export_limit_w} W export exceed the site's range "
                f"({max_import_w} W import, {max_export_w} W export)",
                ua.StatusCodes.BadOutOfRange,
            )


def active_index(intervals: list[Interval], now_s: float) -> int | None:
    """Index of the interval containing now_s (start inclusive, end exclusive), or None."""
    starts = [i.start_s for i in intervals]
    k = bisect.bisect_right(starts, now_s) - 1
    if k >= 0 and now_s < intervals[k].end_s:
        return k
    return None


def load_envelope_file(path: str | Path, site: str | None = None) -> list[Interval]:
    """Intervals from CSV (header with the four fields) or JSON (a list of objects, or {"intervals": [...]}).

    A `site` column or key, when present, selects the rows for `site`.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text())
        rows = data.get("intervals", []) if isinstance(data, dict) else data
    elif path.suffix.lower() == ".csv":
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    else:
        raise EnvelopeError(f"{path}: envelope files are .csv or .json")
    if site is not None and rows and isinstance(rows[0], dict) and "site" in rows[0]:
        rows = [r for r in rows if str(r["site"]) == site]
    return to_intervals(rows)
