"""The plan language: typed profile values validated at collection, `flexbench plans`, `flexbench run --req`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from flexbench_cli import flexbench

from flexbench.lab.plan import PlanParams, RequirementParams
from flexbench.lab.plan.params import validate_table
from flexbench.lab.profile import Profile, ProfileError

ROOT = Path(__file__).resolve().parents[2]
IEEE1547 = ROOT / "testplans/profiles/ieee1547-2018.toml"


class Hold(PlanParams):
    hold_s: float
    repeats: int = 1


class Accuracy(RequirementParams):
    accuracy_w: float


PROFILE = """\
[requirements.R-1]
title = "a requirement"
criterion = "at or below the limit"
source = "clause 1"
accuracy_w = 100.0

[plans.p]
hold_s = 10.0

[benches.slow.plans.p]
hold_s = 20.0
"""


def write_profile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "old, new, line, expected",
    [
        ("hold_s = 10.0", "hold_secs = 10.0", 8, "plans.p.hold_secs: unknown key (did you mean 'hold_s'?)"),
        ("hold_s = 10.0", "hold_s = 'ten'", 8, "plans.p.hold_s: expected a number, got a string 'ten'"),
        ("hold_s = 10.0", "", 7, "plans.p.hold_s: missing"),
    ],
)
def test_each_profile_mistake_is_one_line_with_file_line_and_key(tmp_path, old, new, line, expected):
    path = write_profile(tmp_path, PROFILE.replace(old, new, 1))
    with pytest.raises(ProfileError) as err:
        validate_table(Profile.load(path), "plans", "p", Hold)
    message = str(err.value)
    assert message.splitlines() == [f"{path}:{line}: {expected}" + message.split(expected, 1)[1]]


def test_a_bench_table_error_names_the_bench_table(tmp_path):
    path = write_profile(tmp_path, PROFILE.replace("hold_s = 20.0", "hold_s = true"))
    profile = Profile.load(path)
    assert validate_table(profile, "plans", "p", Hold).hold_s == 10.0
    with pytest.raises(ProfileError, match=rf"^{path}:11: plans\.p\.hold_s: expected a number"):
        validate_table(profile.for_bench("slow"), "plans", "p", Hold)


def test_bench_values_replace_the_shared_ones_and_integers_are_not_numbers_of_another_kind(tmp_path):
    path = write_profile(tmp_path, PROFILE.replace("hold_s = 10.0", "hold_s = 10\nrepeats = 2.5"))
    with pytest.raises(ProfileError, match="plans.p.repeats: expected an integer, got a number 2.5"):
        validate_table(Profile.load(path), "plans", "p", Hold)
    good = write_profile(tmp_path, PROFILE)
    assert validate_table(Profile.load(good).for_bench("slow"), "plans", "p", Hold).hold_s == 20.0
    req = validate_table(Profile.load(good), "requirements", "R-1", Accuracy)
    assert req.describe("R-1").criterion == "at or below the limit" and req.accuracy_w == 100.0


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("hold_s = 90.0", "hold_secs = 90.0", "plans.limit_active_power.hold_secs: unknown key"),
        ("hold_s = 90.0", 'hold_s = "ten"', "plans.limit_active_power.hold_s: expected a number, got a string 'ten'"),
        ("response_time_s = 30.0", "", "requirements.LAP-RT.response_time_s: missing"),
    ],
)
def test_flexbench_run_stops_on_a_profile_mistake_before_any_test(tmp_path, old, new, expected):
    text = IEEE1547.read_text()
    assert old in text
    path = write_profile(tmp_path, text.replace(old, new, 1))
    run_dir = tmp_path / "run"
    proc = flexbench("run", "testplans/ieee1547", "--profile", str(path), "--out", str(run_dir))
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(path) in lines[0] and expected in lines[0], proc.stderr
    line_no = int(lines[0].split(str(path) + ":", 1)[1].split(":", 1)[0])
    assert 1 <= line_no <= len(path.read_text().splitlines())
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (run_dir / "tests.jsonl").exists() and not (run_dir / "samples.parquet").exists()


def test_plans_lists_tests_requirements_criteria_and_sources():
    proc = flexbench("plans", "testplans/ieee1547")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "testplans/ieee1547  plan limit_active_power (IEEE 1547.1-2020 5.13)" in out
    assert "test_limit_active_power.py::test_limit_active_power  [9 test points]: LAP-RT, LAP-SS" in out
    assert "    LAP-SS: Limit maximum active power: steady state under the limit" in out
    assert "      source: IEEE 1547.1-2020 5.13" in out
    block = out.split("    LAP-RT:", 1)[1].split("\n    LAP-", 1)[0]
    assert "criterion: " in block and "source: IEEE 1547-2018 4.6.2" in block


def test_plans_reports_a_profile_mistake_as_a_configuration_error(tmp_path):
    path = write_profile(tmp_path, IEEE1547.read_text().replace("repeats = 3", "repeats = 'three'"))
    proc = flexbench("plans", "testplans/ieee1547", "--profile", str(path))
    assert proc.returncode == 2
    assert "plans.limit_active_power.repeats: expected an integer, got a string 'three'" in proc.stderr


def test_run_req_selects_the_tests_of_one_requirement(tmp_path):
    run_dir = tmp_path / "chg"
    proc = flexbench(
        "run",
        "testplans/ul3141",
        "--bench",
        "lab/benches/virtual-pcs.toml",
        "--req",
        "PCS-CHG",
        "--time-scale",
        "50",
        "--out",
        str(run_dir),
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    results = json.loads((run_dir / "results.json").read_text())
    assert [t["nodeid"].split("::")[-1] for t in results["tests"]] == ["test_export_setting_lowered_while_running"]
    assert {row["requirement_id"] for row in results["matrix"]} == {"PCS-CHG"}


def test_run_req_of_no_test_is_a_configuration_error(tmp_path):
    proc = flexbench("run", "testplans/ieee1547", "--req", "LAP-XX", "--out", str(tmp_path / "none"))
    assert proc.returncode == 2
    assert "no test checks requirement LAP-XX" in proc.stderr and "LAP-RT" in proc.stderr


@pytest.mark.parametrize("import_mode", ["importlib", "prepend"])
def test_a_test_file_that_fails_to_import_is_a_collection_error_not_an_empty_module(tmp_path, import_mode):
    """flexbench's pytest plugin imports each module to find its plan; a failed import must still fail collection."""
    (tmp_path / "test_broken.py").write_text("import no_such_module_here\n\n\ndef test_x():\n    pass\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--import-mode={import_mode}", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, proc.stdout
    assert "No module named 'no_such_module_here'" in proc.stdout


SETUP_FAILS = """\
import pytest


@pytest.fixture
def broken(bench):
    raise RuntimeError("the set-up could not finish")


@pytest.mark.requirement("LAP-RT")
def test_needs_a_broken_setup(broken):
    pass


@pytest.mark.requirement("LAP-SS")
def test_after_it(bench):
    pass
"""


def test_a_failed_set_up_stops_the_run_as_error_not_as_interrupted(tmp_path):
    """A set-up that raises stops the run by itself: ERROR, the rest not run, and neither "interrupted" (Ctrl-C)
    nor a bench instrument blamed."""
    plan = tmp_path / "test_setup_fails.py"
    plan.write_text(SETUP_FAILS)
    run_dir = tmp_path / "run"
    proc = flexbench("run", str(plan), "--time-scale", "50", "--out", str(run_dir))
    results = json.loads((run_dir / "results.json").read_text())
    summary = results["summary"]
    assert results["verdict"] == "error", proc.stdout[-2000:]
    assert summary["interrupted"] is False and summary["bench_fault"] is False
    assert summary["aborted"].startswith("setup failed in") and len(summary["not_run"]) == 1
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("verdict: ERROR") and "stopped: see above" in last and "instrument" not in last
