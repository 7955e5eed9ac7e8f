"""Schedule plans on the virtual PCS site: the healthy PCS follows a static schedule across a month boundary
with no communication; a PCS that ignores the schedule, or keeps a variable one past its end, fails exactly that."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flexbench.core.schedule_files import read_schedule
from flexbench.core.schedules import StaticSchedule

BENCH = "lab/benches/virtual-pcs.toml"
TIME_SCALE = 30


def run_plan(plans, run_dir: Path, *extra: str):
    return plans.run("testplans/static-schedule", BENCH, TIME_SCALE, run_dir, *extra, timeout_s=240)


def test_healthy_pcs_follows_the_schedule_across_a_month_boundary_with_no_communication(tmp_path, plans):
    run_dir = tmp_path / "healthy"
    proc, results = run_plan(plans, run_dir)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert {row["requirement_id"] for row in results["matrix"]} == {"SCHED-FOLLOW", "SCHED-END"}
    assert plans.failing(results) == set(), plans.why(results)
    month = next(t for t in results["tests"] if t["nodeid"].endswith("[month]"))
    (check,) = month["requirements"]
    assert [w["label"] for w in check["details"]["intervals"]] == ["Jan 23h", "Feb 00h"]
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "pcs_clock" and e["set_to"].startswith("2027-01-31T23:59") for e in events)
    assert any(e["kind"] == "server_outage" and e["started"] for e in events)  # no communication
    letter = read_schedule(run_dir / "static-schedule-month.csv")  # the file the PCS was loaded with, kept
    assert isinstance(letter, StaticSchedule) and letter.cell(2, 0).export_limit_w == 1000.0


@pytest.mark.parametrize(
    "profile, broken",
    [
        ("ignores-schedule", {"SCHED-FOLLOW", "SCHED-END"}),  # its firm limits come with the schedule it ignores
        ("holds-last-interval", {"SCHED-END"}),
    ],
)
def test_a_pcs_that_misses_its_schedule_fails_exactly_what_it_breaks(tmp_path, plans, profile, broken):
    proc, results = run_plan(plans, tmp_path / profile, "--dut-profile", profile)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert plans.failing(results) == broken, plans.why(results)


def test_a_controller_that_cannot_hold_a_schedule_is_not_applicable_with_the_reason(tmp_path, plans):
    proc, results = plans.run(
        "testplans/static-schedule", "lab/benches/virtual-controller.toml", 10, tmp_path / "controller"
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert results["verdict"] == "pass" and len(results["tests"]) == 3
    for test in results["tests"]:
        assert test["outcome"] == "skipped", test
        assert test["message"].startswith("not applicable: the PCS has no schedule registers"), test
