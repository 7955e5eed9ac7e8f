"""The report a lab hands over: equipment with calibration, the declaration as a table, noise-free criteria."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from flexbench.lab.bench_config import BenchError, load_bench
from flexbench.lab.controller.findings import bench_clock
from flexbench.lab.evaluate import stays_at_or_below
from flexbench.lab.report import declaration_html, station_html

BENCHES = Path(__file__).resolve().parents[2] / "lab" / "benches"


def grid_with(tmp_path: Path, line: str) -> tuple[Path, int]:
    """The virtual bench with `line` added to its grid simulator's table; the file and that line's number."""
    text = (BENCHES / "virtual.toml").read_text().replace("timeout_s = 2.0", f"timeout_s = 2.0\n{line}", 1)
    path = tmp_path / "bench.toml"
    path.write_text(text)
    return path, text[: text.index(line)].count("\n") + 1


def test_a_calibration_due_date_is_read_and_one_that_lapsed_before_the_run_is_marked(tmp_path):
    path, _ = grid_with(tmp_path, "calibration_due = 2026-01-31")
    grid = load_bench(path).instruments["grid"]
    assert str(grid.calibration_due) == "2026-01-31"
    station = {
        "instruments": {
            "grid": {"role": "grid_simulator", "identity": {"manufacturer": "Chroma", "model": "61845", "serial": "S1"},
                     "address": "TCPIP0::x", "calibration_due": "2026-01-31"},
            "analyzer": {"role": "power_analyzer", "identity": {"serial": "A9"}, "calibration_due": "2027-06-30"},
        },
    }  # fmt: skip
    (tmp_path / "station.json").write_text(json.dumps(station))
    (tmp_path / "run.json").write_text(json.dumps({"started": "2026-12-03T05:00:00"}))
    html = station_html(tmp_path)
    assert "Calibration due" in html and "2026-01-31 (lapsed before the run)" in html
    assert "2027-06-30" in html and "2027-06-30 (lapsed" not in html


def test_a_calibration_due_date_that_is_not_a_date_names_file_line_and_key(tmp_path):
    path, line = grid_with(tmp_path, 'calibration_due = "soon"')
    with pytest.raises(BenchError) as err:
        load_bench(path)
    assert str(err.value).startswith(f"{path}:{line}: instruments.grid.calibration_due: expected a date (2027-03-31)")


def test_the_declaration_is_a_table_of_its_values(tmp_path):
    path = tmp_path / "declaration.toml"
    path.write_text('[device]\nserial = "PCS-7"\n[declared]\nopen_loop_response_time_s = 5.0\nphases = 3\n')
    html = declaration_html(path)
    assert "<td>device.serial</td><td>PCS-7</td>" in html
    assert "<td>declared.open_loop_response_time_s</td><td>5.0</td>" in html and "[declared]" not in html


def test_criteria_and_findings_carry_no_timing_noise():
    t, y = np.array([0.0, 10.0]), np.array([1.0, 1.0])
    result = stays_at_or_below("X", t, y, start_s=5.0049, end_s=60.0491, limit=100.0, t_cmd_s=0.0001)
    assert "from 5 s to 60 s" in result.criterion
    assert bench_clock(1796232707.25) == "17:31:47.2"  # UTC time of day, to 0.1 s
