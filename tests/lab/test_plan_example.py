"""The README's worked example of a new plan: the very files it shows, run on the virtual bench."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLAN = "examples/plans/test_export_step.py"
PROFILE = "examples/profiles/example.toml"
BENCH = "lab/benches/virtual-pcs.toml"


def test_the_readme_shows_the_example_files_verbatim():
    readme = (ROOT / "README.md").read_text()
    for path in (PLAN, PROFILE):
        assert (ROOT / path).read_text().strip() in readme, f"README's copy of {path} differs from the file"


def test_example_plan_passes_a_healthy_pcs(tmp_path, plans):
    proc, results = plans.run(PLAN, BENCH, 20, tmp_path / "healthy")
    assert proc.returncode == 0, plans.why(results) + proc.stdout[-2000:] + proc.stderr[-2000:]
    assert [row["requirement_id"] for row in results["matrix"]] == ["EX-1"]
    assert results["matrix"][0]["verdict"] == "pass" and results["matrix"][0]["checks"] == 2
    steps = [
        line for line in (tmp_path / "healthy" / "events.jsonl").read_text().splitlines() if '"kind": "step"' in line
    ]
    assert len(steps) == 3 and '"clause": "EX 2"' in steps[1]


def test_example_plan_fails_a_slow_pcs(tmp_path, plans):
    proc, results = plans.run(PLAN, BENCH, 20, tmp_path / "slow", "--dut-profile", "slow")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert plans.failing(results) == {"EX-1"}, plans.why(results)
