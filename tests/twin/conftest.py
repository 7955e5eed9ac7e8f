"""Shared twins and small feeders for the twin tests (built once per test run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flexbench.twin import Twin

LINE_FEEDER = """Clear
New Circuit.{name} basekv=12.47 pu=1.0 phases=3 bus1=src MVAsc3=200000 MVAsc1=200000
New Line.l1 bus1=src bus2=b1 phases=3 r1=0.3 x1=0.6 r0=0.9 x0=1.8 length={length_km} units=km normamps={amps}
New Load.site bus1=b1 phases=3 kv=12.47 kW=500 pf=1 model=1
Set voltagebases=[12.47]
calcv
"""


@pytest.fixture(scope="session")
def ieee13() -> Twin:
    return Twin.from_name("ieee13")


@pytest.fixture(scope="session")
def ieee123() -> Twin:
    return Twin.from_name("ieee123")


@pytest.fixture(scope="session")
def ieee8500() -> Twin:
    return Twin.from_name("ieee8500")


def write_line_feeder(folder: Path, name: str, length_km: float, amps: float) -> Path:
    """One 12.47 kV line feeding one site: long and strong (voltage-bound) or short and
    weak (thermal-bound)."""
    path = folder / f"{name}.dss"
    path.write_text(LINE_FEEDER.format(name=name, length_km=length_km, amps=amps))
    return path
