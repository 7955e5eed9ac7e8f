"""`flexbench instruments list | probe BENCH` with every role of the driver library."""

from __future__ import annotations

import argparse

import pytest

from flexbench.instruments.emulators import (
    AmetekMXEmulator,
    Chroma62000HEmulator,
    Chroma63800Emulator,
    ModbusMeterEmulator,
    SunSpecDEREmulator,
    SunSpecMeterEmulator,
    ZesLMGEmulator,
)
from flexbench.instruments.registry import DRIVERS
from flexbench.lab.commands.instruments import list_models, probe_bench


def test_list_shows_every_model_by_role(capsys):
    assert list_models(argparse.Namespace()) == 0
    out = capsys.readouterr().out
    for name, cls in DRIVERS.items():
        row = next(line for line in out.splitlines() if f" {name} " in f" {line} ")
        assert row.startswith(cls.role)


@pytest.fixture
def bench_file(tmp_path):
    emulators = {
        "grid": (
            AmetekMXEmulator(),
            "grid_simulator",
            "ametek-mx",
            "[instruments.grid.safety]\nvoltage_max_v = 300.0\n",
        ),
        "pv": (
            Chroma62000HEmulator(),
            "pv_simulator",
            "chroma-62000h",
            "[instruments.pv.safety]\npower_max_w = 9000.0\n",
        ),
        "load": (Chroma63800Emulator(), "ac_load", "chroma-63800", "without_safety_limits = true\n"),
        "pcc_meter": (
            ModbusMeterEmulator("carlo-gavazzi-em24", link="rtu", values={"serial_number": "EM24-77"}),
            "meter",
            "modbus-meter",
            '[instruments.pcc_meter.options]\nmap = "carlo-gavazzi-em24"\n',
        ),
        "sunspec_meter": (SunSpecMeterEmulator(203), "meter", "sunspec-meter", ""),
        "analyzer": (ZesLMGEmulator(), "power_analyzer", "zes-lmg", ""),
        "dut": (SunSpecDEREmulator(models=(1, 103, 120, 121, 123)), "der", "sunspec-der", ""),
    }
    lines = ['[bench]\nname = "every-role"\n']
    for name, (emulator, role, driver, extra) in emulators.items():
        emulator.start()
        lines.append(
            f'[instruments.{name}]\nrole = "{role}"\ndriver = "{driver}"\naddress = "{emulator.address}"\n'
            f"timeout_s = 1.0\n{extra}"
        )
    path = tmp_path / "bench.toml"
    path.write_text("\n".join(lines))
    yield path, emulators
    for emulator, *_ in emulators.values():
        emulator.stop()


def test_probe_connects_to_every_role_and_prints_identity_and_state(bench_file, capsys):
    path, emulators = bench_file
    assert probe_bench(argparse.Namespace(bench=str(path))) == 0
    out = capsys.readouterr().out
    assert "bench: every-role" in out
    for name, identity in (
        ("grid", "AMETEK Programmable Power MX45-3Pi"),
        ("pv", "Chroma ATE 62150H-1000S"),
        ("load", "Chroma ATE 63803"),
        ("pcc_meter", "Carlo Gavazzi EM24 DIN"),
        ("sunspec_meter", "flexbench Virtual meter"),
        ("analyzer", "ZES ZIMMER LMG670"),
        ("dut", "flexbench Virtual DER"),
    ):
        row = next(line for line in out.splitlines() if line.startswith(name + " "))
        assert identity in row, row
    assert "EM24-77" in out and "open_circuit_voltage_v=900.0" in out


def test_probe_reports_every_instrument_in_one_table_reachable_or_not(bench_file, capsys):
    path, emulators = bench_file
    load = emulators["load"][0]
    load.responding = False  # hung: it never answers
    emulators["analyzer"][0].stop()  # gone: its connection is refused
    assert probe_bench(argparse.Namespace(bench=str(path))) == 1
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[3:] if line and not line.startswith("not answering")}
    assert set(rows) == set(emulators)  # the ones after a failure are probed all the same
    assert "UNREACHABLE" in rows["load"] and "timed out" in rows["load"] and load.address in rows["load"]
    assert "UNREACHABLE" in rows["analyzer"]
    assert "AMETEK Programmable Power MX45-3Pi" in rows["grid"] and "flexbench Virtual DER" in rows["dut"]
    assert out.strip().splitlines()[-1] == "not answering: load, analyzer"
