"""Writing the aggregator's site file (`<run_dir>/aggregator-site.toml`).

What an aggregator is configured with for its sites, in one file the bench
writes before starting it: [clock] (bench time and scale), [utility] (the
2030.5 server, the aggregator's certificate, key and LFDI) and one [[sites]]
per home: its name, LFDI (its EndDevice on the server), own import and export
limits (its service), its meter ([sites.meter]) and devices ([[sites.devices]]:
name, host:port, unit id, SunSpec family, kind pv | battery | ev, rated power).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flexbench.lab.controller.site_file import _table

SITE_FILE = "aggregator-site.toml"


def write_aggregator_site_file(run_dir: Path, site: Any, utility: dict[str, Any]) -> Path:
    lines = ["# Written by the bench for the aggregator under test; regenerated every run.", ""]
    clock = site.clock
    _table(lines, "[clock]", {"time_scale": clock.time_scale, "bench_s": clock.now(), "wall_s": time.time()})
    _table(lines, "[utility]", utility)
    for name, spec in site.specs.items():
        home_map = site.homes[name].site_map()
        _table(
            lines,
            "[[sites]]",
            {
                "name": name,
                "lfdi": site.lfdis[name],
                "service_import_limit_w": spec.service_import_limit_w,
                "service_export_limit_w": spec.service_export_limit_w,
            },
        )
        _table(lines, "[sites.meter]", dict(home_map["meter"]))
        for device in home_map["inverters"]:
            kind = "ev" if device["name"] == f"{name}-ev" else device["kind"]
            _table(lines, "[[sites.devices]]", {**device, "kind": kind})
    path = run_dir / SITE_FILE
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


__all__ = ["SITE_FILE", "write_aggregator_site_file"]
