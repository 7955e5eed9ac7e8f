"""UL 3141 PCS plans on the virtual PCS site: the healthy PCS passes, each fault fails what it breaks."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALL = {"PCS-EXP", "PCS-IMP", "PCS-CUR", "PCS-MODE", "PCS-CHG", "PCS-FS"}
BENCH = "lab/benches/virtual-pcs.toml"


def run_plan(plans, run_dir: Path, *extra: str):
    return plans.run("testplans/ul3141", BENCH, 25, run_dir, *extra)


def test_healthy_pcs_passes_every_plan_and_report_shows_the_declaration(tmp_path, plans):
    proc, results = run_plan(plans, tmp_path / "healthy")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert {row["requirement_id"] for row in results["matrix"]} == ALL
    assert plans.failing(results) == set(), plans.why(results)
    html = (tmp_path / "healthy" / "report.html").read_text()
    assert "Device declaration" in html and "<td>declared.open_loop_response_time_s</td><td>5.0</td>" in html
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
def test_pcs_fault_fails_exactly_what_it_breaks(tmp_path, plans, profile, broken):
    proc, results = run_plan(plans, tmp_path / profile, "--dut-profile", profile)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert plans.failing(results) == broken, plans.why(results)


def test_bad_declaration_is_refused_naming_the_field(tmp_path, plans):
    text = (ROOT / "testplans/declarations/virtual-pcs.toml").read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("export_limit_w = 3000.0", "export_limit_w = 30000.0"))
    proc, _ = run_plan(plans, tmp_path / "bad", "--declaration", str(bad), "-k", "export")
    assert proc.returncode == 2  # a configuration error: refused before any test
    assert "settings.export_limit_w" in proc.stderr and "above what the sources can export" in proc.stderr
