"""Several homes on one shared service transformer, for an aggregator under test.

The virtual lab's site kind "aggregator" ([virtual] site = "aggregator"):
homes from [virtual.homes] (config.py), each an emulated controller site of
its own (site.py), the transformer's rating from IEEE 8500 and its sharing by
the twin's allocation (transformer.py), the aggregator's site file
(site_file.py). This module stays light, for the command line.
"""

from __future__ import annotations

import importlib

AGGREGATOR_MODULE = "flexbench.lab.virtual.reference_aggregator"


def aggregator_fault_names() -> list[str]:
    """DUT profiles of the aggregator site: the reference aggregator's fault variants (its FAULTS)."""
    faults = getattr(importlib.import_module(AGGREGATOR_MODULE), "FAULTS", {})
    return sorted({"healthy"} | {str(n) for n in faults})


__all__ = ["aggregator_fault_names"]
