"""HTML for reports: the requirement matrix, the run header and per-test evidence.

The pytest-html report embeds these pieces during a run; `flexbench report`
uses the same pieces to rebuild a standalone report from a run folder.
"""

from __future__ import annotations

import base64
import json
from dataclasses import astuple
from html import escape
from pathlib import Path
from typing import Any

from flexbench.lab.report_rows import (
    CHECK_HEADERS,
    EQUIPMENT_HEADERS,
    MATRIX_HEADERS,
    check_rows,
    declaration_rows,
    equipment_rows,
    evidence_png,
    load_run,
    matrix_rows,
    overall,
    read_station,
    run_rows,
    test_findings,
    verdict_text,
)
from flexbench.lab.results import DECLARATION_FILE

STYLE = """
<style>
.fb-matrix { border-collapse: collapse; margin: 0.5em 0 1em 0; font-size: 13px; }
.fb-matrix th, .fb-matrix td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
.fb-matrix th { background: #f0f0f0; }
.fb-pass { color: #1a7f37; font-weight: bold; }
.fb-fail { color: #cf222e; font-weight: bold; }
.fb-error { color: #9a6700; font-weight: bold; }
.fb-run { font-size: 13px; margin: 0.5em 0; }
.fb-incomplete { color: #9a6700; font-weight: bold; }
.fb-overall { font-size: 18px; margin: 0.5em 0; }
#environment-header, #environment { display: none; }  /* pytest's environment: shown last, by flexbench */
</style>
"""
CHECK_VERDICT = CHECK_HEADERS.index("Verdict")
DUE = EQUIPMENT_HEADERS.index("Calibration due")


def _cells(values: tuple[str, ...] | list[str], verdict_at: int | None = None) -> str:
    return "".join(f"<td>{_verdict(v) if i == verdict_at else escape(v)}</td>" for i, v in enumerate(values))


def _head(headers: tuple[str, ...]) -> str:
    return "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>"


def _verdict(verdict: str) -> str:
    return f'<span class="fb-{escape(verdict)}">{escape(verdict_text(verdict))}</span>'


def overall_html(results: dict[str, Any]) -> str:
    """The run's overall verdict first, with the tests that did not run named: what a lab signs."""
    o = overall(results)
    parts = [f"<p class='fb-overall'>Overall verdict: {_verdict(o.verdict)} &mdash; {escape(o.basis)}</p>"]
    if o.aborted:
        parts.append(f"<p class='fb-error'>Run aborted, bench driven to safe state: {escape(o.aborted)}</p>")
    parts.extend(f"<p class='fb-fail'>WARNING: {escape(line)}</p>" for line in o.unsafe)
    parts.extend(f"<p>{escape(line)}</p>" for line in o.guardian)
    if o.not_run:
        items = "".join(f"<li>{escape(nodeid)}</li>" for nodeid in o.not_run)
        parts.append(f"<p>Selected but not run:</p><ul>{items}</ul>")
    return STYLE + "".join(parts)


def run_header_html(run: dict[str, Any], run_dir: Path | None = None) -> str:
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in run_rows(run))
    html = f'{STYLE}<table class="fb-matrix fb-run">{cells}</table>'
    declaration = Path(run_dir) / DECLARATION_FILE if run_dir is not None else None
    if declaration is not None and declaration.exists():
        html += (
            "<details open><summary>Device declaration (values the verdicts are judged against)</summary>"
            f"{declaration_html(declaration)}</details>"
        )
    return html


def matrix_html(rows: list[dict[str, Any]], tests: list[dict[str, Any]]) -> str:
    """Requirement matrix: a summary row per requirement, then every check."""
    body = []
    for row in matrix_rows(rows, tests):
        findings = "".join(f"<br>{escape(f)}" for f in row.findings)
        body.append(
            "<tr>"
            + _cells((row.requirement_id, row.criterion, row.measured, row.limit, row.margin))
            + f"<td>{_verdict(row.verdict)}</td><td>{escape(row.counts)}<br><small>worst: {escape(row.worst_test)}"
            f"<br>{escape(row.message)}{findings}</small></td></tr>"
        )
    summary = f'<h2>Requirement matrix</h2><table class="fb-matrix">{_head(MATRIX_HEADERS)}{"".join(body)}</table>'
    detail = [
        f"<tr><td>{escape(test['nodeid'])}</td>{_cells(astuple(row), CHECK_VERDICT)}</tr>"
        for test in tests
        for row in check_rows(test.get("requirements", []))
    ]
    details = (
        f'<details><summary>Every check ({len(detail)})</summary><table class="fb-matrix">'
        f"{_head(('Test', *CHECK_HEADERS))}{''.join(detail)}</table></details>"
    )
    return summary + details


def results_table_html(results: list[dict[str, Any]], test: dict[str, Any] | None = None) -> str:
    """A test's checks, then what it saw that may explain them (its findings)."""
    rows = "".join(f"<tr>{_cells(astuple(row), CHECK_VERDICT)}</tr>" for row in check_rows(results))
    findings = "".join(f"<li>{escape(f)}</li>" for f in test_findings(test))
    return f'{STYLE}<table class="fb-matrix">{_head(CHECK_HEADERS)}{rows}</table>' + (
        f"<ul>{findings}</ul>" if findings else ""
    )


def component_sections_html(run_dir: Path | None) -> str:
    """The sections the bench's components add to the report (their snapshots' "report_sections").

    Each names a flexbench function of the run folder that returns HTML (the
    wire log of a controller site, say); the station snapshot in the run folder
    says which, so a rebuilt report has them too. A section that cannot be made
    says so in its place: a report is never lost to one of its parts.
    """
    if run_dir is None:
        return ""
    station = read_station(Path(run_dir))
    parts = []
    for group in ("components", "instruments"):
        for name, snapshot in (station.get(group) or {}).items():
            for target in snapshot.get("report_sections", []) if isinstance(snapshot, dict) else []:
                parts.append(_section(str(target), name, Path(run_dir)))
    return "".join(parts)


def station_html(run_dir: Path | None) -> str:
    """The equipment the verdicts rest on: identity, address and calibration of every instrument, and the
    other components, from station.json. A calibration that ran out before the run is marked."""
    station = read_station(Path(run_dir)) if run_dir is not None else {}
    if not station:
        return ""
    body = []
    for row in equipment_rows(Path(str(run_dir))):
        cells = [f"<td>{escape(v)}</td>" for v in row.cells]
        if row.lapsed:
            cells[DUE] = f"<td><span class='fb-fail'>{escape(row.cells[DUE])}</span></td>"
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<h2>Equipment</h2><table class="fb-matrix">{_head(EQUIPMENT_HEADERS)}{"".join(body)}</table>'
        "<details><summary>Every setting (station.json)</summary><pre>"
        + escape(json.dumps(station, indent=2))
        + "</pre></details>"
    )


def declaration_html(path: Path) -> str:
    """The device declaration as a table of its values, by table and key."""
    text = path.read_text(encoding="utf-8")
    rows = declaration_rows(text)
    if rows is None:
        return f"<pre>{escape(text)}</pre>"
    body = "".join(f"<tr>{_cells(row)}</tr>" for row in rows)
    return f'<table class="fb-matrix">{_head(("Declared", "Value"))}{body}</table>'


def _section(target: str, component: str, run_dir: Path) -> str:
    if not target.startswith("flexbench."):  # a run folder names code to run: only flexbench's own
        return f"<p class='fb-error'>{escape(component)}: report section {escape(target)} not made: not flexbench's</p>"
    from flexbench.lab.station import resolve

    try:
        return str(resolve(target)(run_dir))
    except Exception as exc:
        return (
            f"<p class='fb-error'>{escape(component)}: report section {escape(target)} failed: {escape(str(exc))}</p>"
        )


def png_img(png: bytes, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def build_report(run_dir: Path) -> Path:
    """Rebuild a standalone report (and results.json) from a run folder, even one cut short."""
    run_dir = Path(run_dir)
    results, samples = load_run(run_dir)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>flexbench report</title>",
        STYLE,
        "</head><body style='font-family: sans-serif'>",
        "<h1>flexbench report</h1>",
        overall_html(results),
        run_header_html(results["run"], run_dir),
        station_html(run_dir),
        matrix_html(results["matrix"], results["tests"]),
    ]
    for test in results["tests"]:
        parts.append(f"<h3>{escape(test['nodeid'])} &mdash; {escape(test['outcome'])}</h3>")
        if test.get("message"):
            parts.append(f"<pre>{escape(test['message'])}</pre>")
        parts.append(results_table_html(test.get("requirements", []), test))
        png = evidence_png(samples, test)
        if png is not None:
            parts.append(png_img(png, test["nodeid"]))
    parts.append(component_sections_html(run_dir))
    parts.append("</body></html>")
    target = run_dir / "report.html"
    if target.exists():
        target = run_dir / "report-rebuilt.html"
    target.write_text("".join(parts), encoding="utf-8")
    return target
