"""Envelope files (CSV or JSON), read once for every publisher: one site's Envelope, chosen from many.

What is read:

- CSV: a header with ``start`` (or ``start_s``), ``duration_s``, ``import_limit_w``,
  ``export_limit_w``; optionally a site column (``site_id``, ``site`` or ``location``)
  and the firm limits (``firm_import_w``, ``firm_export_w``). Leading ``#`` lines
  (the twin's ``# key: value`` meta data) are skipped.
- JSON: a list of such records, or an object with ``intervals`` (or ``envelope``)
  holding them; or the twin's file (``flexbench envelope --out x.json``): an object
  with ``intervals`` (start, duration_s) and ``sites``, each with the limits as
  arrays over the intervals and its firm limits.

Limits are magnitudes (>= 0 W) and a negative one is refused, except in the twin's
files (schema ``flexbench-envelope/1``, in a ``# schema:`` line or a ``schema`` key):
there a negative limit means the site must keep importing (or exporting) that much,
and it is read as 0, the tightest a site limit can say (as ``EnvelopeSet.envelope`` does).

Errors are IntervalError with one line naming the file, the row (CSV line, or
JSON record) and the field.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from flexbench.core.limits import Envelope, Interval, IntervalError, SiteLimits

TWIN_SCHEMA = "flexbench-envelope/1"
SITE_KEYS = ("site_id", "site", "location")
SIDES = ("import_limit_w", "export_limit_w")
FIRM_KEYS = {"import_limit_w": "firm_import_w", "export_limit_w": "firm_export_w"}

# (where, record): where names the row for an error message, e.g. "line 4" or "site a, interval 3".
Row = tuple[str, Mapping[str, Any]]


def read_envelopes(path: str | Path) -> dict[str, Envelope]:
    """Every site's envelope in the file, by site id ("" for a file without a site column)."""
    path = Path(path)
    return {site: envelope_of_rows(path, site, site_rows) for site, site_rows in rows_by_site(path).items()}


def rows_by_site(
    path: str | Path, missing_columns: Callable[[set[str]], list[str]] | None = None
) -> dict[str, list[Row]]:
    """The file's records, by site id ("" without a site column), each with where it is in the file.

    `missing_columns` names the columns a CSV header lacks (default: an envelope's); the
    schedule reader (core.schedule_files) asks for its own.
    """
    path = Path(path)
    if not path.is_file():
        raise IntervalError(f"{path}: no such envelope file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = list(_csv_rows(path, missing_columns or _envelope_columns_missing))
    elif suffix == ".json":
        rows = list(_json_rows(path))
    else:
        raise IntervalError(f"{path}: envelope files are .csv or .json, got {suffix or 'no suffix'!r}")
    by_site: dict[str, list[Row]] = {}
    for where, record in rows:
        by_site.setdefault(_site_of(record), []).append((where, record))
    if not by_site:
        raise IntervalError(f"{path}: no intervals")
    return by_site


def read_envelope_file(path: str | Path, site: str | None = None, *, default_site: str | None = None) -> Envelope:
    """One site's envelope from a file.

    `site` names the file's site to read; without it, `default_site` when the file
    holds that site, else the file's only site.
    """
    envelopes = read_envelopes(path)
    chosen = choose_site(path, list(envelopes), site, default_site)
    only = envelopes[chosen]
    if chosen == "" and (site or default_site):  # no site column: the file is one site's envelope
        return Envelope(site_id=site or default_site or "", intervals=only.intervals, firm=only.firm)
    return only


def choose_site(path: str | Path, sites: list[str], site: str | None, default_site: str | None) -> str:
    """The file's site to read: `site`, else `default_site` when the file holds it, else its only site
    ("" names a file without a site column, which is any site's)."""
    if site is None and default_site in sites:
        site = default_site
    if site is not None and site in sites:
        return site
    if sites == [""]:
        return ""
    if site is None and len(sites) == 1:
        return sites[0]
    names = sorted(sites)
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    if site is None:
        raise IntervalError(f"{path}: holds {len(names)} sites ({shown}); choose one by its site id")
    raise IntervalError(f"{path}: no site {site!r} (it holds {shown})")


def _site_of(record: Mapping[str, Any]) -> str:
    for key in SITE_KEYS:
        value = record.get(key)
        if value not in (None, ""):
            return str(value)
    return ""


def envelope_of_rows(path: Path, site: str, rows: list[Row]) -> Envelope:
    """One site's Envelope from its records (`rows_by_site`); errors name file, row and field."""
    label = f"{path}: site {site}" if site else str(path)
    intervals: list[Interval] = []
    for where, record in rows:
        if record.get("start") in (None, "") and record.get("start_s") in (None, ""):
            static = " (a static envelope holds month x hour values, not times)" if "month" in record else ""
            raise IntervalError(f"{path}: {where}: start: missing{static}")
        try:
            intervals.append(Interval.parse(record))
        except IntervalError as exc:
            raise IntervalError(f"{path}: {where}: {exc}") from None
    try:
        return Envelope(site_id=site, intervals=tuple(intervals), firm=firm_of_rows(path, rows))
    except IntervalError as exc:
        raise IntervalError(f"{label}: {exc}") from None


def firm_of_rows(path: Path, rows: list[Row]) -> SiteLimits:
    """The firm limits a site's first record gives (firm_import_w, firm_export_w; none: not limited)."""
    where, first = rows[0]
    try:
        return SiteLimits(**{side: first.get(key) for side, key in FIRM_KEYS.items()})
    except IntervalError as exc:
        raise IntervalError(f"{path}: {where}: firm limits: {exc}") from None


def _twin_limits(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record of the twin's file with its signed limits as magnitudes (a negative one as 0)."""
    out = dict(record)
    for side in SIDES:
        try:
            if float(out[side]) < 0:
                out[side] = 0.0
        except (KeyError, TypeError, ValueError):
            pass  # missing or not a number: Interval.parse names it
    return out


def _csv_rows(path: Path, missing_columns: Callable[[set[str]], list[str]]) -> Iterator[Row]:
    with path.open(newline="") as fh:
        lines = fh.readlines()
    skipped = 0
    while skipped < len(lines) and lines[skipped].lstrip().startswith("#"):
        skipped += 1
    twin = any(line.lstrip("# ").startswith(f"schema: {TWIN_SCHEMA}") for line in lines[:skipped])
    reader = csv.DictReader(lines[skipped:])
    if reader.fieldnames is None:
        raise IntervalError(f"{path}: no header line")
    missing = missing_columns(set(reader.fieldnames))
    if missing:
        raise IntervalError(f"{path}: line {skipped + 1} (header): missing column(s) {', '.join(missing)}")
    for record in reader:
        yield f"line {skipped + reader.line_num}", _twin_limits(record) if twin else record


def _envelope_columns_missing(present: set[str]) -> list[str]:
    missing = [k for k in ("duration_s", "import_limit_w", "export_limit_w") if k not in present]
    if "start" not in present and "start_s" not in present:
        missing.insert(0, "start")
    return missing


def _json_rows(path: Path) -> Iterator[Row]:
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntervalError(f"{path}: not JSON: {exc}") from None
    if isinstance(data, dict) and "sites" in data:
        yield from _site_arrays_rows(path, data, twin=data.get("schema") == TWIN_SCHEMA)
        return
    if isinstance(data, dict):
        data = data.get("intervals", data.get("envelope"))
    if not isinstance(data, list):
        raise IntervalError(f"{path}: expected a list of intervals, an object with 'intervals', or a twin envelope")
    for n, record in enumerate(data):
        if not isinstance(record, dict):
            raise IntervalError(f"{path}: interval {n}: expected an object, got {record!r}")
        yield f"interval {n}", record


def _site_arrays_rows(path: Path, data: Mapping[str, Any], twin: bool) -> Iterator[Row]:
    """Rows of a JSON like the twin's: intervals shared by all sites, each site's limits as arrays over them."""
    times = data.get("intervals")
    sites = data.get("sites")
    if not isinstance(times, list) or not isinstance(sites, list):
        raise IntervalError(f"{path}: a twin envelope needs lists 'intervals' and 'sites'")
    for s, site in enumerate(sites):
        if not isinstance(site, dict):
            raise IntervalError(f"{path}: sites[{s}]: expected an object")
        name = _site_of(site) or f"sites[{s}]"
        for key in ("import_limit_w", "export_limit_w"):
            values = site.get(key)
            if not isinstance(values, list) or len(values) != len(times):
                raise IntervalError(f"{path}: site {name}: {key}: expected {len(times)} values, one per interval")
        for k, when in enumerate(times):
            if not isinstance(when, dict):
                raise IntervalError(f"{path}: intervals[{k}]: expected an object")
            record = {
                **when,
                "site_id": name,
                "import_limit_w": site["import_limit_w"][k],
                "export_limit_w": site["export_limit_w"][k],
                "firm_import_w": site.get("firm_import_w"),
                "firm_export_w": site.get("firm_export_w"),
            }
            yield f"site {name}, interval {k}", _twin_limits(record) if twin else record
