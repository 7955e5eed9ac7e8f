"""Results of a run: one line per finished test in tests.jsonl (durable as it goes),
results.json at the end, and the requirement matrix that both reports show.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from flexbench.lab.evaluate import ERROR, FAIL, PASS

TESTS_FILE = "tests.jsonl"
RESULTS_FILE = "results.json"
RUN_FILE = "run.json"
STATION_FILE = "station.json"
DECLARATION_FILE = "declaration.toml"


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
                    "verdict": PASS,
                    "worst": None,
                },
            )
            row["checks"] += 1
            verdict = result["verdict"]
            row["passed" if verdict == PASS else "failed" if verdict == FAIL else "errors"] += 1
            if _rank(verdict) > _rank(row["verdict"]):
                row["verdict"] = verdict
            if _is_worse(result, row["worst"]):
                row["worst"] = {**result, "test": test["nodeid"]}
    return [rows[k] for k in sorted(rows)]


def _rank(verdict: str) -> int:
    ranks: dict[str, int] = {PASS: 0, FAIL: 1, ERROR: 2}
    return ranks.get(verdict, 2)


def _is_worse(result: dict[str, Any], current: dict[str, Any] | None) -> bool:
    if current is None:
        return True
    if _rank(result["verdict"]) != _rank(current["verdict"]):
        return _rank(result["verdict"]) > _rank(current["verdict"])
    margin, cur = result.get("margin"), current.get("margin")
    if margin is None or cur is None:
        return False
    return margin < cur


def assemble(run_dir: Path, not_run: list[str] | None = None) -> dict[str, Any]:
    """results.json content from what the run folder holds."""
    run_dir = Path(run_dir)
    run = json.loads((run_dir / RUN_FILE).read_text(encoding="utf-8")) if (run_dir / RUN_FILE).exists() else {}
    tests = load_tests(run_dir)
    rows = matrix(tests)
    verdicts = [row["verdict"] for row in rows]
    return {
        "run": run,
        "summary": {
            "tests": len(tests),
            "passed": sum(t["outcome"] == "passed" for t in tests),
            "failed": sum(t["outcome"] == "failed" for t in tests),
            "errors": sum(t["outcome"] == "error" for t in tests),
            "not_run": list(not_run or []),
            "verdict": ERROR if ERROR in verdicts else FAIL if FAIL in verdicts else PASS if verdicts else "none",
        },
        "matrix": rows,
        "tests": tests,
    }
