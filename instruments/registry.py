"""The explicit registry of drivers: bench files name a driver by its key here, or by where it lives.

Adding a driver to flexbench means adding one line to DRIVERS; nothing is
discovered from file names, so a typo in a bench file is an error that lists
the known names. A lab's own driver needs no line here: the bench file names
its class, ``driver = "mylab.drivers:MyLoad"`` (an importable module) or
``driver = "drivers/my_load.py:MyLoad"`` (a file, relative to the bench
file), and the class says its role (the role interface it subclasses).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from .drivers.ametek_ci import AmetekMX, AmetekRS
from .drivers.chroma_61845 import Chroma61845
from .drivers.chroma_62000h import Chroma62000H
from .drivers.chroma_63800 import Chroma63800
from .drivers.hioki_pw3390 import HiokiPW3390
from .drivers.keysight_e4360 import KeysightE4360
from .drivers.keysight_n8900 import KeysightN8900
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
    "hioki-pw3390": HiokiPW3390,
    "keysight-e4360": KeysightE4360,
    "keysight-n8900": KeysightN8900,
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


def is_import_path(name: str) -> bool:
    """Whether a bench file's driver names a class by where it lives ("module:Class", "file.py:Class")."""
    return ":" in name


def driver_class(name: str, base_dir: Path | None = None) -> type[Instrument]:
    """The driver class `name` stands for: a key of DRIVERS, "package.module:Class", or
    "path/to/file.py:Class" (relative to `base_dir`).

    KeyError lists the known names for an unknown key; ValueError says why a
    class named by its place cannot be used.
    """
    if not is_import_path(name):
        try:
            return DRIVERS[name]
        except KeyError:
            known = ", ".join(sorted(DRIVERS))
            raise KeyError(f"unknown driver {name!r}; known drivers: {known}") from None
    where, _, qualname = name.rpartition(":")
    if not where or not qualname:
        raise ValueError(f"expected 'package.module:Class' or 'file.py:Class', got {name!r}")
    module = _load_module(where, base_dir)
    obj: object = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ValueError(f"{where} has no {qualname!r}")
    if not (isinstance(obj, type) and issubclass(obj, Instrument)):
        raise ValueError(f"{name} is not a driver (a subclass of flexbench.instruments.roles.Instrument)")
    if getattr(obj, "__abstractmethods__", None):
        missing = ", ".join(sorted(obj.__abstractmethods__))
        raise ValueError(f"{name} does not implement {missing} (the role {_role_of(obj)!r} asks for them)")
    if not isinstance(getattr(obj, "role", None), str) or not isinstance(getattr(obj, "model", None), str):
        raise ValueError(f"{name} must set the class attributes role and model")
    return obj


def _role_of(cls: type) -> str:
    return str(getattr(cls, "role", "?"))


def _load_module(where: str, base_dir: Path | None) -> object:
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        path = path.resolve()
        if not path.is_file():
            raise ValueError(f"no driver file {path}")
        # one module per file, whatever name a bench file gives the path by
        module_name = f"flexbench_lab_driver_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
        if module_name in sys.modules:
            return sys.modules[module_name]
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ValueError(f"cannot load {path} as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise ValueError(f"loading {path} failed: {type(exc).__name__}: {exc}") from None
        return module
    try:
        return importlib.import_module(where)
    except Exception as exc:  # a lab's module that fails to import is the bench file's error, not a crash
        raise ValueError(f"cannot import {where}: {type(exc).__name__}: {exc}") from None


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
