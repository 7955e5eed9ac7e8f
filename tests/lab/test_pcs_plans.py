"""UL 3141 PCS plans on the virtual PCS site: the healthy PCS passes, each fault fails what it breaks."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALL = {"PCS-EXP", "PCS-IMP", "PCS-CUR", "PCS-MODE", "PCS-CHG", "PCS-FS"}


def run_plan(run_dir: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "flexbench.lab.cli", "run", "testplans/ul3141", "--bench", "lab/benches/virtual-pcs.toml",
         "--time-scale", "25", "--out", str(run_dir), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    results = json.loads((run_dir / "results.json").read_text()) if (run_dir / "results.json").exists() else {}
    return proc, results


def why(results: dict) -> str:
    """The failing checks, for an assertion message."""
    return "\n".join(f"{r['requirement_id']} {t['nodeid']}: {r['message']}" for t in results.get("tests", [])
                     for r in t["requirements"] if r["verdict"] != "pass")


def failing(results: dict) -> set[str]:
    return {row["requirement_id"] for row in results["matrix"] if row["verdict"] != "pass"}


def test_healthy_pcs_passes_every_plan_and_report_shows_the_declaration(tmp_path):
    proc, results = run_plan(tmp_path / "healthy")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert {row["requirement_id"] for row in results["matrix"]} == ALL
    assert failing(results) == set()
    html = (tmp_path / "healthy" / "report.html").read_text()
    assert "Device declaration" in html and "open_loop_response_time_s = 5.0" in html
    assert html.count("data:image/png;base64") >= 8


@pytest.mark.parametrize(
    "profile, broken",
    [
        ("slow", ALL),  # every response comes 15 s late
        ("overshoot", ALL - {"PCS-FS"}),  # controlled responses ring; the fail-safe trip does not
        ("sensor-lost", {"PCS-FS"}),
        ("ignores-battery", {"PCS-EXP", "PCS-IMP", "PCS-MODE"}),  # the current and change tests need no battery
    ],
)
def test_pcs_fault_fails_exactly_what_it_breaks(tmp_path, profile, broken):
    proc, results = run_plan(tmp_path / profile, "--dut-profile", profile)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert failing(results) == broken, why(results)


def test_bad_declaration_is_refused_naming_the_field(tmp_path):
    text = (ROOT / "testplans/declarations/virtual-pcs.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("export_limit_w = 3000.0", "export_limit_w = 30000.0"))
    proc, _ = run_plan(tmp_path / "bad", "--declaration", str(bad), "-k", "export")
    assert proc.returncode != 0
    assert "export_limit_w" in proc.stdout and "above what the sources can export" in proc.stdout
