"""Running a plan as a user does (`flexbench run`, in a process of its own) and reading its verdicts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from flexbench_cli import flexbench

ROOT = Path(__file__).resolve().parents[2]


class PlanRunner:
    def run(
        self, plan: str, bench: str, time_scale: float, run_dir: Path, *extra: str, timeout_s: float = 300
    ) -> tuple[subprocess.CompletedProcess, dict]:
        proc = flexbench(
            "run",
            plan,
            "--bench",
            bench,
            "--time-scale",
            str(time_scale),
            "--out",
            str(run_dir),
            *extra,
            timeout_s=timeout_s,
        )
        path = run_dir / "results.json"
        return proc, json.loads(path.read_text()) if path.exists() else {}

    @staticmethod
    def failing(results: dict) -> set[str]:
        return {row["requirement_id"] for row in results["matrix"] if row["verdict"] != "pass"}

    @staticmethod
    def why(results: dict) -> str:
        """The failing checks, for an assertion message."""
        return "\n".join(
            f"{r['requirement_id']} {t['nodeid']}: {r['message']}"
            for t in results.get("tests", [])
            for r in t["requirements"]
            if r["verdict"] != "pass"
        )


@pytest.fixture(scope="session")
def plans() -> PlanRunner:
    return PlanRunner()
