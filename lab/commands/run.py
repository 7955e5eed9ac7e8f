"""`flexbench run PLAN...`: run test plans on a bench and write the run folder and its report."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
from pathlib import Path

from flexbench.core.results import Verdict
from flexbench.lab.bench_config import load_bench
from flexbench.lab.declaration import load_pcs_declaration
from flexbench.lab.errors import CONFIGURATION_ERROR, UserError
from flexbench.lab.live import add_live_option
from flexbench.lab.results import EXIT_CODES, RESULTS_FILE, RUN_MARKERS, holds_run, verdict_line
from flexbench.lab.virtual import prestart
from flexbench.lab.virtual.bench_faults import BenchFault
from flexbench.lab.virtual.controller_site import own_controller
from flexbench.lab.virtual.hosted import LOG_FILE
from flexbench.lab.virtual.lab import fault_names


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="run test plans and write a report",
        description="Run test plans (pytest files or folders) on a bench; writes report.html, results.json, "
        "junit.xml and the samples to the run folder.",
        epilog="Exit codes (the run's overall verdict): 0 PASS, every selected test ran to its end and passed; "
        "1 FAIL, the device failed a requirement; 2 ERROR, the bench or its configuration failed (nothing "
        "blamed on the device); 3 INCOMPLETE, interrupted or tests did not run.",
    )
    p.add_argument("plans", nargs="+", metavar="PLAN", help="test plan file or folder, e.g. testplans/ieee1547")
    p.add_argument("--bench", help="bench file (default: the embedded virtual bench)")
    p.add_argument("--profile", help="requirement profile file (default: each plan's own)")
    p.add_argument(
        "--dut-profile",
        default="healthy",
        help=f"behaviour of the virtual DUT (virtual bench only): {', '.join(fault_names())}, or a name the bench's "
        "own controller command takes ({dut_profile})",
    )
    p.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="run bench time this many times faster than wall time (virtual bench only)",
    )
    p.add_argument(
        "--bench-fault",
        action="append",
        default=[],
        metavar="NAME:MODE[@S]",
        help="virtual bench only: the instrument NAME fails S bench seconds after the first test began "
        "(MODE silent: never answers; gone: connection closed; errors: refuses every request), "
        "to see the run end as ERROR",
    )
    p.add_argument("--declaration", help="device declaration file (plans that judge against declared values)")
    p.add_argument("--out", help="run folder, new or empty (default: reports/<date-time>-<plan>)")
    p.add_argument(
        "--req",
        action="append",
        default=[],
        metavar="ID",
        help="only the tests of this requirement ID, e.g. LAP-SS (repeatable; `flexbench plans` lists them)",
    )
    p.add_argument("-k", dest="keyword", help="only tests matching this pytest -k expression")
    p.add_argument("-v", "--verbose", action="store_true", help="print each step and check of the plans as they run")
    add_live_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pytest

    for plan in args.plans:
        if not Path(plan.split("::")[0]).exists():
            raise UserError(f"test plan not found: {plan}")
    config = load_bench(args.bench)
    if args.time_scale <= 0:
        raise UserError(f"--time-scale must be positive, got {args.time_scale}")
    if config.virtual is None and args.time_scale != 1.0:
        raise UserError(f"{config.path}: a real bench runs at time scale 1 (got --time-scale {args.time_scale:g})")
    if config.controller is not None and (why := config.controller.refuses_time_scale(args.time_scale)):
        raise UserError(f"{config.path}: {why}")
    if config.virtual is None and args.dut_profile != "healthy":
        raise UserError(
            f"{config.path}: --dut-profile {args.dut_profile} selects a fault of the virtual DUT: this bench is a real one"
        )
    if args.dut_profile not in fault_names() and not own_controller(config):
        raise UserError(f"--dut-profile: unknown DUT profile {args.dut_profile!r} (known: {', '.join(fault_names())})")
    if args.profile and not Path(args.profile).exists():
        raise UserError(f"requirement profile not found: {args.profile}")
    if args.declaration:
        load_pcs_declaration(args.declaration)  # a mistake in it stops the run here, before any test
    for text in args.bench_fault:
        fault = BenchFault.parse(text)
        if config.virtual is None:
            raise UserError(f"{config.path}: --bench-fault makes an emulated instrument fail: this bench is a real one")
        if fault.instrument not in config.instruments:
            raise UserError(
                f"--bench-fault {fault.instrument}: no instrument of that name in {config.path} "
                f"({', '.join(config.instruments)})"
            )
    run_dir = Path(args.out) if args.out else _default_run_dir(args.plans, args.dut_profile)
    if holds_run(run_dir):
        found = next(name for name in RUN_MARKERS if (run_dir / name).exists())
        raise UserError(
            f"--out {run_dir}: holds a run already ({found}); a second run would merge with it: "
            "give a new folder, or leave --out out for a fresh one under reports/"
        )
    run_dir.mkdir(parents=True, exist_ok=True)

    pytest_args = [
        *args.plans,
        "--run-dir",
        str(run_dir),
        "--dut-profile",
        args.dut_profile,
        "--time-scale",
        str(args.time_scale),
        "--html",
        str(run_dir / "report.html"),
        "--self-contained-html",
        "--junitxml",
        str(run_dir / "junit.xml"),
        "-o",
        "timeout=0",
        "-o",
        "junit_family=xunit2",
        "-o",
        "render_collapsed=none",  # every test's evidence plot open in the report
        "-p",
        "no:cacheprovider",
        "-p",
        "no:unraisableexception",  # its full collection at exit walks the bench's whole heap (0.8 s in one run)
        "-p",
        "no:anyio",  # a plan needs no async backend: its plugin would import them all
        "-q",
        "--fb-console",  # each test, its steps and its verdict as the run goes (lab.console)
        "--tb=short",  # tracebacks and captured logs go to the run folder (run.log, report.html), not the console
        "--show-capture=no",
        "-rN",
        "--log-file",
        str(run_dir / "run.log"),
        "--log-file-level=INFO",
    ]
    if args.bench:
        pytest_args += ["--bench", args.bench]
    if args.profile:
        pytest_args += ["--profile", args.profile]
    if args.declaration:
        pytest_args += ["--declaration", args.declaration]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    for rid in args.req:
        pytest_args += ["--req", rid]
    for text in args.bench_fault:
        pytest_args += ["--bench-fault", text]
    if args.live:
        pytest_args.append("--fb-live")
    if args.verbose:
        pytest_args += ["-o", "log_cli=true", "--log-cli-level=INFO", "--log-cli-format=%(message)s"]

    if config.virtual is not None:  # while this process has no thread (lab.virtual.prestart)
        prestart.prestart(run_dir, LOG_FILE)
    # SIGTERM and SIGINT both stop a run (also when started where SIGINT is ignored, as a shell's background job)
    previous = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        code = int(pytest.main(pytest_args))
    finally:
        prestart.discard()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code == pytest.ExitCode.USAGE_ERROR:
        return CONFIGURATION_ERROR  # a profile or plan the user must fix, printed by pytest; nothing ran
    return _print_summary(run_dir, code)


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM and SIGINT end a run as Ctrl-C does: fixtures tear down and the bench goes to its safe state."""
    raise KeyboardInterrupt


def _default_run_dir(plans: list[str], dut_profile: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = Path(plans[0].split("::")[0]).stem
    suffix = "" if dut_profile == "healthy" else f"-{dut_profile}"
    base = Path("reports") / f"{stamp}-{name}{suffix}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _print_summary(run_dir: Path, pytest_code: int) -> int:
    """The requirement matrix, the report's path and, last, the overall verdict; its exit code."""
    results_path = run_dir / RESULTS_FILE
    if not results_path.exists():
        print(f"\nno results in {run_dir}: no test ran (pytest exit code {pytest_code})")
        return EXIT_CODES[Verdict.INCOMPLETE]  # nothing was judged
    results = json.loads(results_path.read_text(encoding="utf-8"))
    rows = results.get("matrix", [])
    words = [row["verdict"].replace("_", " ").upper() for row in rows]
    counts = [f"{row['passed']}/{row['checks']} passed" for row in rows]
    id_w = max((len(row["requirement_id"]) for row in rows), default=0)
    word_w = max((len(w) for w in words), default=0)
    count_w = max((len(c) for c in counts), default=0)
    print()
    for row, word, count in zip(rows, words, counts, strict=True):
        worst = row.get("worst") or {}
        note = worst.get("message", "") if row["verdict"] != "pass" else ""
        print(f"  {row['requirement_id']:<{id_w}}  {word:<{word_w}}  {count:<{count_w}}  {note}".rstrip())
    if results["summary"].get("aborted"):
        print(f"  {results['summary']['aborted']}")
    for line in results["summary"].get("unsafe", []):
        print(f"\nWARNING: {line}")
    print(f"\nreport: {run_dir / 'report.html'}")
    verdict = Verdict(results["verdict"])
    print(verdict_line(results))
    return EXIT_CODES[verdict]
