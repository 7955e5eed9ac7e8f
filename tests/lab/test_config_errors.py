"""A typo, a wrong type and a missing key stop `flexbench run` / `flexbench cosim run` before any test.

Each mistake is one line naming the file, the line and the dotted key, the
command exits with a configuration error (2), and nothing ran: no run folder,
so no test rows and no virtual DUT started.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flexbench.lab.cli import main
from flexbench.lab.config_errors import Locator, Table, load_toml, validate
from flexbench.lab.errors import UserError
from flexbench.lab.results import TESTS_FILE

ROOT = Path(__file__).resolve().parents[2]
DECLARATION = ROOT / "testplans/declarations/virtual-pcs.toml"
PCS_BENCH = ROOT / "lab/benches/virtual-pcs.toml"
INVERTER_BENCH = ROOT / "lab/benches/virtual.toml"
CONTROLLER_BENCH = ROOT / "lab/benches/virtual-controller.toml"
PHIL_BENCH = ROOT / "lab/benches/virtual-phil.toml"
CONFIGURATION_ERROR = 2


def edited(tmp_path: Path, source: Path, old: str, new: str, line_of: str | None = None) -> tuple[Path, int]:
    """`source` with `old` replaced by `new`, and the line the error must name (of `line_of`, default `new`)."""
    text = source.read_text()
    assert old in text, old
    text = text.replace(old, new, 1)
    path = tmp_path / source.name
    path.write_text(text)
    return path, text[: text.index(line_of or new)].count("\n") + 1


def stopped_with(capsys: pytest.CaptureFixture[str], argv: list[str], run_dir: Path) -> str:
    """Runs the command line; asserts a configuration error before anything ran; returns its one line."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == CONFIGURATION_ERROR, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert not run_dir.exists() and not (run_dir / TESTS_FILE).exists()  # no test ran, no DUT started
    return lines[0]


@pytest.mark.parametrize(
    ("old", "new", "key", "reason"),
    [
        ("serial = ", "serail = ", "device.serail", "unknown key (did you mean 'serial'?)"),
        (
            "fail_safe_time_s = 10.0",
            'fail_safe_time_s = "10 s"',
            "declared.fail_safe_time_s",
            "expected a number, got a string '10 s'",
        ),
        ("open_loop_response_time_s = 5.0\n", "", "declared.open_loop_response_time_s", "missing"),
    ],
    ids=["typo", "wrong-type", "missing-key"],
)
def test_a_bad_declaration_stops_flexbench_run(tmp_path, capsys, old, new, key, reason) -> None:
    line_of = "[declared]" if reason == "missing" else None
    path, line = edited(tmp_path, DECLARATION, old, new, line_of)
    out = tmp_path / "run"
    argv = [
        "run",
        str(ROOT / "testplans/ul3141"),
        "--bench",
        str(PCS_BENCH),
        "--declaration",
        str(path),
        "--out",
        str(out),
    ]
    message = stopped_with(capsys, argv, out)
    assert message == f"flexbench run: {path}:{line}: {key}: {reason}"


@pytest.mark.parametrize(
    ("bench", "old", "new", "line_of", "key", "reason"),
    [
        (INVERTER_BENCH, "time_constant_s = 1.5", "time_constnt_s = 1.5", None, "virtual.dut.time_constnt_s", "unknown key (did you mean 'time_constant_s'?)"),
        (PCS_BENCH, 'ev = "ev"', 'evse = "ev"', None, "virtual.connections.evse", "unknown key (did you mean 'ev'?)"),
        (INVERTER_BENCH, "local_load_w = 2000.0", 'local_load_w = "2 kW"', None, "virtual.plant.local_load_w", "expected a number, got a string '2 kW'"),
        (CONTROLLER_BENCH, "unit_id = 1", 'unit_id = "1"', None, "virtual.site_devices.pv1.unit_id", "expected an integer, got a string '1'"),
        (CONTROLLER_BENCH, 'kind = "pv"\n', "", "[virtual.site_devices.pv1]", "virtual.site_devices.pv1.kind", "missing"),
    ],
    ids=["typo", "typo-connections", "wrong-type", "wrong-type-device", "missing-key"],
)  # fmt: skip
def test_a_bad_virtual_table_stops_flexbench_run(tmp_path, capsys, bench, old, new, line_of, key, reason) -> None:
    path, line = edited(tmp_path, bench, old, new, line_of)
    out = tmp_path / "run"
    message = stopped_with(
        capsys, ["run", str(ROOT / "testplans/ieee1547"), "--bench", str(path), "--out", str(out)], out
    )
    assert message == f"flexbench run: {path}:{line}: {key}: {reason}"


@pytest.mark.parametrize(
    ("old", "new", "line_of", "key", "reason"),
    [
        ("power_scale = 10.0", "power_scal = 10.0", None, "cosim.power_scal", "unknown key (did you mean 'power_scale'?)"),
        ("max_ramp_v_per_s = 100.0", "max_ramp_v_per_s = [100.0]", None, "cosim.guard.max_ramp_v_per_s", "expected a number, got a list [100.0]"),
        ('bus = "48"', 'bus = 48', None, "cosim.bus", "expected a string, got an integer 48"),
        ('bus = "48"                      # a three-phase customer bus\n', "", "[cosim]\n", "cosim.bus", "missing"),
    ],
    ids=["typo", "wrong-type", "wrong-type-bus", "missing-key"],
)  # fmt: skip
def test_a_bad_cosim_table_stops_flexbench_cosim_run(tmp_path, capsys, old, new, line_of, key, reason) -> None:
    path, line = edited(tmp_path, PHIL_BENCH, old, new, line_of)
    out = tmp_path / "run"
    message = stopped_with(capsys, ["cosim", "run", "--bench", str(path), "--duration", "1", "--out", str(out)], out)
    assert message == f"flexbench cosim: {path}:{line}: {key}: {reason}"


def test_a_plans_declaration_is_checked_when_pytest_collects_the_plans(tmp_path) -> None:
    """Run by pytest itself: a bad declaration is a usage error at collection, before any test."""
    path, line = edited(tmp_path, DECLARATION, "phases = 3", "phases = 3.0")
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "testplans/ul3141", "-p", "no:cacheprovider", "-q"]
        + ["--bench", str(PCS_BENCH), "--declaration", str(path), "--run-dir", str(run_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert f"{path}:{line}: ratings.phases: expected an integer, got a number 3.0" in proc.stderr
    assert not (run_dir / TESTS_FILE).exists()


class _Point(Table):
    x_m: float
    label: str = ""


class _File(Table):
    points: dict[str, _Point]
    scale: float = 1.0


def test_validate_names_the_line_of_each_kind_of_mistake(tmp_path) -> None:
    path = tmp_path / "f.toml"
    path.write_text("scale = 2\n\n[points.a]\nx_m = 1.0\n\n[points.b]\nlabel = 'b'\nx_mm = 2\n")
    data, locate = load_toml(path)
    with pytest.raises(UserError) as err:
        validate(_File, data, locate)
    assert str(err.value) == f"{path}:8: points.b.x_mm: unknown key (did you mean 'x_m'?)"
    path.write_text("[points.a]\nx_m = 'one'\n")
    with pytest.raises(UserError, match=rf"^{path}:2: points.a.x_m: expected a number, got a string 'one'$"):
        validate(_File, *load_toml(path))
    path.write_text("[points.a]\nlabel = 'a'\n")
    with pytest.raises(UserError, match=rf"^{path}:1: points.a.x_m: missing$"):
        validate(_File, *load_toml(path))
    assert validate(_File, {"points": {}}, Locator(path, [])).scale == 1.0
