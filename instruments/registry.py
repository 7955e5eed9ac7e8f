"""The explicit registry of drivers: bench files name a driver by its key here.

Adding a driver means adding one line to DRIVERS; nothing is discovered from
file names, so a typo in a bench file is an error that lists the known names.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from .drivers.ametek_ci import AmetekMX, AmetekRS
from .drivers.chroma_61845 import Chroma61845
from .drivers.chroma_62000h import Chroma62000H
from .drivers.chroma_63800 import Chroma63800
from .drivers.keysight_e4360 import KeysightE4360
from .drivers.modbus_meter import ModbusMeter
from .drivers.modbus_pcs import ModbusPCS
from .drivers.nhr_9410 import NHR9410
from .drivers.pacific_afx import PacificAFX
from .drivers.sunspec_der import SunSpecDER
from .drivers.sunspec_meter import SunSpecMeter
from .drivers.yokogawa_wt import YokogawaWT3000, YokogawaWT5000
from .drivers.yokogawa_wt1800 import YokogawaWT1800
from .drivers.zes_lmg import ZesLMG
from .roles import Instrument

DRIVERS: dict[str, type[Instrument]] = {
    "ametek-mx": AmetekMX,
    "ametek-rs": AmetekRS,
    "chroma-61845": Chroma61845,
    "chroma-62000h": Chroma62000H,
    "chroma-63800": Chroma63800,
    "keysight-e4360": KeysightE4360,
    "modbus-meter": ModbusMeter,
    "nhr-9410": NHR9410,
    "pacific-afx": PacificAFX,
    "yokogawa-wt1800": YokogawaWT1800,
    "yokogawa-wt3000": YokogawaWT3000,
    "yokogawa-wt5000": YokogawaWT5000,
    "zes-lmg": ZesLMG,
    "sunspec-der": SunSpecDER,
    "sunspec-meter": SunSpecMeter,
    "modbus-pcs": ModbusPCS,
}


@dataclass(frozen=True)
class DriverInfo:
    """One row of `flexbench instruments list`."""

    name: str
    role: str
    model: str
    summary: str


def driver_class(name: str) -> type[Instrument]:
    """The driver class registered under `name`; KeyError lists the known names."""
    try:
        return DRIVERS[name]
    except KeyError:
        known = ", ".join(sorted(DRIVERS))
        raise KeyError(f"unknown driver {name!r}; known drivers: {known}") from None


def driver_info(name: str) -> DriverInfo:
    cls = driver_class(name)
    module = sys.modules.get(cls.__module__)
    doc = (module.__doc__ if module is not None else None) or cls.__doc__ or ""
    summary = doc.strip().splitlines()[0] if doc.strip() else ""
    return DriverInfo(name=name, role=cls.role, model=cls.model, summary=summary)


def list_drivers() -> list[DriverInfo]:
    """Every registered driver, ordered by role then name."""
    return sorted((driver_info(n) for n in DRIVERS), key=lambda d: (d.role, d.name))


def models_by_role() -> dict[str, list[DriverInfo]]:
    """Supported models grouped by role, for `flexbench instruments list`."""
    grouped: dict[str, list[DriverInfo]] = {}
    for info in list_drivers():
        grouped.setdefault(info.role, []).append(info)
    return grouped
