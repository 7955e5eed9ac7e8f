"""The guardian process against an emulated grid simulator over SCPI: the run dies, hangs, or ends cleanly.

The run side is played by the test: it writes the guardian's spec and heartbeats
on a pipe, as lab.guardian.Guardian does, and the "run process" the guardian
kills on a hang is a child process of the test.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flexbench.instruments.emulators import ChromaGridEmulator
from flexbench.lab.guardian import HEARTBEAT_LIMIT_S, HEARTBEAT_TIMEOUT_S, hangs
from flexbench.lab.results import guardian_findings

SAFE_WITHIN_S = 2.0


@pytest.fixture
def grid():
    emulator = ChromaGridEmulator(phases=3).start()
    emulator.output_on = True
    emulator.voltage_v = [240.0, 240.0, 240.0]
    yield emulator
    emulator.stop()


def start_guardian(tmp_path: Path, grid: ChromaGridEmulator, run_pid: int) -> subprocess.Popen:
    spec = {
        "run_pid": run_pid,
        "lab_pid": None,
        "events_path": str(tmp_path / "events.jsonl"),
        "clock": None,
        "sources": [
            {
                "name": "grid",
                "role": "grid_simulator",
                "driver": "chroma-61845",
                "address": grid.address,
                "options": {"phases": 3},
                "safety": {"voltage_max_v": 300.0},
                "timeout_s": 2.0,
                "config_dir": str(tmp_path),
            }
        ],
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "flexbench.lab.guardian"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(spec).encode() + b"\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == b"watching"
    return proc


def beat(proc: subprocess.Popen, duration_s: float) -> None:
    assert proc.stdin is not None
    end = time.monotonic() + duration_s
    while time.monotonic() < end:
        proc.stdin.write(b"beat\n")
        proc.stdin.flush()
        time.sleep(0.25)


def wait_output_off(grid: ChromaGridEmulator, timeout_s: float) -> float:
    """Wall seconds until the emulator's output went off (pytest.fail past the timeout)."""
    start = time.monotonic()
    while grid.output_on:
        if time.monotonic() - start > timeout_s:
            pytest.fail(f"the grid simulator's output is still on after {timeout_s} s")
        time.sleep(0.005)
    return time.monotonic() - start


def events(tmp_path: Path) -> list[dict]:
    path = tmp_path / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_run_that_dies_has_its_grid_simulator_turned_off_within_two_seconds(tmp_path, grid):
    proc = start_guardian(tmp_path, grid, run_pid=0)
    beat(proc, 1.0)
    assert grid.output_on  # beats keep it standing by
    assert proc.stdin is not None
    proc.stdin.close()  # what the kernel does to the pipe when the run process is killed
    took_s = wait_output_off(grid, SAFE_WITHIN_S)
    assert proc.wait(timeout=10) == 1
    assert took_s < SAFE_WITHIN_S
    assert any("OUTP" in record.command.upper() for record in grid.command_log)
    found = events(tmp_path)
    assert [e["kind"] for e in found] == ["guardian_triggered", "guardian_safe_state"]
    assert "ended without stopping" in found[0]["reason"] and found[1]["ok"] is True


def test_a_hung_run_is_killed_and_its_grid_simulator_turned_off(tmp_path, grid):
    run = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        proc = start_guardian(tmp_path, grid, run_pid=run.pid)
        beat(proc, 0.5)  # then silence, with the pipe still open: a hang
        took_s = wait_output_off(grid, HEARTBEAT_TIMEOUT_S + SAFE_WITHIN_S)
        assert took_s > HEARTBEAT_TIMEOUT_S - 0.3  # not before the heartbeat was overdue
        assert run.wait(timeout=10) == -9  # no verdict comes from a run the bench was made safe under
        assert proc.wait(timeout=10) == 1
        kinds = [e["kind"] for e in events(tmp_path)]
        assert kinds == ["guardian_triggered", "guardian_killed_run", "guardian_safe_state"]
    finally:
        run.kill()


def test_a_busy_run_is_slow_not_hung_until_it_is_suspended(tmp_path, grid):
    run = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # computing, beats delayed
    try:
        proc = start_guardian(tmp_path, grid, run_pid=run.pid)
        beat(proc, 0.5)
        time.sleep(HEARTBEAT_TIMEOUT_S + 1.5)
        assert grid.output_on and run.poll() is None and events(tmp_path) == []
        run.send_signal(signal.SIGSTOP)  # suspended: it cannot be making progress
        wait_output_off(grid, SAFE_WITHIN_S)
        assert run.wait(timeout=10) == -9
        assert "no progress" in events(tmp_path)[0]["reason"]
    finally:
        run.kill()


@pytest.mark.parametrize(
    "silent_s, before, now, hung",
    [
        (1.0, ("S", 5), ("S", 5), False),  # not overdue yet
        (2.0, ("S", 5), ("S", 5), True),  # blocked and idle: a deadlock
        (2.0, ("S", 5), ("S", 9), False),  # used CPU since its last beat
        (2.0, ("R", 5), ("R", 5), False),  # waiting for a CPU
        (2.0, ("R", 5), ("T", 9), True),  # suspended
        (2.0, None, None, True),  # no /proc: silence is all there is
        (HEARTBEAT_LIMIT_S + 0.1, ("R", 5), ("R", 900), True),  # busy, but silent too long
    ],
)
def test_what_counts_as_a_hang(silent_s, before, now, hung):
    assert hangs(silent_s, before, now) is hung


def test_a_clean_stop_leaves_the_bench_alone(tmp_path, grid):
    proc = start_guardian(tmp_path, grid, run_pid=0)
    beat(proc, 0.5)
    assert proc.stdin is not None
    proc.stdin.write(b"stop\n")
    proc.stdin.close()
    assert proc.wait(timeout=10) == 0
    time.sleep(HEARTBEAT_TIMEOUT_S)
    assert grid.output_on and events(tmp_path) == []


def test_a_source_the_guardian_cannot_reach_is_recorded_as_not_safe(tmp_path, grid):
    proc = start_guardian(tmp_path, grid, run_pid=0)
    grid.responding = False  # hung: the guardian's OUTP OFF gets no answer
    assert proc.stdin is not None
    proc.stdin.close()
    assert proc.wait(timeout=30) == 1
    safe = [e for e in events(tmp_path) if e["kind"] == "guardian_safe_state"]
    assert len(safe) == 1 and safe[0]["ok"] is False and safe[0]["instrument"] == "grid"


def test_a_killed_runs_folder_names_the_sources_no_guardian_confirmed_safe(tmp_path):
    station = {
        "instruments": {
            "grid": {"role": "grid_simulator"},
            "load": {"role": "ac_load"},
            "pv": {"role": "pv_simulator"},
        },
        "components": {"guardian": {"sources": ["grid", "load", "pv"]}},
    }
    (tmp_path / "station.json").write_text(json.dumps(station))
    lines = [
        {"kind": "guardian_triggered", "reason": "the run process ended without stopping the bench"},
        {"kind": "guardian_safe_state", "instrument": "grid", "ok": True},
        {"kind": "guardian_safe_state", "instrument": "load", "ok": False, "error": "timed out"},
    ]
    (tmp_path / "events.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n{cut by a cra")
    actions, unsafe = guardian_findings(tmp_path)
    assert actions == [
        "the guardian acted: the run process ended without stopping the bench",
        "grid (grid_simulator) driven to its safe state by the guardian",
    ]
    assert unsafe == [
        "load (ac_load): safe state not confirmed, input may still be ON: check it by hand (the guardian failed: timed out)",
        "pv (pv_simulator): safe state not confirmed, output may still be ON: check it by hand "
        "(the run did not end and no guardian recorded its safe state)",
    ]
