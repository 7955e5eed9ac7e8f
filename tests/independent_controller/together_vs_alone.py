"""Run the csip and controller plans with the independent controller together, then each test alone, and compare.

A controller session that leaks from one test into the next shows as a verdict that differs between the
two. Both passes run at time scale 1 (the controller keeps its own clock), side by side, each on its own
bench with ports chosen at run time; together they take about an hour.

    python tests/independent_controller/together_vs_alone.py --out reports/together-vs-alone

writes `comparison.json` (requirement verdicts per test in each pass, and the differences) and prints a
table; the exit code is 1 when any verdict differs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = "lab/benches/independent-controller.toml"
PLANS = ["testplans/csip", "testplans/controller"]


def _run(plans: list[str], run_dir: Path) -> dict:
    """`flexbench run` as a user types it; the run folder's results, or an empty record when it has none."""
    command = [sys.executable, "-m", "flexbench.lab.cli", "run", *plans, "--bench", BENCH]
    subprocess.run([*command, "--time-scale", "1", "--out", str(run_dir)], cwd=ROOT, capture_output=True)
    path = run_dir / "results.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _verdicts(results: dict) -> dict[str, dict[str, str]]:
    """Requirement verdicts by test node id (the outcome where a test judged no requirement)."""
    return {
        t["nodeid"]: {r["requirement_id"]: r["verdict"] for r in t["requirements"]} or {"outcome": t["outcome"]}
        for t in results.get("tests", [])
    }


def _node_ids() -> list[str]:
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *PLANS], cwd=ROOT, capture_output=True, text=True
    )
    return [line for line in listed.stdout.splitlines() if "::" in line]


def _alone(node_ids: list[str], out: Path) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for index, node_id in enumerate(node_ids):
        found.update(_verdicts(_run([node_id], out / f"alone-{index:02d}")))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the run folders and comparison.json")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    node_ids = _node_ids()
    with ThreadPoolExecutor(2) as pool:
        together_job = pool.submit(lambda: _verdicts(_run(PLANS, args.out / "together")))
        alone = _alone(node_ids, args.out)
        together = together_job.result()
    rows = [
        {"test": n, "together": together.get(n, {}), "alone": alone.get(n, {}), "same": together.get(n) == alone.get(n)}
        for n in node_ids
    ]
    (args.out / "comparison.json").write_text(json.dumps(rows, indent=2))
    width = max(len(r["test"]) for r in rows)
    for r in rows:
        mark = "same" if r["same"] else "DIFFERS"
        print(f"{r['test']:<{width}}  {mark:<7}  together {r['together']}  alone {r['alone']}")
    return 0 if all(r["same"] and r["together"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
