"""Package attributes imported on first use.

A package's `__init__` that imports every submodule makes importing any one of
them pay for all: each process a run starts (the virtual lab, the guardian, a
reference controller) would import the whole 2030.5 stack or the OpenDSS twin
to use one module. `lazy_exports` gives the package a module `__getattr__` that
imports a name's submodule the first time the name is used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """The `__getattr__` of `package`: `exports` maps each public name to the submodule defining it."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            try:
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as error:
                if error.name != f"{package}.{name}":
                    raise  # the submodule exists and lacks a dependency: say so, not "no attribute"
                raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
