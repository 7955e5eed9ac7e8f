"""Regulator and capacitor state as an input: the model file's, a measured state file's, or a named policy."""

from __future__ import annotations

import numpy as np
import opendssdirect as odd
import pytest

from flexbench.lab.cli import main
from flexbench.twin import ControlStateError, EnvelopeSet, Twin, compute_envelope, resolve_feeder

START = "2025-07-14T17:00:00Z"
STATE = "element,state\nregcontrol.reg1,8\nRegControl.Reg2,5\ntransformer.reg3,-3\ncapacitor.cap1,open\n"


@pytest.fixture(scope="module")
def twin() -> Twin:
    return Twin.from_name("ieee13")  # its own: these tests change its control policy


@pytest.fixture
def state_file(tmp_path):
    path = tmp_path / "scada.csv"
    path.write_text(STATE)
    return path


def _envelope(twin: Twin, controls) -> EnvelopeSet:
    return compute_envelope(twin, "variable", start=START, horizon="3h", controls=controls)


def _file_taps() -> tuple[list[int], list[int]]:
    """Tap step numbers and capacitor states of the model file, read by plain OpenDSS before any solve."""
    dss = odd.NewContext()
    dss.Basic.AllowChangeDir(False)
    dss.Text.Command(f'redirect "{resolve_feeder("ieee13").master}"')
    taps, caps = [], []
    i = dss.RegControls.First()
    while i:
        taps.append(int(dss.RegControls.TapNumber()))
        i = dss.RegControls.Next()
    i = dss.Capacitors.First()
    while i:
        caps.extend(int(s) for s in dss.Capacitors.States())
        i = dss.Capacitors.Next()
    return taps, caps


def test_the_file_state_and_a_state_file_give_the_stated_taps(twin, state_file):
    from_file = _envelope(twin, "file")
    assert twin.engine.control_state() == tuple(tuple(x) for x in _file_taps())
    assert "model file's taps" in from_file.regulator_policy
    measured = _envelope(twin, state_file)
    taps, caps = twin.engine.control_state()
    assert taps == (8, 5, -3) and caps == (0, _file_taps()[1][1])  # Cap2 as in the model file
    assert "regcontrol.reg1=8 regcontrol.reg2=5 transformer.reg3=-3" in measured.regulator_policy
    assert "capacitor.cap1=0" in measured.regulator_policy and str(state_file) in measured.regulator_policy
    assert not np.allclose(from_file.import_limit_w, measured.import_limit_w)


@pytest.mark.parametrize("controls", ["settle-half-load", "settle-file", "file", "state file"])
def test_the_same_inputs_give_the_same_envelope_whatever_ran_before(twin, state_file, controls):
    controls = state_file if controls == "state file" else controls
    first = _envelope(twin, controls)
    taps = twin.engine.control_state()
    # another policy in between leaves the feeder elsewhere
    _envelope(twin, "settle-file" if controls != "settle-file" else state_file)
    again = _envelope(twin, controls)
    assert twin.engine.control_state() == taps
    # the same taps and capacitors: the same limits, to the last bit (each interval block starts from a
    # freshly built admittance matrix and its direct solution, not from what the twin solved before)
    for name in ("import_limit_w", "export_limit_w"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name), err_msg=name)
    for name in ("binding_import", "binding_export"):
        assert np.array_equal(getattr(first, name), getattr(again, name)), name
    assert first.regulator_policy == again.regulator_policy


def test_the_policies_settle_from_different_starts(twin):
    half, file = _envelope(twin, None), _envelope(twin, "settle-file")
    assert "half of peak load" in half.regulator_policy and "model file's state" in file.regulator_policy


@pytest.mark.parametrize(
    "text, message",
    [
        ("element,state\nregcontrol.reg9,3\n", r"scada.csv: regcontrol.reg9 is no regulator of ieee13 \(did you mean"),
        ("element,state\nregcontrol.reg1,up\n", r"scada.csv:2: regcontrol.reg1: the tap position is a whole step"),
        ("element,state\nregcontrol.reg1,40\n", r"scada.csv: regcontrol.reg1: tap 40 is beyond \+-16 steps"),
        ("element,state\ncapacitor.cap1,half\n", r"scada.csv:2: capacitor.cap1: the state is open, closed or 0/1"),
        ("element,state\ncapacitor.cap1,1 0\n", r"scada.csv: capacitor.cap1: 1 steps in the model, 2 in the file"),
        ("element,state\nline.x,1\n", r"scada.csv:2: 'line.x': name a regcontrol.NAME"),
        ("name,tap\nreg1,3\n", r"scada.csv:1: the header must be 'element,state'"),
        ("element,state\n", r"scada.csv: names no regulator or capacitor"),
    ],
)
def test_a_bad_state_file_is_a_one_line_error(twin, tmp_path, text, message):
    path = tmp_path / "scada.csv"
    path.write_text(text)
    with pytest.raises(ControlStateError, match=message):
        _envelope(twin, path)


def test_the_command_line_takes_a_policy_or_a_state_file(tmp_path, state_file, capsys):
    out = tmp_path / "env.csv"
    args = ["envelope", "--feeder", "ieee13", "--horizon", "2h", "--out", str(out)]
    assert main([*args, "--regulators", str(state_file)]) == 0
    header = dict(line[2:].split(": ", 1) for line in out.read_text().splitlines() if line.startswith("# "))
    assert "regcontrol.reg1=8" in header["regulator_policy"]
    assert main([*args, "--regulators", "file"]) == 0
    assert "model file's taps" in EnvelopeSet.read(out).regulator_policy
    capsys.readouterr()
    assert main([*args, "--regulators", str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "missing.csv: no such state file" in err[-1] and not any("Traceback" in line for line in err)
