"""Envelope files as both publish commands read them: one site's core Envelope, errors naming file, row and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flexbench.core import Interval, IntervalError, SiteLimits, read_envelope_file, read_envelopes

HEADER = "site,start,duration_s,import_limit_w,export_limit_w\n"


def test_csv_with_a_site_column_gives_each_site_its_envelope(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(
        HEADER + "a,2026-07-01T01:00:00Z,3600,10,20\nb,2026-07-01T00:00:00Z,3600,30,\na,2026-07-01T00:00:00Z,3600,1,2\n"
    )
    b = read_envelope_file(path, "b")
    assert (b.site_id, [(i.import_limit_w, i.export_limit_w) for i in b]) == ("b", [(30, None)])
    a = read_envelopes(path)["a"]
    assert [i.limits for i in a] == [
        SiteLimits(import_limit_w=1, export_limit_w=2),
        SiteLimits(import_limit_w=10, export_limit_w=20),
    ]
    with pytest.raises(IntervalError, match=r"e\.csv: holds 2 sites \(a, b\); choose one"):
        read_envelope_file(path)
    with pytest.raises(IntervalError, match=r"e\.csv: no site 'c' \(it holds a, b\)"):
        read_envelope_file(path, "c")
    assert read_envelope_file(path, default_site="a") == a  # the default applies when the file names it


def test_json_records_without_a_site_are_one_envelope(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text(
        json.dumps({"intervals": [{"start": 0, "duration_s": 60, "import_limit_w": 1, "export_limit_w": 2}]})
    )
    envelope = read_envelope_file(path, default_site="site-a")
    assert envelope.site_id == "site-a"
    assert list(envelope) == [Interval(start_s=0, duration_s=60, limits=SiteLimits(import_limit_w=1, export_limit_w=2))]


@pytest.mark.parametrize(
    "text, message",
    [
        (
            HEADER + "a,2026-07-01T00:00:00Z,3600,-5,1\n",
            r"e\.csv: line 2: import_limit_w must be a finite, non-negative",
        ),
        ("# made by hand\n" + HEADER + "a,,3600,5,1\n", r"e\.csv: line 3: start: missing"),
        (HEADER + "a,yesterday,3600,5,1\n", r"e\.csv: line 2: start 'yesterday' is neither"),
        (HEADER + "a,0,ten,5,1\n", r"e\.csv: line 2: duration_s must be a number"),
        ("site,start,duration_s,export_limit_w\n", r"e\.csv: line 1 \(header\): missing column\(s\) import_limit_w"),
        (HEADER + "a,0,60,1,1\na,30,60,1,1\n", r"e\.csv: site a: intervals 0 and 1 overlap"),
    ],
)
def test_bad_rows_name_the_file_the_line_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "e.csv"
    path.write_text(text)
    with pytest.raises(IntervalError, match=message):
        read_envelope_file(path, "a")


def test_missing_files_and_other_formats_are_refused(tmp_path: Path) -> None:
    with pytest.raises(IntervalError, match="no such envelope file"):
        read_envelope_file(tmp_path / "none.csv")
    (tmp_path / "e.txt").write_text("x")
    with pytest.raises(IntervalError, match=r"\.csv or \.json"):
        read_envelope_file(tmp_path / "e.txt")
    (tmp_path / "e.json").write_text("{")
    with pytest.raises(IntervalError, match="not JSON"):
        read_envelope_file(tmp_path / "e.json")


def test_negative_limits_are_refused_in_hand_files_and_read_as_zero_in_the_twins(tmp_path: Path) -> None:
    times = [{"start": "2026-07-01T00:00:00+00:00", "duration_s": 3600}]
    site = {
        "site_id": "671",
        "import_limit_w": [5.0],
        "export_limit_w": [-7.0],
        "firm_import_w": 4.0,
        "firm_export_w": 0,
    }
    path = tmp_path / "twin.json"
    path.write_text(json.dumps({"schema": "flexbench-envelope/1", "intervals": times, "sites": [site]}))
    envelope = read_envelope_file(path)
    assert envelope.firm == SiteLimits(import_limit_w=4, export_limit_w=0)
    assert envelope[0].limits == SiteLimits(import_limit_w=5, export_limit_w=0)
    path.write_text(json.dumps({"intervals": times, "sites": [site]}))
    with pytest.raises(IntervalError, match=r"twin\.json: site 671, interval 0: export_limit_w must be"):
        read_envelope_file(path)
