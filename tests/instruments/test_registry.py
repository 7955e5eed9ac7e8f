"""The explicit driver registry, the emulator table, and the layer rules of instruments/."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from flexbench.instruments import roles
from flexbench.instruments.emulators import EMULATORS
from flexbench.instruments.registry import DRIVERS, driver_class, list_drivers, models_by_role

INSTRUMENTS = Path(roles.__file__).resolve().parent
ALLOWED_THIRD_PARTY = {"pyvisa", "pyvisa_py", "pymodbus", "serial", "sunspec2", "numpy"}


# Every registered driver by its bench-file key, with its role.
EXPECTED = {
    "ametek-mx": "grid_simulator",
    "ametek-rs": "grid_simulator",
    "nhr-9410": "grid_simulator",
    "pacific-afx": "grid_simulator",
    "chroma-61845": "grid_simulator",
    "chroma-62000h": "pv_simulator",
    "chroma-63800": "ac_load",
    "hioki-pw3390": "power_analyzer",
    "keysight-e4360": "pv_simulator",
    "keysight-n8900": "pv_simulator",
    "modbus-meter": "meter",
    "modbus-pcs": "pcs",
    "yokogawa-wt1800": "power_analyzer",
    "yokogawa-wt3000": "power_analyzer",
    "yokogawa-wt5000": "power_analyzer",
    "zes-lmg": "power_analyzer",
    "sunspec-der": "der",
    "sunspec-meter": "meter",
}
MODBUS_DRIVERS = {"modbus-meter", "modbus-pcs", "sunspec-der", "sunspec-meter"}
OPTIONS = {"modbus-meter": {"map": "eastron-sdm630"}}
ROLE_CLASSES = {
    "grid_simulator": roles.GridSimulator,
    "power_analyzer": roles.PowerAnalyzer,
    "der": roles.DER,
    "pv_simulator": roles.PVSimulator,
    "ac_load": roles.ACLoad,
    "meter": roles.Meter,
    "pcs": roles.PowerControlSystem,
}


def test_registry_names_each_driver_by_its_bench_file_key():
    assert set(DRIVERS) == set(EXPECTED)
    for name, role in EXPECTED.items():
        assert driver_class(name).role == role


def test_unknown_driver_lists_the_known_names():
    with pytest.raises(KeyError) as info:
        driver_class("chroma-61512")
    message = str(info.value)
    assert "chroma-61512" in message and "chroma-61845" in message and "sunspec-der" in message


def test_models_by_role_for_the_instruments_list_command():
    grouped = models_by_role()
    assert set(grouped) == set(EXPECTED.values())
    rows = list_drivers()
    assert all(row.model and row.summary for row in rows)
    assert [r.name for r in grouped["grid_simulator"]] == sorted(
        n for n, r in EXPECTED.items() if r == "grid_simulator"
    )


def test_every_driver_has_an_emulator_and_implements_its_role():
    assert set(EMULATORS) == set(DRIVERS)
    for name, cls in DRIVERS.items():
        assert issubclass(cls, ROLE_CLASSES[cls.role])
        assert not getattr(cls, "__abstractmethods__", None), f"{name} leaves abstract methods"


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_drivers_construct_without_touching_the_network(name):
    address = "modbus+tcp://192.0.2.1:502/1" if name in MODBUS_DRIVERS else "TCPIP0::192.0.2.1::5025::SOCKET"
    driver = driver_class(name)(address, timeout_s=1.0, options=OPTIONS.get(name))
    assert driver.address == address and driver.timeout_s == 1.0


def _imports(path: Path) -> list[tuple[str, int]]:
    """Absolute module names a file imports (relative imports resolved against flexbench.instruments)."""
    tree = ast.parse(path.read_text(), str(path))
    package = ["flexbench", "instruments", *path.relative_to(INSTRUMENTS).parent.parts]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((module, node.lineno))
    return found


def test_instruments_import_only_the_stdlib_and_instrument_libraries():
    for path in INSTRUMENTS.rglob("*.py"):
        for module, line in _imports(path):
            top = module.split(".")[0]
            where = f"{path.relative_to(INSTRUMENTS)}:{line} imports {module}"
            if top == "flexbench":  # its own package, and core's shared vocabulary (limits, schedules)
                assert module.startswith(("flexbench.instruments", "flexbench.core")), where
            else:
                assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY or top == "__future__", where


def test_drivers_never_import_emulators():
    for path in (INSTRUMENTS / "drivers").glob("*.py"):
        for module, line in _imports(path):
            assert ".emulators" not in module, f"{path.name}:{line} imports {module}"
    for path in (INSTRUMENTS / "transports").glob("*.py"):
        for module, line in _imports(path):
            assert ".emulators" not in module, f"{path.name}:{line} imports {module}"
