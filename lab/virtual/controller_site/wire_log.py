"""The wire log: every Modbus read and write a controller makes on the site's devices.

One JSON object a line in ``<run_dir>/wire-log.jsonl``, written as each
request is answered (flushed at once, so a run cut short keeps it):

    {"t_s": bench time, "device": "pv1", "unit": 1, "fc": 16, "op": "write",
     "address": 40085, "count": 1, "values": [500], "exception": null,
     "answered": true, "points": {"704.WMaxLimPct": 50.0}, "models": [704]}

``points`` holds the engineering value of each writable point a write
covered (read-only points inside a block write are ignored by the device and
not listed); ``models`` the SunSpec models (or map points) a request touched.
``summarize`` and ``summary_html`` turn the file into the report's table:
per device and point, reads, writes, write rate, first/last/min/max value.
"""

from __future__ import annotations

import json
import threading
from html import escape
from pathlib import Path
from typing import IO, Any

WIRE_LOG_FILE = "wire-log.jsonl"


class WireLog:
    """Appends exchanges to the run folder's wire log; without a folder it keeps them in memory only."""

    def __init__(self, run_dir: Path | None) -> None:
        self.path = Path(run_dir) / WIRE_LOG_FILE if run_dir is not None else None
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self.records: list[dict[str, Any]] = []

    def open(self) -> None:
        if self.path is not None and self._file is None:
            self._file = self.path.open("a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"))
        with self._lock:
            self.records.append(record)
            if self._file is not None:
                self._file.write(line + "\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_wire_log(path: Path) -> list[dict[str, Any]]:
    """Records of a wire log; a line cut off by a killed run is skipped."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def summarize(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per device and point written, or model (point) read: counts, rate and values."""
    if not records:
        return []
    span_s = max(r["t_s"] for r in records) - min(r["t_s"] for r in records)
    rows: dict[tuple[str, str], dict[str, Any]] = {}

    def row(device: str, what: str) -> dict[str, Any]:
        return rows.setdefault(
            (device, what),
            {
                "device": device,
                "point": what,
                "reads": 0,
                "writes": 0,
                "refused": 0,
                "unanswered": 0,
                "first_t_s": None,
                "last_t_s": None,
                "first": None,
                "last": None,
                "min": None,
                "max": None,
            },
        )

    for r in records:
        if r["op"] == "read" or not r.get("points"):
            targets = [str(m) if isinstance(m, str) else f"model {m}" for m in r.get("models") or []] or [
                f"register {r['address']}"
            ]
            for what in targets:
                entry = row(r["device"], what)
                if r["op"] == "read":
                    entry["reads"] += 1
                else:
                    entry["writes"] += 1
                entry["refused"] += r.get("exception") is not None
                entry["unanswered"] += not r.get("answered", True)
            continue
        for point, value in r["points"].items():
            entry = row(r["device"], point)
            entry["writes"] += 1
            entry["first_t_s"] = entry["first_t_s"] if entry["first_t_s"] is not None else r["t_s"]
            entry["last_t_s"] = r["t_s"]
            if entry["first"] is None:
                entry["first"] = value
            entry["last"] = value
            if isinstance(value, (int, float)):
                entry["min"] = value if entry["min"] is None else min(entry["min"], value)
                entry["max"] = value if entry["max"] is None else max(entry["max"], value)
    for entry in rows.values():
        entry["writes_per_min"] = entry["writes"] * 60.0 / span_s if span_s > 0 and entry["writes"] else None
    return sorted(rows.values(), key=lambda e: (e["device"], e["writes"] == 0, e["point"]))


def _cell(value: Any) -> str:
    if value is None:
        return "&mdash;"
    if isinstance(value, float):
        return escape(f"{value:.4g}")
    return escape(str(value))


def summary_html(run_dir: Path) -> str:
    """The report's wire-log table, or "" when the run has no wire log."""
    path = Path(run_dir) / WIRE_LOG_FILE
    if not path.exists():
        return ""
    records = read_wire_log(path)
    rows = summarize(records)
    head = (
        "<tr><th>Device</th><th>Point / model</th><th>Reads</th><th>Writes</th><th>Writes/min</th>"
        "<th>Refused</th><th>Unanswered</th><th>First</th><th>Last</th><th>Min</th><th>Max</th></tr>"
    )
    body = "".join(
        f"<tr><td>{escape(r['device'])}</td><td>{escape(r['point'])}</td><td>{r['reads']}</td><td>{r['writes']}</td>"
        f"<td>{_cell(r['writes_per_min'])}</td><td>{r['refused']}</td><td>{r['unanswered']}</td>"
        f"<td>{_cell(r['first'])}</td><td>{_cell(r['last'])}</td><td>{_cell(r['min'])}</td><td>{_cell(r['max'])}</td></tr>"
        for r in rows
    )
    return (
        f"<h2>Wire log</h2><p>{len(records)} Modbus requests to the site's devices "
        f"({escape(WIRE_LOG_FILE)}, bench time); write rate over the whole log.</p>"
        f'<table class="fb-matrix">{head}{body}</table>'
    )
