"""Packages that import their names on first use: every listed name resolves, and one submodule stays light."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

PACKAGES = ["flexbench.twin", "flexbench.signals.csip"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_listed_name_resolves_to_its_submodules_object(package: str) -> None:
    module = importlib.import_module(package)
    assert set(module.__all__) <= set(module._EXPORTS)
    for name, submodule in module._EXPORTS.items():
        assert getattr(module, name) is getattr(importlib.import_module(f"{package}.{submodule}"), name)
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        module.not_a_name  # noqa: B018


def test_a_light_submodule_does_not_import_opendss_or_the_2030_5_client() -> None:
    probe = (
        "import sys, flexbench.twin.feeders, flexbench.signals.csip.tls; "
        "print(sorted(m for m in ('opendssdirect', 'flexbench.signals.csip.client', 'flexbench.twin.twin') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
