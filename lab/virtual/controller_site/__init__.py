"""An emulated site for a site controller under test: SunSpec inverters and a PCC meter on Modbus.

The virtual lab's site kind "controller" ([virtual] site = "controller"):
devices from [virtual.site_devices.NAME] tables (config.py) served at their
own addresses (devices.py), the physics and the bench's instruments
(site.py), and the wire log of everything the controller read and wrote
(wire_log.py). The site object is ``bench.virtual_lab.site``
(site.ControllerSiteBench); this module stays light, for the command line.
"""

from __future__ import annotations

import importlib
from typing import Any

CONTROLLER_MODULE = "flexbench.lab.virtual.reference_controller"


def controller_fault_names() -> list[str]:
    """DUT profiles of the controller site: the reference controller's fault variants (its FAULTS)."""
    try:
        faults = getattr(importlib.import_module(CONTROLLER_MODULE), "FAULTS", None)
    except ImportError:
        faults = None
    names = {"healthy"} | {str(n) for n in (faults or ())}
    return sorted(names)


def own_controller(config: Any) -> bool:
    """Whether the bench starts a controller of its own, not the reference one: its DUT profiles are its own
    (passed on as {dut_profile}), not the reference controller's fault variants."""
    from flexbench.lab.controller.config import REFERENCE_COMMAND

    controller = getattr(config, "controller", None)
    return controller is not None and controller.command is not None and controller.command != REFERENCE_COMMAND


__all__ = ["controller_fault_names", "own_controller"]
