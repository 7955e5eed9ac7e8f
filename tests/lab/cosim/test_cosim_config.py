"""The [cosim] table and `flexbench cosim run`: clear errors for bad input, a run folder for a stopped loop."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from flexbench.lab.bench_config import BenchError, load_bench
from flexbench.lab.cosim.config import CosimError, CosimSettings, with_flags
from flexbench.lab.recorder import load_events, load_samples

from .conftest import CLI, PHIL_BENCH, ROOT


def bench_with(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """The PHIL bench with one line replaced; returns the file and that line's number."""
    text = PHIL_BENCH.read_text()
    assert old in text
    path = tmp_path / "bench.toml"
    path.write_text(text.replace(old, new, 1))
    line = text[: text.index(old)].count("\n") + 1
    return path, line


def test_the_shipped_phil_bench_is_valid() -> None:
    settings = load_bench(PHIL_BENCH).cosim
    assert isinstance(settings, CosimSettings)
    assert (settings.feeder, settings.bus, settings.rate_hz, settings.measure) == ("ieee123", "48", 50.0, ("pcc",))


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ("rate_hz = 50.0", "rate_hx = 50.0", "cosim.rate_hx", "did you mean 'rate_hz'"),
        ("rate_hz = 50.0", "rate_hz = -5.0", "cosim.rate_hz", "positive"),
        ("rate_hz = 50.0", 'rate_hz = "fast"', "cosim.rate_hz", "expected a number"),
        ('measure = "pcc"', 'measure = "busbar"', "cosim.measure", "no power analyzer measures 'busbar'"),
        ('measure_sign = "import"', 'measure_sign = "in"', "cosim.measure_sign", "'import' or 'export'"),
        ('feeder = "ieee123"', 'feeder = "ieee124"', "cosim.feeder", "unknown feeder 'ieee124'"),
        (
            "voltage_min_pu = 0.8",
            "voltage_min_pu = 1.3",
            "cosim.guard.voltage_min_pu",
            "voltage_min_pu < voltage_max_pu",
        ),
        ("diverge_steps = 5", "diverge_steps = 2.5", "cosim.guard.diverge_steps", "whole number"),
        ("max_step_v = 5.0", "max_stepv = 5.0", "cosim.guard.max_stepv", "did you mean 'max_step_v'"),
        ('core = "zmq"', 'core = "carrier-pigeon"', "cosim.helics.core", "unknown core type"),
        ('broker = "127.0.0.1:23404"', 'broker = "127.0.0.1:99999"', "cosim.helics.broker", "port must be"),
    ],
)
def test_a_bad_cosim_table_names_file_line_and_key(tmp_path, old, new, key, words) -> None:
    path, line = bench_with(tmp_path, old, new)
    with pytest.raises(BenchError) as err:
        load_bench(path)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: {key}: "), message
    assert words in message
    assert "\n" not in message


def test_flags_are_checked_and_named() -> None:
    base = CosimSettings()
    assert with_flags(base, rate_hz=100.0, bus="47").rate_hz == 100.0
    with pytest.raises(CosimError, match=r"^--rate-hz: must be a positive number"):
        with_flags(base, rate_hz=0.0)
    with pytest.raises(CosimError, match=r"^--broker: broker address ':1' has no host"):
        with_flags(base, broker=":1")


def test_an_unknown_bus_is_a_one_line_error_naming_the_key(tmp_path) -> None:
    path, line = bench_with(tmp_path, 'bus = "48"', 'bus = "4800"')
    proc = subprocess.run(
        [*CLI, "cosim", "run", "--bench", str(path), "--duration", "1", "--out", str(tmp_path / "run")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"flexbench cosim: {path}:{line}: cosim.bus: bus '4800' is not on feeder ieee123")
    assert "Traceback" not in proc.stderr
    proc = subprocess.run(
        [*CLI, "cosim", "run", "--bus", "nowhere", "--duration", "1", "--out", str(tmp_path / "r2")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "--bus: bus 'nowhere' is not on feeder" in proc.stderr, proc.stderr


def test_cosim_run_stops_a_diverging_loop_and_keeps_the_run_folder(tmp_path) -> None:
    """The site's 2 kW load scaled to 40 MW: the twin has no solution; the guard stops the loop.

    The first step (output off, no load) is healthy, so the bench is energized
    before the loop runs away.
    """
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [
            *CLI,
            "cosim",
            "run",
            "--bench",
            str(PHIL_BENCH),
            "--duration",
            "5",
            "--power-scale",
            "20000",
            "--out",
            str(run_dir),
            "--live",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 1, proc.stderr
    assert re.search(r"PHIL loop stopped: the twin was out of bounds for 5 steps in a row at bus 48", proc.stderr)
    assert "Traceback" not in proc.stderr
    assert re.search(r"^live view: http://127\.0\.0\.1:\d+/$", proc.stderr, re.M)  # --live serves the run
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["stopped"] and 6 <= summary["steps"] < 20
    samples = load_samples(run_dir)
    converged = samples[samples.channel == "cosim.twin_converged"].value.to_numpy()
    assert len(converged) == summary["steps"] and converged[0] == 1.0 and not converged[-5:].any()
    events = load_events(run_dir)
    kinds = [e["kind"] for e in events]
    assert kinds.index("cosim_energized") < kinds.index("cosim_stopped")
    stop = events[kinds.index("cosim_stopped")]
    assert stop["safe_state"] == "grid simulator output off"
    final = next(e for e in events if e["kind"] == "virtual_lab_stopped")
    assert final["grid_output_on"] is False
