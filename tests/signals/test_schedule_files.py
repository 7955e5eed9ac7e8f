"""Schedule files a PCS is configured with: static (month x hour) and variable, read, written, refused."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from flexbench.core import Envelope, Interval, IntervalError, SiteLimits
from flexbench.core.schedule_files import read_schedule, write_schedule
from flexbench.core.schedules import StaticSchedule

UTC = dt.UTC


def letter_rows(export_w=lambda m, h: 1000 * m + 10 * h, import_w=lambda m, h: 20_000 + h) -> list[str]:
    return [f"{m},{h},{import_w(m, h)},{export_w(m, h)}" for m in range(1, 13) for h in range(24)]


def write_letter(path: Path, rows: list[str], header: str = "month,hour,import_limit_w,export_limit_w") -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def epoch(*args: int) -> float:
    return dt.datetime(*args, tzinfo=UTC).timestamp()


def test_a_load_limit_letter_as_month_hour_rows_gives_each_cell_by_the_clock(tmp_path: Path) -> None:
    schedule = read_schedule(write_letter(tmp_path / "letter.csv", letter_rows()))
    assert isinstance(schedule, StaticSchedule)
    assert schedule.cell(2, 0) == SiteLimits(import_limit_w=20_000, export_limit_w=2000)
    assert schedule.at(epoch(2027, 1, 31, 23, 59, 59)) == SiteLimits(import_limit_w=20_023, export_limit_w=1230)
    assert schedule.at(epoch(2027, 2, 1, 0, 0, 0)) == SiteLimits(import_limit_w=20_000, export_limit_w=2000)
    assert schedule.at(epoch(2028, 12, 31, 23, 0, 0)).export_limit_w == 12_230  # every year alike


def test_a_blank_cell_leaves_that_side_to_the_firm_limits(tmp_path: Path) -> None:
    rows = letter_rows()
    rows[0] = "1,0,,500"  # January, 00h: no import limit in the letter
    path = write_letter(
        tmp_path / "lgp.csv",
        [r + ",9000,400" for r in rows],
        header="month,hour,import_limit_w,export_limit_w,firm_import_w,firm_export_w",
    )
    schedule = read_schedule(path)
    assert schedule.firm == SiteLimits(import_limit_w=9000, export_limit_w=400)
    assert schedule.at(epoch(2027, 1, 5, 0, 30)) == SiteLimits(import_limit_w=9000, export_limit_w=500)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda rows: rows[:-1], r"missing Dec 23h"),
        (lambda rows: [*rows, "3,4,1,1"], r"line 290: Mar 04h given twice \(first at line 54\)"),
        (lambda rows: ["13,0,1,1", *rows[1:]], r"line 2: month: expected 1 to 12, got '13'"),
        (lambda rows: ["1,0.5,1,1", *rows[1:]], r"line 2: hour: expected 0 to 23, got '0.5'"),
        (lambda rows: ["1,0,1,-5", *rows[1:]], r"line 2: export_limit_w must be a finite, non-negative"),
        (lambda rows: ["1,0,1,lots", *rows[1:]], r"line 2: export_limit_w must be a number of watts, got 'lots'"),
    ],
)
def test_a_bad_letter_is_refused_naming_file_row_and_column(tmp_path: Path, edit, message) -> None:
    path = write_letter(tmp_path / "bad.csv", edit(letter_rows()))
    with pytest.raises(IntervalError, match=r"bad\.csv: .*" + message):
        read_schedule(path)


def test_a_header_without_month_or_start_names_the_missing_columns(tmp_path: Path) -> None:
    path = write_letter(tmp_path / "h.csv", ["1,1,1"], header="hour,import_limit_w,export_limit_w")
    with pytest.raises(IntervalError, match=r"h\.csv: line 1 \(header\): missing column\(s\) month$"):
        read_schedule(path)
    path = write_letter(tmp_path / "v.csv", ["0,1,1"], header="start,import_limit_w,export_limit_w")
    with pytest.raises(IntervalError, match=r"v\.csv: line 1 \(header\): missing column\(s\) duration_s$"):
        read_schedule(path)


@pytest.mark.parametrize(
    "rows, message",
    [
        (",3600,1,0,1,1\n0,60,0,-1,1,1", r"line 3: start: a static schedule's rows give month and hour"),
        ("0,60,0,-1,1,1\n,3600,1,0,1,1", r"line 3: month: a variable schedule's rows give a start"),
    ],
)
def test_a_file_mixing_cells_and_intervals_is_refused(tmp_path: Path, rows: str, message: str) -> None:
    path = write_letter(
        tmp_path / "mixed.csv", [rows], header="start,duration_s,month,hour,import_limit_w,export_limit_w"
    )
    with pytest.raises(IntervalError, match=r"mixed\.csv: " + message):
        read_schedule(path)


def test_a_variable_schedule_is_an_envelope_and_gives_its_firm_limits_once_it_runs_out(tmp_path: Path) -> None:
    path = tmp_path / "var.csv"
    path.write_text(
        "start,duration_s,import_limit_w,export_limit_w,firm_import_w,firm_export_w\n"
        "2027-03-01T10:00:00Z,900,5000,2500,4000,1500\n2027-03-01T10:15:00Z,900,6000,3500,,\n"
    )
    schedule = read_schedule(path)
    assert isinstance(schedule, Envelope)
    assert schedule.at(epoch(2027, 3, 1, 10, 20)) == SiteLimits(import_limit_w=6000, export_limit_w=3500)
    assert schedule.at(epoch(2027, 3, 1, 10, 30)) == SiteLimits(import_limit_w=4000, export_limit_w=1500)


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_what_write_schedule_writes_reads_back_the_same(tmp_path: Path, suffix: str) -> None:
    table = {
        (m, h): SiteLimits(import_limit_w=100.0 * h, export_limit_w=None if h == 3 else m)
        for m in range(1, 13)
        for h in range(24)
    }
    static = StaticSchedule.of(table, firm=SiteLimits(export_limit_w=0.0))
    assert read_schedule(write_schedule(tmp_path / f"s{suffix}", static)) == static
    variable = Envelope(
        intervals=(
            Interval(start_s=epoch(2027, 1, 31, 23, 0), duration_s=3600, limits=SiteLimits(export_limit_w=7.0)),
        ),
        firm=SiteLimits(import_limit_w=1.0, export_limit_w=2.0),
    )
    assert read_schedule(write_schedule(tmp_path / f"v{suffix}", variable)) == variable


def test_the_twins_static_json_loads_with_negative_limits_as_zero(tmp_path: Path) -> None:
    intervals = [{"start": None, "duration_s": 3600, "month": m, "hour": h} for m in range(1, 13) for h in range(24)]
    data = {
        "schema": "flexbench-envelope/1",
        "kind": "static",
        "intervals": intervals,
        "sites": [
            {
                "site_id": "671",
                "firm_import_w": 10.0,
                "firm_export_w": 0.0,
                "import_limit_w": [50.0] * 288,
                "export_limit_w": [-20.0] + [30.0] * 287,
            }
        ],
    }
    path = tmp_path / "static.json"
    path.write_text(json.dumps(data))
    schedule = read_schedule(path)
    assert isinstance(schedule, StaticSchedule) and schedule.site_id == "671"
    assert schedule.cell(1, 0) == SiteLimits(import_limit_w=50.0, export_limit_w=0.0)
    assert schedule.cell(1, 1).export_limit_w == 30.0
