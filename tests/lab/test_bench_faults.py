"""A bench instrument that fails mid-run ends the run as ERROR, never as a verdict on the device.

`--bench-fault` makes an emulated instrument of the virtual bench stop answering
(silent) or disappear (gone) mid-test: the running test is ERROR naming the
instrument, the run stops, every other instrument goes to its safe state, and
an instrument whose safe state could not be confirmed is named on the console,
in the report and in events.jsonl.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flexbench_cli import flexbench

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("mode", ["silent", "gone", "errors"])
def test_a_grid_simulator_that_fails_mid_test_ends_the_run_as_error(tmp_path, mode):
    run_dir = tmp_path / mode
    proc = flexbench(
        "run", "testplans/ieee1547", "--time-scale", "50", "--bench-fault", f"grid:{mode}@30", "--out", str(run_dir)
    )
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]  # ERROR
    results = json.loads((run_dir / "results.json").read_text())
    assert results["verdict"] == "error" and results["summary"]["interrupted"] is False
    first = results["tests"][0]
    assert first["outcome"] == "error" and len(results["tests"]) == 1
    errors = [r for r in first["requirements"] if r["verdict"] == "error"]
    assert {r["requirement_id"] for r in errors} == {"LAP-RT", "LAP-SS"}
    assert all("grid (grid_simulator" in r["message"] for r in errors)
    assert len(results["summary"]["not_run"]) == 8  # the run stopped there
    unsafe = results["summary"]["unsafe"]
    assert len(unsafe) == 1 and unsafe[0].startswith("grid (grid_simulator): safe state not confirmed, output may")
    assert f"WARNING: {unsafe[0]}" in proc.stdout and proc.stdout.strip().splitlines()[-1].startswith("verdict: ERROR")
    assert "output may still be ON" in (run_dir / "report.html").read_text()
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["mode"] for e in events if e["kind"] == "bench_fault"] == [mode]
    safe = {(e["instrument"], e["ok"]) for e in events if e["kind"] == "safe_state"}
    assert ("grid", False) in safe and ("dut", True) in safe and ("dut", False) not in safe  # the others made safe
    final = [e for e in events if e["kind"] == "virtual_lab_stopped"][-1]
    assert final["grid_output_on"] is True  # what the report warns of: the emulated grid was left energized


def test_a_bench_fault_names_an_instrument_of_a_virtual_bench(tmp_path):
    for fault, message in (
        ("grid:asleep", "expected NAME:MODE[@BENCH_S] with MODE one of silent, gone, errors"),
        ("grid:silent@soon", "'soon' is not a number of bench seconds"),
        ("gird:silent", "--bench-fault gird: no instrument of that name"),
    ):
        proc = flexbench("run", "testplans/ieee1547", "--bench-fault", fault, "--out", str(tmp_path / "r"))
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert message in proc.stderr, proc.stderr
    real = flexbench(
        "run", "testplans/ieee1547", "--bench", "lab/benches/example-lab.toml", "--bench-fault", "grid:silent"
    )
    assert real.returncode == 2 and "this bench is a real one" in real.stderr, real.stderr
    profile = flexbench(
        "run", "testplans/ieee1547", "--bench", "lab/benches/example-lab.toml", "--dut-profile", "slow",
        "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert profile.returncode == 2 and len(profile.stderr.strip().splitlines()) == 1, profile.stderr
    assert "--dut-profile slow selects a fault of the virtual DUT: this bench is a real one" in profile.stderr
    assert not (tmp_path / "r").exists()
