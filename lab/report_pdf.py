"""The report a lab signs: report.pdf, paginated, from the same rows as the HTML report.

Overall verdict and run identity, equipment, declaration, requirement matrix,
each test's checks with its evidence plot, then a sign-off block with lines for
the operator and the reviewer. Every page's footer names the run and says
"page N of M", so a printed page cannot be taken for another run's.
"""

from __future__ import annotations

import io
from dataclasses import astuple
from functools import partial
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    Image,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from flexbench.lab import report_rows as content
from flexbench.lab.results import DECLARATION_FILE

PDF_FILE = "report.pdf"
PAGE = landscape(A4)
MARGIN = 15 * mm
WIDTH = PAGE[0] - 2 * MARGIN
PLOT_WIDTH = 0.45 * WIDTH  # two tests to a page
VERDICT_COLORS = {"pass": "#1a7f37", "fail": "#cf222e", "error": "#9a6700", "incomplete": "#9a6700"}
SIGNERS = ("Operator", "Reviewer")

_styles = getSampleStyleSheet()
CELL = ParagraphStyle("fb-cell", parent=_styles["BodyText"], fontSize=7.5, leading=9)
HEAD = ParagraphStyle("fb-head", parent=CELL, fontName="Helvetica-Bold")
BODY = ParagraphStyle("fb-body", parent=_styles["BodyText"], fontSize=9, leading=11)
OVERALL = ParagraphStyle("fb-overall", parent=_styles["BodyText"], fontSize=14, leading=18, spaceAfter=4)
H1, H2, H3 = _styles["Title"], _styles["Heading2"], ParagraphStyle("fb-h3", parent=_styles["Heading3"], fontSize=10)


def _p(text: str, style: ParagraphStyle = CELL) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _verdict(verdict: str, style: ParagraphStyle = CELL) -> Paragraph:
    color = VERDICT_COLORS.get(verdict, "#000000")
    return Paragraph(f'<font color="{color}"><b>{escape(content.verdict_text(verdict))}</b></font>', style)


def _table(headers: tuple[str, ...] | None, rows: list[list[Any]], widths: list[float]) -> Table:
    """A grid of wrapped cells, the header row shaded and repeated on every page the table spans."""
    data = ([[Paragraph(escape(h), HEAD) for h in headers]] if headers else []) + [
        [cell if isinstance(cell, Flowable) else _p(str(cell)) for cell in row] for row in rows
    ]
    scale = WIDTH / sum(widths)
    table = Table(data, colWidths=[w * scale for w in widths], repeatRows=1 if headers else 0, hAlign="LEFT")
    style = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if headers:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")))
    table.setStyle(TableStyle(style))
    return table


def overall_flowables(results: dict[str, Any]) -> list[Flowable]:
    o = content.overall(results)
    color = VERDICT_COLORS.get(o.verdict, "#000000")
    out: list[Flowable] = [
        Paragraph(
            f'Overall verdict: <font color="{color}"><b>{escape(content.verdict_text(o.verdict))}</b></font>'
            f" \u2014 {escape(o.basis)}",
            OVERALL,
        )
    ]
    if o.aborted:
        out.append(_p(f"Run aborted, bench driven to safe state: {o.aborted}", BODY))
    out += [Paragraph(f'<font color="#cf222e"><b>WARNING: {escape(line)}</b></font>', BODY) for line in o.unsafe]
    out += [_p(line, BODY) for line in o.guardian]
    if o.not_run:
        out.append(_p("Selected but not run:\n" + "\n".join(f"\u2022 {nodeid}" for nodeid in o.not_run), BODY))
    return out


def identity_flowables(results: dict[str, Any], run_dir: Path) -> list[Flowable]:
    out: list[Flowable] = [_table(None, [[_p(k, HEAD), v] for k, v in content.run_rows(results["run"])], [1, 6])]
    equipment = content.equipment_rows(run_dir)
    if equipment:
        rows: list[list[Any]] = [list(row.cells) for row in equipment]
        due = content.EQUIPMENT_HEADERS.index("Calibration due")
        for row, entry in zip(rows, equipment):
            if entry.lapsed:
                row[due] = Paragraph(f'<font color="#cf222e"><b>{escape(entry.cells[due])}</b></font>', CELL)
        out += [Paragraph("Equipment", H2), _table(content.EQUIPMENT_HEADERS, rows, [7, 8, 11, 8, 7, 17, 9, 8])]
    declaration = run_dir / DECLARATION_FILE
    if declaration.exists():
        text = declaration.read_text(encoding="utf-8")
        values = content.declaration_rows(text)
        out.append(Paragraph("Device declaration (values the verdicts are judged against)", H2))
        out.append(_table(("Declared", "Value"), [list(v) for v in values], [2, 3]) if values else _p(text))
    return out


def matrix_flowables(results: dict[str, Any]) -> list[Flowable]:
    rows = [
        [
            row.requirement_id,
            row.criterion,
            row.measured,
            row.limit,
            row.margin,
            _verdict(row.verdict),
            "\n".join((row.counts, f"worst: {row.worst_test}", row.message, *row.findings)),
        ]
        for row in content.matrix_rows(results["matrix"], results["tests"])
    ]
    return [Paragraph("Requirement matrix", H2), _table(content.MATRIX_HEADERS, rows, [8, 22, 7, 7, 7, 6, 30])]


def checks_table(requirements: list[dict[str, Any]]) -> Table:
    verdict = content.CHECK_HEADERS.index("Verdict")
    rows = []
    for row in content.check_rows(requirements):
        cells: list[Any] = list(astuple(row))
        cells[verdict] = _verdict(row.verdict)
        rows.append(cells)
    return _table(content.CHECK_HEADERS, rows, [8, 22, 10, 7, 7, 7, 6, 25])


def test_flowables(test: dict[str, Any], png: bytes | None, above: list[Flowable] | None = None) -> list[Flowable]:
    """A test's checks and evidence plot, kept on one page (with `above`, a heading that must not be left alone)."""
    head: list[Flowable] = [*(above or []), Paragraph(f"{escape(test['nodeid'])} \u2014 {escape(test['outcome'])}", H3)]
    if test.get("message"):
        head.append(_p(test["message"], CELL))
    head.append(checks_table(test.get("requirements", [])))
    head.extend(_p(f, CELL) for f in content.test_findings(test))
    if png is None:
        return [KeepTogether(head)]
    plot = Image(io.BytesIO(png))
    ratio = min(1.0, PLOT_WIDTH / plot.drawWidth)
    plot.drawWidth, plot.drawHeight = plot.drawWidth * ratio, plot.drawHeight * ratio
    plot.hAlign = "LEFT"
    return [KeepTogether([*head, Spacer(1, 3), plot])]


def signoff_flowables() -> list[Flowable]:
    """Lines for the operator and the reviewer to print their name, sign and date."""
    rows = [[_p(who, HEAD), "", "", ""] for who in SIGNERS]
    table = Table(
        [[Paragraph(h, HEAD) for h in ("Role", "Name", "Signature", "Date")], *rows],
        colWidths=[WIDTH * f for f in (0.12, 0.3, 0.38, 0.2)],
        rowHeights=[None, 14 * mm, 14 * mm],
        hAlign="LEFT",
    )
    table.setStyle(
        TableStyle(
            [
                ("LINEBELOW", (1, 1), (-1, -1), 0.8, colors.black),
                ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                ("RIGHTPADDING", (1, 0), (-1, -1), 12),
            ]
        )
    )
    note = _p("Signed by the operator who ran the bench and the reviewer who checked this report.", BODY)
    return [KeepTogether([Paragraph("Sign-off", H2), note, Spacer(1, 4), table])]


class _PagedCanvas(Canvas):
    """Holds each page until the end, when the count is known, to write "page N of M" in every footer."""

    def __init__(self, *args: Any, footer: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._footer = footer
        self._held: list[dict[str, Any]] = []

    def showPage(self) -> None:
        self._held.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        for number, state in enumerate(self._held, 1):
            self.__dict__.update(state)
            self.setFont("Helvetica", 7.5)
            self.setFillColor(colors.HexColor("#444444"))
            self.drawString(MARGIN, MARGIN / 2, self._footer)
            self.drawRightString(PAGE[0] - MARGIN, MARGIN / 2, f"page {number} of {len(self._held)}")
            super().showPage()
        super().save()


def build_pdf(run_dir: Path) -> Path:
    """Write the run's report.pdf (and results.json again, as `flexbench report` does), from its folder."""
    run_dir = Path(run_dir)
    results, samples = content.load_run(run_dir)
    name = content.run_id(run_dir)
    story: list[Flowable] = [Paragraph("flexbench report", H1)]
    story += overall_flowables(results)
    story += identity_flowables(results, run_dir)
    story += matrix_flowables(results)
    above: list[Flowable] | None = [Paragraph("Tests", H2)]
    for test in results["tests"]:
        story += test_flowables(test, content.evidence_png(samples, test), above)
        above = None
    sections = [
        component
        for group in ("components", "instruments")
        for component, snap in (content.read_station(run_dir).get(group) or {}).items()
        if isinstance(snap, dict) and snap.get("report_sections")
    ]
    if sections:
        story.append(_p(f"Sections of {', '.join(sections)} (logs of their exchanges): in report.html.", BODY))
    story += signoff_flowables()
    target = run_dir / PDF_FILE
    doc = SimpleDocTemplate(
        str(target),
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=f"flexbench report {name}",
        author="flexbench",
    )
    footer = f"flexbench report \u2014 run {name} \u2014 overall verdict {content.verdict_text(results['verdict'])}"
    doc.build(story, canvasmaker=partial(_PagedCanvas, footer=footer))
    return target
