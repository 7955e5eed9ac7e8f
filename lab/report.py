"""HTML for reports: the requirement matrix, the run header and per-test evidence.

The pytest-html report embeds these pieces during a run; `flexbench report`
uses the same pieces to rebuild a standalone report from a run folder.
"""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path
from typing import Any

from flexbench.lab.plots import render_evidence_png
from flexbench.lab.recorder import consolidate, load_samples
from flexbench.lab.results import (
    DECLARATION_FILE,
    RESULTS_FILE,
    RUN_FILE,
    STATION_FILE,
    assemble,
    guardian_findings,
    verdict_basis,
    write_json,
)

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


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "&mdash;"
    if isinstance(value, float):
        text = f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    else:
        text = str(value)
    return escape(f"{text} {unit}".strip())


def _verdict(verdict: str) -> str:
    return f'<span class="fb-{escape(verdict)}">{escape(verdict.upper())}</span>'


def overall_html(results: dict[str, Any]) -> str:
    """The run's overall verdict first, with the tests that did not run named: what a lab signs."""
    summary = results["summary"]
    parts = [f"<p class='fb-overall'>Overall verdict: {_verdict(results['verdict'])} &mdash; "]
    parts.append(escape(verdict_basis(results)))
    parts.append("</p>")
    for line in summary.get("unsafe", []):
        parts.append(f"<p class='fb-fail'>WARNING: {escape(line)}</p>")
    for line in summary.get("guardian", []):
        parts.append(f"<p>{escape(line)}</p>")
    if summary["not_run"]:
        items = "".join(f"<li>{escape(nodeid)}</li>" for nodeid in summary["not_run"])
        parts.append(f"<p>Selected but not run:</p><ul>{items}</ul>")
    return STYLE + "".join(parts)


def run_header_html(run: dict[str, Any], run_dir: Path | None = None) -> str:
    scale = run.get("time_scale", 1.0)
    scale_note = f"{scale:g}x: bench time ran {scale:g} times faster than wall time" if scale != 1 else "1x (real time)"
    rows = [
        ("Plans", ", ".join(run.get("plans", [])) or "-"),
        ("Bench", f"{run.get('bench_name', '')} ({run.get('bench_file', '')})"),
        ("DUT profile", run.get("dut_profile") or "-"),
        ("Time scale", scale_note),
        ("Started", run.get("started", "")),
        ("Run folder", run.get("run_dir", "")),
    ]
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
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
    head = (
        "<tr><th>Requirement</th><th>Criterion</th><th>Measured</th><th>Margin</th><th>Verdict</th><th>Checks</th></tr>"
    )
    body = []
    for row in rows:
        worst = row["worst"] or {}
        counts = f"{row['passed']} pass / {row['failed']} fail / {row['errors']} error"
        body.append(
            f"<tr><td>{escape(row['requirement_id'])}</td><td>{escape(worst.get('criterion', ''))}</td>"
            f"<td>{_fmt(worst.get('measured'), worst.get('unit', ''))}</td>"
            f"<td>{_fmt(worst.get('margin'), worst.get('unit', ''))}</td>"
            f"<td>{_verdict(row['verdict'])}</td><td>{counts}<br><small>worst: {escape(worst.get('test', ''))}"
            f"<br>{escape(worst.get('message', ''))}</small></td></tr>"
        )
    summary = f'<h2>Requirement matrix</h2><table class="fb-matrix">{head}{"".join(body)}</table>'
    detail_head = (
        "<tr><th>Test</th><th>Requirement</th><th>Criterion</th><th>Declared</th><th>Measured</th>"
        "<th>Margin</th><th>Verdict</th><th>Why</th></tr>"
    )
    detail = []
    for test in tests:
        for r in test.get("requirements", []):
            detail.append(
                f"<tr><td>{escape(test['nodeid'])}</td><td>{escape(r['requirement_id'])}</td>"
                f"<td>{escape(r['criterion'])}</td><td>{escape(r.get('declared') or '-')}</td>"
                f"<td>{_fmt(r.get('measured'), r.get('unit', ''))}</td>"
                f"<td>{_fmt(r.get('margin'), r.get('unit', ''))}</td><td>{_verdict(r['verdict'])}</td>"
                f"<td>{escape(r.get('message', ''))}</td></tr>"
            )
    details = (
        f'<details><summary>Every check ({len(detail)})</summary><table class="fb-matrix">'
        f"{detail_head}{''.join(detail)}</table></details>"
    )
    return summary + details


def results_table_html(results: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{escape(r['requirement_id'])}</td><td>{escape(r['criterion'])}</td>"
        f"<td>{escape(r.get('declared') or '-')}</td>"
        f"<td>{_fmt(r.get('measured'), r.get('unit', ''))}</td><td>{_fmt(r.get('margin'), r.get('unit', ''))}</td>"
        f"<td>{_verdict(r['verdict'])}</td><td>{escape(r.get('message', ''))}</td></tr>"
        for r in results
    )
    return (
        f'{STYLE}<table class="fb-matrix"><tr><th>Requirement</th><th>Criterion</th><th>Declared</th>'
        f"<th>Measured</th><th>Margin</th><th>Verdict</th><th>Why</th></tr>{rows}</table>"
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
    station = _station(Path(run_dir))
    parts = []
    for group in ("components", "instruments"):
        for name, snapshot in (station.get(group) or {}).items():
            for target in snapshot.get("report_sections", []) if isinstance(snapshot, dict) else []:
                parts.append(_section(str(target), name, Path(run_dir)))
    return "".join(parts)


def station_html(run_dir: Path | None) -> str:
    """The equipment the verdicts rest on: identity, address and calibration of every instrument, and the
    other components, from station.json. A calibration that ran out before the run is marked."""
    station = _station(Path(run_dir)) if run_dir is not None else {}
    if not station:
        return ""
    run_date = _run_date(Path(str(run_dir)))
    rows = []
    for name, entry in (station.get("instruments") or {}).items():
        ident = entry.get("identity") or {}
        due = entry.get("calibration_due", "")
        lapsed = bool(due and run_date and due < run_date)
        rows.append(
            (
                escape(name),
                escape(entry.get("role", "")),
                escape(f"{ident.get('manufacturer', '')} {ident.get('model', '')}".strip()),
                escape(ident.get("serial", "")),
                escape(ident.get("firmware", "")),
                escape(entry.get("address", "")),
                f"<span class='fb-fail'>{escape(due)} (lapsed before the run)</span>" if lapsed else escape(due or "-"),
                escape(entry.get("error", "")),
            )
        )
    for name, entry in (station.get("components") or {}).items():
        where = entry.get("url") or entry.get("endpoint") or entry.get("local_api") or entry.get("site") or ""
        rows.append((escape(name), escape(entry.get("kind", "")), "", "", "", escape(str(where)), "", ""))
    headers = ("Name", "Role / kind", "Model", "Serial", "Firmware", "Address", "Calibration due", "Error")
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in row) + "</tr>" for row in rows)
    return (
        f'<h2>Equipment</h2><table class="fb-matrix"><tr>{head}</tr>{body}</table>'
        "<details><summary>Every setting (station.json)</summary><pre>"
        + escape(json.dumps(station, indent=2))
        + "</pre></details>"
    )


def _run_date(run_dir: Path) -> str:
    """The day the run started (ISO), from run.json; "" when unknown."""
    try:
        return str(json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8")).get("started", ""))[:10]
    except (OSError, json.JSONDecodeError):
        return ""


def declaration_html(path: Path) -> str:
    """The device declaration as a table of its values, by table and key."""
    import tomllib

    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return f"<pre>{escape(text)}</pre>"
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        else:
            rows.append((prefix, json.dumps(value) if not isinstance(value, str) else value))

    walk("", data)
    body = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="fb-matrix"><tr><th>Declared</th><th>Value</th></tr>{body}</table>'


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


def _station(run_dir: Path) -> dict[str, Any]:
    """The run's station snapshot (station.json), or {} when it has none or it cannot be read."""
    path = run_dir / STATION_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def png_img(png: bytes, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def build_report(run_dir: Path) -> Path:
    """Rebuild a standalone report (and results.json) from a run folder, even one cut short."""
    run_dir = Path(run_dir)
    consolidate(run_dir)
    results = _reassemble(run_dir)
    write_json(run_dir / RESULTS_FILE, results)
    samples = load_samples(run_dir)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>flexbench report</title>",
        STYLE,
        "</head><body style='font-family: sans-serif'>",
        "<h1>flexbench report</h1>",
        run_header_html(results["run"], run_dir),
    ]
    parts.insert(4, overall_html(results))
    parts.append(matrix_html(results["matrix"], results["tests"]))
    for test in results["tests"]:
        parts.append(f"<h3>{escape(test['nodeid'])} &mdash; {escape(test['outcome'])}</h3>")
        if test.get("message"):
            parts.append(f"<pre>{escape(test['message'])}</pre>")
        parts.append(results_table_html(test.get("requirements", [])))
        if test.get("evidence") and not samples.empty:
            parts.append(png_img(render_evidence_png(samples, test["evidence"]), test["nodeid"]))
    parts.append(component_sections_html(run_dir))
    parts.append(station_html(run_dir))
    parts.append("</body></html>")
    target = run_dir / "report.html"
    if target.exists():
        target = run_dir / "report-rebuilt.html"
    target.write_text("".join(parts), encoding="utf-8")
    return target


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
