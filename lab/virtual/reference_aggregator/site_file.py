"""The aggregator's site file (aggregator-site.toml), as the bench writes it (lab.virtual.aggregator_site.site_file)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flexbench.lab.virtual.reference_controller.site_file import (
    BenchTime,
    DeviceEntry,
    SiteFileError,
    Utility,
    _device,
    _number,
    parse_utility,
    read_site_file,
)

KINDS = ("pv", "battery", "ev")


@dataclass(frozen=True)
class HomeEntry:
    name: str
    lfdi: str
    own_import_limit_w: float
    own_export_limit_w: float
    meter: DeviceEntry
    devices: dict[str, DeviceEntry]  # by kind: pv, battery, ev (the EV charger's entry has kind "battery")


@dataclass(frozen=True)
class AggregatorSiteFile:
    path: Path
    clock: BenchTime
    utility: Utility
    homes: tuple[HomeEntry, ...]


def _home(path: Path, i: int, table: Any) -> HomeEntry:
    where = f"sites[{i}]"
    if not isinstance(table, dict) or not isinstance(table.get("name"), str) or not isinstance(table.get("lfdi"), str):
        raise SiteFileError(f"{path}: {where}: needs name and lfdi")
    devices: dict[str, DeviceEntry] = {}
    for j, device in enumerate(table.get("devices", [])):
        kind = device.get("kind") if isinstance(device, dict) else None
        if kind not in KINDS or kind in devices:
            raise SiteFileError(f"{path}: {where}.devices[{j}].kind: expected one each of {', '.join(KINDS)}")
        devices[kind] = _device(path, f"{where}.devices[{j}]", device, "pv" if kind == "pv" else "battery")
    if not devices:
        raise SiteFileError(f"{path}: {where}: no devices: an aggregator needs something to control")
    return HomeEntry(
        name=table["name"],
        lfdi=table["lfdi"],
        own_import_limit_w=_number(path, where, table, "service_import_limit_w"),
        own_export_limit_w=_number(path, where, table, "service_export_limit_w"),
        meter=_device(path, f"{where}.meter", table.get("meter"), "meter"),
        devices=devices,
    )


def load_aggregator_site_file(path: str | Path) -> AggregatorSiteFile:
    path = Path(path)
    data = read_site_file(path)
    clock = data.get("clock", {})
    utility = parse_utility(path, data.get("utility"))
    homes = tuple(_home(path, i, t) for i, t in enumerate(data.get("sites", [])))
    if not homes:
        raise SiteFileError(f"{path}: no [[sites]]: an aggregator needs sites")
    return AggregatorSiteFile(
        path,
        BenchTime(
            _number(path, "clock", clock, "time_scale", 1.0),
            _number(path, "clock", clock, "bench_s", time.time()),
            _number(path, "clock", clock, "wall_s", time.time()),
        ),
        utility,
        homes,
    )
