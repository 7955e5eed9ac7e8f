"""Schedule files (CSV or JSON) a PCS is configured with: static (month x hour) or variable.

Read with the envelope file reader (core.envelope_files: same layouts, site columns,
firm limits, the twin's meta lines and negative limits), one record per row:

- static: ``month`` (1-12), ``hour`` (0-23), ``import_limit_w``, ``export_limit_w``, every
  month x hour once (288 rows per site); a blank limit leaves that side to the firm
  limits. ``flexbench envelope --kind static --out F.csv|F.json`` writes this as it is
  (its ``start`` is blank, ``duration_s`` 3600).
- variable: ``start`` (ISO 8601 or epoch seconds), ``duration_s`` and the two limits, as
  an envelope file; after the last interval the firm limits apply.

A file is one kind: its first record decides (a month and no start: static), and a
record of the other kind is refused. Errors are IntervalError, one line naming the
file, the row (CSV line or JSON record) and the column.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flexbench.core.envelope_files import (
    Row,
    choose_site,
    envelope_of_rows,
    firm_of_rows,
    rows_by_site,
)
from flexbench.core.limits import Envelope, IntervalError, SiteLimits
from flexbench.core.schedules import HOURS, MONTHS, Schedule, StaticSchedule, cell_name

LIMITS = ("import_limit_w", "export_limit_w")


def read_schedule(path: str | Path, site: str | None = None, *, default_site: str | None = None) -> Schedule:
    """One site's schedule from a file: a StaticSchedule, or an Envelope for a variable one.

    `site` names the file's site; without it, `default_site` when the file holds it, else its only site.
    """
    path = Path(path)
    by_site = rows_by_site(path, _columns_missing)
    chosen = choose_site(path, list(by_site), site, default_site)
    rows = by_site[chosen]
    site_id = chosen or site or default_site or ""
    if is_static_record(rows[0][1]):
        return _static(path, site_id, rows)
    for where, record in rows:
        if is_static_record(record):
            raise IntervalError(f"{path}: {where}: month: a variable schedule's rows give a start, not a month")
    return envelope_of_rows(path, site_id, rows)


def is_static_record(record: Mapping[str, Any]) -> bool:
    """A record of a static schedule: a month (not the twin's 0 of a timed interval) and no start."""
    blank = (None, "")
    return (
        record.get("month") not in (*blank, 0, "0") and record.get("start") in blank and record.get("start_s") in blank
    )


def _columns_missing(present: set[str]) -> list[str]:
    """A static file's header needs month and hour, a variable one's start and duration_s; both the limits."""
    missing = [k for k in LIMITS if k not in present]
    if "start" in present or "start_s" in present:
        when = [] if {"month", "hour"} <= present or "duration_s" in present else ["duration_s"]
    else:
        when = [k for k in ("month", "hour") if k not in present]
    return when + missing


def _static(path: Path, site_id: str, rows: list[Row]) -> StaticSchedule:
    table: dict[tuple[int, int], SiteLimits] = {}
    first_seen: dict[tuple[int, int], str] = {}
    for where, record in rows:
        if not is_static_record(record):
            raise IntervalError(f"{path}: {where}: start: a static schedule's rows give month and hour, not a start")
        month = _whole(path, where, record, "month", MONTHS)
        hour = _whole(path, where, record, "hour", HOURS)
        duration = record.get("duration_s")
        if duration not in (None, "") and _number(path, where, "duration_s", duration) != 3600:
            raise IntervalError(f"{path}: {where}: duration_s: a static schedule's cells are an hour, got {duration!r}")
        if (month, hour) in table:
            raise IntervalError(
                f"{path}: {where}: {cell_name(month, hour)} given twice (first at {first_seen[(month, hour)]})"
            )
        try:
            table[(month, hour)] = SiteLimits(**{side: record.get(side) for side in LIMITS})
        except IntervalError as exc:
            raise IntervalError(f"{path}: {where}: {exc}") from None
        first_seen[(month, hour)] = where
    label = f"{path}: site {site_id}" if site_id else str(path)
    try:
        return StaticSchedule.of(table, firm=firm_of_rows(path, rows), site_id=site_id)
    except IntervalError as exc:
        raise IntervalError(f"{label}: {exc}") from None


def _number(path: Path, where: str, column: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise IntervalError(f"{path}: {where}: {column}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise IntervalError(f"{path}: {where}: {column}: expected a finite number, got {value!r}")
    return number


def _whole(path: Path, where: str, record: Mapping[str, Any], column: str, allowed: range) -> int:
    value = record.get(column)
    if value in (None, ""):
        raise IntervalError(f"{path}: {where}: {column}: missing")
    number = _number(path, where, column, value)
    if number != int(number) or int(number) not in allowed:
        raise IntervalError(f"{path}: {where}: {column}: expected {allowed.start} to {allowed.stop - 1}, got {value!r}")
    return int(number)


# -- writing --------------------------------------------------------------------------------------


def write_schedule(path: str | Path, schedule: Schedule) -> Path:
    """Write a schedule as `read_schedule` reads it: CSV (one row per cell or interval) or JSON (records)."""
    path = Path(path)
    records = schedule_records(schedule)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps({"intervals": records}, indent=1) + "\n")
        return path
    if path.suffix.lower() != ".csv":
        raise IntervalError(f"{path}: schedule files are .csv or .json")
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(records[0]) if records else [])
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in records)
    return path


def schedule_records(schedule: Schedule) -> list[dict[str, Any]]:
    """The file's records: month, hour (static) or start, duration_s (variable); the limits; the firm limits."""
    firm = {"firm_import_w": schedule.firm.import_limit_w, "firm_export_w": schedule.firm.export_limit_w}
    if isinstance(schedule, StaticSchedule):
        return [{"month": m, "hour": h, **_limits(schedule.cell(m, h)), **firm} for m in MONTHS for h in HOURS]
    if not isinstance(schedule, Envelope):
        raise TypeError(f"a schedule is a StaticSchedule or an Envelope, not a {type(schedule).__name__}")
    return [
        {
            "start": dt.datetime.fromtimestamp(i.start_s, dt.UTC).isoformat(),
            "duration_s": i.duration_s,
            **_limits(i.limits),
            **firm,
        }
        for i in schedule.intervals
    ]


def _limits(limits: SiteLimits) -> dict[str, float | None]:
    return {"import_limit_w": limits.import_limit_w, "export_limit_w": limits.export_limit_w}
