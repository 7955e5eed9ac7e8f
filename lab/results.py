"""Results of a run: one line per finished test in tests.jsonl (durable as it goes),
results.json at the end, and the requirement matrix that both reports show.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from flexbench.core.results import Verdict
from flexbench.lab.evaluate import ERROR, FAIL, PASS

TESTS_FILE = "tests.jsonl"
RESULTS_FILE = "results.json"
RUN_FILE = "run.json"
STATION_FILE = "station.json"
DECLARATION_FILE = "declaration.toml"
EVENTS_FILE = "events.jsonl"
ENERGIZED = {
    "grid_simulator": "output may still be ON",
    "pv_simulator": "output may still be ON",
    "ac_load": "input may still be ON",
}


def unconfirmed(name: str, role: str, why: str) -> str:
    """An instrument whose safe state was not confirmed, as the console and the report print it."""
    return (
        f"{name} ({role}): safe state not confirmed, {ENERGIZED.get(role, 'state unknown')}: check it by hand ({why})"
    )


def guardian_findings(run_dir: Path) -> tuple[list[str], list[str]]:
    """What the guardian did for a run that did not end (lab.guardian), and the sources it left unconfirmed."""
    run_dir = Path(run_dir)
    try:
        station = json.loads((run_dir / STATION_FILE).read_text(encoding="utf-8"))
        lines = (run_dir / EVENTS_FILE).read_text(encoding="utf-8").splitlines()
    except (OSError, json.JSONDecodeError):
        return [], []
    sources = station.get("components", {}).get("guardian", {}).get("sources", [])
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    done = {e["instrument"]: e for e in events if e.get("kind") == "guardian_safe_state"}
    triggered = [e.get("reason", "") for e in events if e.get("kind") == "guardian_triggered"]
    actions = [f"the guardian acted: {triggered[0]}"] if triggered else []
    unsafe = []
    for name in sources:
        role = station.get("instruments", {}).get(name, {}).get("role", name)
        event = done.get(name)
        if event is not None and event.get("ok"):
            actions.append(f"{name} ({role}) driven to its safe state by the guardian")
        elif event is not None:
            unsafe.append(unconfirmed(name, role, f"the guardian failed: {event.get('error', '')}"))
        else:
            unsafe.append(unconfirmed(name, role, "the run did not end and no guardian recorded its safe state"))
    return actions, unsafe


RUN_MARKERS = (RUN_FILE, TESTS_FILE, RESULTS_FILE)  # a folder holding any of these holds a run

EXIT_CODES: dict[Verdict, int] = {
    Verdict.PASS: 0,
    Verdict.FAIL: 1,
    Verdict.ERROR: 2,  # also every configuration error: nothing was judged
    Verdict.INCOMPLETE: 3,
}
"""Exit code of `flexbench run` for the run's overall verdict."""


def holds_run(folder: Path) -> bool:
    """Whether a folder already holds a run: a second run into it would merge with the first."""
    return any((Path(folder) / name).exists() for name in RUN_MARKERS)


def overall_verdict(tests: list[dict[str, Any]], not_run: list[str], *, ended: bool, bench_fault: bool) -> Verdict:
    """The run's one verdict, never more than was tested.

    ERROR: the bench or its configuration failed (an instrument, a file, a test that broke
    without a check failing); INCOMPLETE: interrupted, killed, or tests did not run; FAIL: the
    device failed a requirement; PASS: every selected test ran to its end and passed.
    """
    per_test = [[r["verdict"] for r in t.get("requirements", [])] for t in tests]
    checks = [v for verdicts in per_test for v in verdicts]
    broke = any(t["outcome"] == "failed" and FAIL not in v for t, v in zip(tests, per_test))
    if bench_fault or broke or ERROR in checks or any(t["outcome"] == "error" for t in tests):
        return Verdict.ERROR
    if not ended or not_run or not tests:
        return Verdict.INCOMPLETE
    return Verdict.FAIL if FAIL in checks else Verdict.PASS


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically: a crash leaves the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def append_test(run_dir: Path, record: dict[str, Any]) -> None:
    with open(Path(run_dir) / TESTS_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def load_tests(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / TESTS_FILE
    if not path.exists():
        return []
    tests = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            tests.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a crash
    return tests


def matrix(tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per requirement ID: worst verdict over its checks, the check with the least margin."""
    rows: dict[str, dict[str, Any]] = {}
    for test in tests:
        for result in test.get("requirements", []):
            rid = result["requirement_id"]
            row = rows.setdefault(
                rid,
                {
                    "requirement_id": rid,
                    "checks": 0,
                    "passed": 0,
                    "failed": 0,
                    "errors": 0,
                    "not_applicable": 0,
                    "verdict": PASS,
                    "worst": None,
                },
            )
            row["checks"] += 1
            verdict = result["verdict"]
            if verdict == Verdict.NOT_APPLICABLE:  # says why a check could not be made; no verdict on the device
                row["not_applicable"] += 1
                if row["worst"] is None or row["worst"]["verdict"] == Verdict.NOT_APPLICABLE:
                    row["worst"] = {**result, "test": test["nodeid"]}
                continue
            row["passed" if verdict == PASS else "failed" if verdict == FAIL else "errors"] += 1
            if _rank(verdict) > _rank(row["verdict"]):
                row["verdict"] = verdict
            if _is_worse(result, row["worst"]):
                row["worst"] = {**result, "test": test["nodeid"]}
    for row in rows.values():
        if row["not_applicable"] == row["checks"]:
            row["verdict"] = Verdict.NOT_APPLICABLE.value
    return [rows[k] for k in sorted(rows)]


def _rank(verdict: str) -> int:
    ranks: dict[str, int] = {PASS: 0, FAIL: 1, ERROR: 2}
    return ranks.get(verdict, 2)


def _is_worse(result: dict[str, Any], current: dict[str, Any] | None) -> bool:
    if current is None or current["verdict"] == Verdict.NOT_APPLICABLE:
        return True
    if _rank(result["verdict"]) != _rank(current["verdict"]):
        return _rank(result["verdict"]) > _rank(current["verdict"])
    margin, cur = result.get("margin"), current.get("margin")
    if margin is None or cur is None:
        return False
    return margin < cur


def assemble(
    run_dir: Path,
    not_run: list[str] | None = None,
    *,
    ended: bool = True,
    interrupted: bool = False,
    bench_fault: bool = False,
) -> dict[str, Any]:
    """results.json content from what the run folder holds.

    `not_run` None: the tests the run selected (run.json) that tests.jsonl does not hold.
    """
    run_dir = Path(run_dir)
    run = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8")) if (run_dir / RUN_FILE).exists() else {}
    tests = load_tests(run_dir)
    if not_run is None:
        done = {t["nodeid"] for t in tests}
        not_run = [nodeid for nodeid in run.get("selected", []) if nodeid not in done]
    verdict = overall_verdict(tests, not_run, ended=ended and not interrupted, bench_fault=bench_fault)
    return {
        "verdict": str(verdict),
        "run": run,
        "summary": {
            "verdict": str(verdict),
            "tests": len(tests),
            "passed": sum(t["outcome"] == "passed" for t in tests),
            "failed": sum(t["outcome"] == "failed" for t in tests),
            "errors": sum(t["outcome"] == "error" for t in tests),
            "skipped": sum(t["outcome"] == "skipped" for t in tests),
            "not_run": list(not_run),
            "ended": ended,
            "interrupted": interrupted,
            "bench_fault": bench_fault,
        },
        "matrix": matrix(tests),
        "tests": tests,
    }


def verdict_basis(results: dict[str, Any]) -> str:
    """What the overall verdict rests on: the tests' outcomes, and why the run is not whole."""
    s = results["summary"]
    basis = [f"{s['tests']} tests: {s['passed']} passed, {s['failed']} failed, {s['errors']} errors"]
    if s.get("skipped"):
        basis[0] += f", {s['skipped']} not applicable"
    if s.get("interrupted"):
        basis.append("interrupted")
    elif not s.get("ended", True):
        basis.append("the run did not end (killed?)")
    if s["not_run"]:
        basis.append(f"{len(s['not_run'])} selected tests did not run")
    if s.get("aborted"):
        basis.append("stopped: " + ("a bench instrument failed" if s.get("bench_fault") else "see above"))
    if s.get("unsafe"):
        basis.append(f"{len(s['unsafe'])} instruments not confirmed safe")
    return "; ".join(basis)


def verdict_line(results: dict[str, Any]) -> str:
    """The run's last console line: its overall verdict and what it rests on."""
    return f"verdict: {str(results['verdict']).upper()} ({verdict_basis(results)})"
