"""What a report shows, as rows of plain text: the HTML report and the PDF draw the same rows.

Every value a report prints (the overall verdict and what it rests on, the run's
identity, the equipment, the declaration, the requirement matrix and each check)
is computed here once; lab.report and lab.report_pdf only lay the rows out, so
the two reports of a run cannot say different things.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from flexbench.lab.plots import render_evidence_png
from flexbench.lab.recorder import consolidate, load_samples
from flexbench.lab.results import (
    RESULTS_FILE,
    RUN_FILE,
    STATION_FILE,
    assemble,
    guardian_findings,
    verdict_basis,
    write_json,
)

NONE = "\u2014"  # an em dash: no value


def fmt_value(value: Any, unit: str = "") -> str:
    """A number rounded to its meaning: three significant digits below 10, one decimal above."""
    if value is None:
        return NONE
    if isinstance(value, float):
        text = f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def verdict_text(verdict: str) -> str:
    return str(verdict).replace("_", " ").upper()


@dataclass(frozen=True)
class Overall:
    """The run's overall verdict first, what it rests on, and what a lab must know before signing."""

    verdict: str
    basis: str
    aborted: str
    unsafe: list[str]
    guardian: list[str]
    not_run: list[str]

    @property
    def line(self) -> str:
        return f"Overall verdict: {verdict_text(self.verdict)} \u2014 {self.basis}"


def overall(results: dict[str, Any]) -> Overall:
    summary = results["summary"]
    return Overall(
        verdict=str(results["verdict"]),
        basis=verdict_basis(results),
        aborted=str(summary.get("aborted") or ""),
        unsafe=list(summary.get("unsafe", [])),
        guardian=list(summary.get("guardian", [])),
        not_run=list(summary.get("not_run", [])),
    )


def run_rows(run: dict[str, Any]) -> list[tuple[str, str]]:
    """The run's identity: plans, bench, DUT profile, time scale, start, folder."""
    scale = run.get("time_scale", 1.0)
    scale_note = f"{scale:g}x: bench time ran {scale:g} times faster than wall time" if scale != 1 else "1x (real time)"
    return [
        ("Plans", ", ".join(run.get("plans", [])) or "-"),
        ("Bench", f"{run.get('bench_name', '')} ({run.get('bench_file', '')})"),
        ("DUT profile", run.get("dut_profile") or "-"),
        ("Time scale", scale_note),
        ("Started", str(run.get("started", ""))),
        ("Run folder", str(run.get("run_dir", ""))),
    ]


def run_id(run_dir: Path) -> str:
    """The run's name, as its folder is named."""
    return Path(run_dir).resolve().name


EQUIPMENT_HEADERS = ("Name", "Role / kind", "Model", "Serial", "Firmware", "Address", "Calibration due", "Error")


@dataclass(frozen=True)
class EquipmentRow:
    cells: tuple[str, ...]  # one per EQUIPMENT_HEADERS
    lapsed: bool = False  # the calibration ran out before the run


def equipment_rows(run_dir: Path) -> list[EquipmentRow]:
    """Every instrument's identity, address and calibration, then the other components, from station.json."""
    station = read_station(run_dir)
    run_date = _run_date(run_dir)
    rows = []
    for name, entry in (station.get("instruments") or {}).items():
        ident = entry.get("identity") or {}
        due = entry.get("calibration_due", "")
        lapsed = bool(due and run_date and due < run_date)
        model = f"{ident.get('manufacturer', '')} {ident.get('model', '')}".strip()
        calibration = f"{due} (lapsed before the run)" if lapsed else (due or "-")
        cells = (name, entry.get("role", ""), model, ident.get("serial", ""), ident.get("firmware", ""))
        rows.append(EquipmentRow((*cells, entry.get("address", ""), calibration, entry.get("error", "")), lapsed))
    for name, entry in (station.get("components") or {}).items():
        where = entry.get("url") or entry.get("endpoint") or entry.get("local_api") or entry.get("site") or ""
        rows.append(EquipmentRow((name, entry.get("kind", ""), "", "", "", str(where), "", "")))
    return rows


def read_station(run_dir: Path) -> dict[str, Any]:
    """The run's station snapshot (station.json), or {} when it has none or it cannot be read."""
    try:
        data = json.loads((Path(run_dir) / STATION_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _run_date(run_dir: Path) -> str:
    """The day the run started (ISO), from run.json; "" when unknown."""
    try:
        return str(json.loads((Path(run_dir) / RUN_FILE).read_text(encoding="utf-8")).get("started", ""))[:10]
    except (OSError, json.JSONDecodeError):
        return ""


def declaration_rows(text: str) -> list[tuple[str, str]] | None:
    """The device declaration's values by table and key (`declared.phases`); None when it is not TOML."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        else:
            rows.append((prefix, value if isinstance(value, str) else json.dumps(value)))

    walk("", data)
    return rows


MATRIX_HEADERS = ("Requirement", "Criterion", "Measured", "Limit", "Margin", "Verdict", "Checks")


@dataclass(frozen=True)
class MatrixRow:
    """A requirement: its worst check's criterion and numbers, its verdict over every check."""

    requirement_id: str
    criterion: str
    measured: str
    limit: str
    margin: str
    verdict: str
    counts: str
    worst_test: str
    message: str
    findings: tuple[str, ...] = ()  # of the worst test: what may explain its verdict


def test_findings(test: dict[str, Any] | None) -> list[str]:
    """What the bench saw during a test that may explain its verdicts without being one (refused site writes)."""
    return [f"finding: {f}" for f in (test or {}).get("findings", [])]


def matrix_rows(rows: list[dict[str, Any]], tests: list[dict[str, Any]] | None = None) -> list[MatrixRow]:
    by_nodeid = {t["nodeid"]: t for t in tests or []}
    out = []
    for row in rows:
        worst = row["worst"] or {}
        unit = worst.get("unit", "")
        out.append(
            MatrixRow(
                requirement_id=row["requirement_id"],
                criterion=worst.get("criterion", ""),
                measured=fmt_value(worst.get("measured"), unit),
                limit=fmt_value(worst.get("limit"), unit),
                margin=fmt_value(worst.get("margin"), unit),
                verdict=str(row["verdict"]),
                counts=f"{row['passed']} pass / {row['failed']} fail / {row['errors']} error"
                + (f" / {row['not_applicable']} not applicable" if row.get("not_applicable") else ""),
                worst_test=worst.get("test", ""),
                message=worst.get("message", ""),
                findings=tuple(test_findings(by_nodeid.get(worst.get("test", "")))),
            )
        )
    return out


CHECK_HEADERS = ("Requirement", "Criterion", "Declared", "Measured", "Limit", "Margin", "Verdict", "Why")


@dataclass(frozen=True)
class CheckRow:
    """One check: Measured is the quantity the criterion names, Limit the limit in force, Margin the room left."""

    requirement_id: str
    criterion: str
    declared: str
    measured: str
    limit: str
    margin: str
    verdict: str
    message: str


def check_rows(results: list[dict[str, Any]]) -> list[CheckRow]:
    return [
        CheckRow(
            requirement_id=r["requirement_id"],
            criterion=r["criterion"],
            declared=r.get("declared") or "-",
            measured=fmt_value(r.get("measured"), r.get("unit", "")),
            limit=fmt_value(r.get("limit"), r.get("unit", "")),
            margin=fmt_value(r.get("margin"), r.get("unit", "")),
            verdict=str(r["verdict"]),
            message=r.get("message", ""),
        )
        for r in results
    ]


def evidence_png(samples: pd.DataFrame, test: dict[str, Any]) -> bytes | None:
    """A test's evidence plot, from the recorded samples; None for a test without evidence."""
    if not test.get("evidence") or samples.empty:
        return None
    return render_evidence_png(samples, test["evidence"])


def load_run(run_dir: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """The run's results (results.json rewritten from the folder, even for a run cut short) and its samples."""
    run_dir = Path(run_dir)
    consolidate(run_dir)
    results = _reassemble(run_dir)
    write_json(run_dir / RESULTS_FILE, results)
    return results, load_samples(run_dir)


def _reassemble(run_dir: Path) -> dict[str, Any]:
    """results.json again from the folder: as the run ended it, or, for a run that never ended
    (killed, crashed), INCOMPLETE with the selected tests tests.jsonl does not hold as not run."""
    path = run_dir / RESULTS_FILE
    try:
        previous = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
    except json.JSONDecodeError:
        previous = None
    if not isinstance(previous, dict) or "summary" not in previous:
        results = assemble(run_dir, ended=False)
        results["summary"]["guardian"], results["summary"]["unsafe"] = guardian_findings(run_dir)
        return results
    summary = previous["summary"]
    results = assemble(
        run_dir,
        not_run=list(summary.get("not_run", [])),
        ended=bool(summary.get("ended", True)),
        interrupted=bool(summary.get("interrupted", False)),
        bench_fault=previous.get("verdict") == "error",
    )
    for key in ("aborted", "unsafe"):
        if summary.get(key):
            results["summary"][key] = summary[key]
    return results
