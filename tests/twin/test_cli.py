"""`flexbench envelope` on the command line: files, progress, one-line errors."""

from __future__ import annotations

import pytest

from flexbench.lab.cli import main
from flexbench.twin import EnvelopeSet


def test_variable_envelope_to_csv(tmp_path, capsys):
    out = tmp_path / "env.csv"
    code = main(
        [
            "envelope",
            "--feeder",
            "ieee13",
            "--kind",
            "variable",
            "--horizon",
            "6h",
            "--resolution",
            "1h",
            "--allocation",
            "proportional",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    env = EnvelopeSet.read(out)
    assert env.shape == (15, 6) and env.allocation == "proportional"
    captured = capsys.readouterr()
    assert "6/6 intervals" in captured.err and "wrote" in captured.out


def test_sites_dynamic_to_json(tmp_path):
    out = tmp_path / "env.json"
    assert main(["envelope", "--feeder", "ieee123", "--kind", "dynamic", "--sites", "s1a,s47", "--out", str(out)]) == 0
    env = EnvelopeSet.read(out)
    assert env.site_ids == ["s1a", "s47"] and env.intervals["duration_s"][0] == 900


@pytest.mark.parametrize(
    "args, message",
    [
        (["--feeder", "ieee12"], "unknown feeder 'ieee12' (did you mean"),
        (["--feeder", "ieee123", "--sites", "s1a,s99x"], "site 's99x' is not on feeder ieee123 (did you mean s99b?)"),
        (["--feeder", "ieee13", "--horizon", "3 weeks"], "duration '3 weeks' not understood"),
        (["--feeder", "ieee13", "--profiles", "/nowhere/ami.csv"], "/nowhere/ami.csv: file not found"),
    ],
)
def test_user_errors_are_one_line(tmp_path, capsys, args, message):
    code = main(["envelope", *args, "--out", str(tmp_path / "e.csv")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("flexbench envelope: ") and message in err[-1]
    assert not any("Traceback" in line for line in err)


def test_bad_output_suffix(tmp_path, capsys):
    assert main(["envelope", "--feeder", "ieee13", "--out", str(tmp_path / "e.xlsx")]) == 2
    assert ".csv, .parquet or .json" in capsys.readouterr().err
