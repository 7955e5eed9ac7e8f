import subprocess
import sys
from pathlib import Path

import pytest

from flexbench.lab.bench_config import BenchError, default_bench_path, load_bench

GOOD = """\
[bench]
name = "lab-a"

[instruments.grid]
role = "grid_simulator"
driver = "chroma-61845"
address = "TCPIP0::127.0.0.1::5025::SOCKET"
[instruments.grid.safety]
voltage_max_v = 264.0

[instruments.dut]
role = "der"
driver = "sunspec-der"
address = "modbus+tcp://127.0.0.1:502/1"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bench.toml"
    path.write_text(text)
    return path


def test_embedded_virtual_bench_is_valid():
    config = load_bench(None)
    assert config.path == default_bench_path()
    assert {i.role for i in config.instruments.values()} == {"grid_simulator", "power_analyzer", "der"}
    assert config.virtual is not None
    assert config.instruments["analyzer"].measures == {"dut": 1, "pcc": 2}


def test_a_real_bench_file_loads_with_its_safety_limits(tmp_path):
    config = load_bench(write(tmp_path, GOOD))
    grid = config.instruments["grid"]
    assert grid.safety.voltage_max_v == 264.0
    assert "bench.toml" in grid.safety.source and "instruments.grid.safety" in grid.safety.source


@pytest.mark.parametrize(
    "old, new, key, reason",
    [
        (
            'address = "TCPIP0::127.0.0.1::5025::SOCKET"',
            'adress = "TCPIP0::127.0.0.1::5025::SOCKET"',
            "adress",
            "did you mean 'address'",
        ),
        ("voltage_max_v = 264.0", 'voltage_max_v = "high"', "voltage_max_v", "expected a number"),
        (
            'address = "modbus+tcp://127.0.0.1:502/1"',
            'address = "modbus+tcp://127.0.0.1:port/1"',
            "address",
            "invalid address",
        ),
        ('driver = "chroma-61845"', 'driver = "chroma-61854"', "driver", "did you mean 'chroma-61845'"),
        ('role = "der"', 'role = "inverter"', "role", "unknown role"),
        ('driver = "sunspec-der"', 'driver = "chroma-61845"', "driver", "is a grid_simulator, not a der"),
        ("voltage_max_v = 264.0", "volts_max = 264.0", "volts_max", "unknown key"),
    ],
)
def test_bad_bench_file_names_file_line_and_key(tmp_path, old, new, key, reason):
    text = GOOD.replace(old, new, 1)
    assert text != GOOD
    path = write(tmp_path, text)
    with pytest.raises(BenchError) as err:
        load_bench(path)
    message = str(err.value)
    line = GOOD[: GOOD.index(old)].count("\n") + 1
    assert f"{path}:{line}:" in message
    assert key in message and reason in message


def test_toml_syntax_error_and_missing_file_name_the_file(tmp_path):
    path = write(tmp_path, "[bench\nname = 1")
    with pytest.raises(BenchError, match=str(path)):
        load_bench(path)
    with pytest.raises(BenchError, match="not found"):
        load_bench(tmp_path / "nope.toml")


def test_virtual_address_needs_a_virtual_table(tmp_path):
    path = write(tmp_path, GOOD.replace('address = "modbus+tcp://127.0.0.1:502/1"', 'address = "virtual"'))
    with pytest.raises(BenchError, match="virtual"):
        load_bench(path)


def test_cli_reports_a_bad_bench_in_one_line_without_traceback(tmp_path):
    path = write(tmp_path, GOOD.replace("driver = ", "drivr = ", 1))
    proc = subprocess.run(
        [sys.executable, "-m", "flexbench.lab.cli", "run", "testplans/ieee1547", "--bench", str(path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "drivr" in lines[0] and str(path) in lines[0]


BENCHES = Path(__file__).resolve().parents[2] / "lab" / "benches"


@pytest.mark.parametrize("name", sorted(p.name for p in BENCHES.glob("*.toml")))
def test_every_shipped_bench_file_loads(name):
    assert load_bench(BENCHES / name).instruments


@pytest.mark.parametrize(
    "bench, old, new, at, key, reason",
    [
        ("virtual.toml", "[virtual.plant]", '[virtual]\nsite = "pv"\n[virtual.plant]', 'site = "pv"', "virtual.site", "unknown site 'pv'"),
        ("virtual.toml", 'serial = "VDUT-0001"', "serial = 1", "serial = 1", "virtual.dut.serial", "expected a string, got an integer 1"),
        ("virtual-pcs.toml", 'battery = "battery"', 'battery = "batt"', 'battery = "batt"', "virtual.connections.battery", "'batt' names no instrument"),
        ("virtual-pcs.toml", "sensor_timeout_s = 2.0", "sensor_timeout = 2.0", "sensor_timeout = 2.0", "virtual.pcs.sensor_timeout", "did you mean 'sensor_timeout_s'"),
        ("virtual-controller.toml", "phases = 3", "phases = 3.0", "phases = 3.0", "virtual.plant.phases", "expected an integer, got a number 3.0"),
        ("virtual-controller.toml", "unit_id = 1", "unit_id = 300", "unit_id = 300", "virtual.site_devices.pv1.unit_id", "must be <= 247"),
        ("virtual-controller.toml", "rated_w = 6000.0", "rated_w = 6000.0\ntransport = 'udp'", "transport = 'udp'", "virtual.site_devices.pv1.transport", "must be one of 'tcp' or 'rtu'"),
    ],
)  # fmt: skip
def test_a_bad_virtual_table_names_file_line_and_key(tmp_path, bench, old, new, at, key, reason):
    text = (BENCHES / bench).read_text()
    assert old in text
    text = text.replace(old, new, 1)
    path = write(tmp_path, text)
    line = text[: text.index(at)].count("\n") + 1
    with pytest.raises(BenchError) as err:
        load_bench(path)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: {key}: ") and reason in message and "\n" not in message, message


# -- a lab's own driver, named by where it lives ---------------------------------------------------

LAB_METER = '''\
"""A lab's meter: a new model of a role flexbench has."""
from flexbench.instruments.roles import Identity, Meter, MeterReading


class LabMeter(Meter):
    model = "Lab meter"

    def connect(self): ...
    def close(self): ...
    def identity(self): return Identity("Lab", "M-1", "7", "0.1")
    def snapshot(self): return {}
    def read(self): return MeterReading((), 1500.0, 0.0, 230.0, 6.5, 50.0, 0.0, 0.0)


class HalfMeter(Meter):
    model = "Half meter"

    def connect(self): ...


NOT_A_DRIVER = 42
'''

OWN = """\
[instruments.site_meter]
driver = "{driver}"
address = "modbus+tcp://127.0.0.1:502/1"
{extra}"""


def own_bench(tmp_path: Path, driver: str, extra: str = "") -> Path:
    (tmp_path / "lab_meter.py").write_text(LAB_METER)
    return write(tmp_path, OWN.format(driver=driver, extra=extra))


def test_a_lab_driver_in_a_file_beside_the_bench_file_takes_its_role_from_the_class(tmp_path):
    config = load_bench(own_bench(tmp_path, "lab_meter.py:LabMeter"))
    meter = config.instruments["site_meter"]
    assert meter.role == "meter" and meter.driver == "lab_meter.py:LabMeter"
    config = load_bench(own_bench(tmp_path, "lab_meter.py:LabMeter", 'role = "meter"\n'))
    assert config.instruments["site_meter"].role == "meter"


def test_a_lab_driver_from_an_importable_module(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    config = load_bench(own_bench(tmp_path, "lab_meter:LabMeter"))
    assert config.instruments["site_meter"].role == "meter"


@pytest.mark.parametrize(
    "driver, extra, key, reason",
    [
        ("lab_meter.py:LabMeter", 'role = "der"\n', "role", "is a meter, not a der"),
        ("lab_meter.py:HalfMeter", "", "driver", "does not implement close, identity, read, snapshot"),
        ("lab_meter.py:NOT_A_DRIVER", "", "driver", "is not a driver"),
        ("lab_meter.py:Missing", "", "driver", "has no 'Missing'"),
        ("no_such_file.py:LabMeter", "", "driver", "no driver file"),
        ("no_such_module_anywhere:LabMeter", "", "driver", "cannot import no_such_module_anywhere"),
    ],
)
def test_a_lab_driver_that_cannot_be_used_is_the_bench_files_error_with_its_line(tmp_path, driver, extra, key, reason):
    path = own_bench(tmp_path, driver, extra)
    with pytest.raises(BenchError) as err:
        load_bench(path)
    message = str(err.value)
    line = 4 if key == "role" else 2
    assert message.startswith(f"{path}:{line}: instruments.site_meter.{key}: ") and reason in message, message


PV = """
[instruments.pv]
role = "pv_simulator"
driver = "chroma-62000h"
address = "TCPIP0::127.0.0.1::5026::SOCKET"
"""


def test_a_real_energy_source_without_safety_limits_is_refused_unless_stated(tmp_path):
    path = write(tmp_path, GOOD + PV)
    with pytest.raises(BenchError) as err:
        load_bench(path)
    line = (GOOD + PV).splitlines().index("[instruments.pv]") + 1
    assert f"{path}:{line}: [instruments.pv]" in str(err.value) and "needs its safety limits" in str(err.value)
    no_grid_limits = GOOD.replace("[instruments.grid.safety]\nvoltage_max_v = 264.0\n", "")
    with pytest.raises(BenchError, match=r"\[instruments.grid\].*a grid_simulator on a real bench"):
        load_bench(write(tmp_path, no_grid_limits))
    stated = load_bench(write(tmp_path, GOOD + PV + "without_safety_limits = true\n"))
    assert stated.instruments["pv"].safety.power_max_w is None
    both = GOOD.replace("[instruments.grid.safety]", "without_safety_limits = true\n[instruments.grid.safety]")
    assert both != GOOD
    with pytest.raises(BenchError, match="without_safety_limits: contradicts"):
        load_bench(write(tmp_path, both))
