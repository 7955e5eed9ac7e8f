"""`flexbench report RUN_DIR [--pdf]`: rebuild the report of a run from its folder (even one killed mid-run),
or write the paginated report.pdf a lab signs."""

from __future__ import annotations

import argparse
from pathlib import Path

from flexbench.lab.errors import UserError
from flexbench.lab.report import build_report
from flexbench.lab.results import RUN_FILE, TESTS_FILE


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="rebuild a run's report from its folder",
        description="Join the run's sample parts into samples.parquet, rewrite results.json and write a "
        "standalone report (report.html, or report-rebuilt.html when the run already has one); with --pdf, "
        "write report.pdf instead: the same content, paginated, with a sign-off block.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder, e.g. reports/20260101-120000-test_x")
    p.add_argument(
        "--pdf", action="store_true", help="write RUN_DIR/report.pdf (to print and sign) instead of the HTML report"
    )
    p.set_defaults(func=report)


def report(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder")
    if not (run_dir / RUN_FILE).exists() and not (run_dir / TESTS_FILE).exists():
        raise UserError(f"{run_dir}: not a flexbench run folder (no {RUN_FILE} or {TESTS_FILE})")
    if args.pdf:
        from flexbench.lab.report_pdf import build_pdf  # reportlab only for the PDF

        path = build_pdf(run_dir)
    else:
        path = build_report(run_dir)
    print(f"report: {path}")
    return 0
