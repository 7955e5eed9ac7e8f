"""The controller's site file (controller-site.toml): what a site controller is configured with.

The bench writes it for every controller it starts (lab.controller.site_file);
the reference controller reads it here. Sections: [clock] (bench time, so a
controller on a faster-than-real-time bench runs in step with it), [meter],
[[inverters]], [utility] (the 2030.5 server and the controller's identity),
[firm] (limits used before any DefaultDERControl is known), [local_api].
"""

from __future__ import annotations

import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class SiteFileError(ValueError):
    """The site file cannot be used; the message names the file and key."""


@dataclass(frozen=True)
class DeviceEntry:
    name: str
    host: str
    port: int
    unit_id: int
    family: str
    kind: str  # "meter", "pv" or "battery"
    rated_w: float
    options: dict[str, Any]


@dataclass(frozen=True)
class Utility:
    url: str
    ca: Path
    cert: Path
    key: Path
    ciphers: str
    poll_rate_s: float | None


@dataclass(frozen=True)
class SiteFile:
    path: Path
    time_scale: float
    bench_s: float
    wall_s: float
    meter: DeviceEntry
    inverters: tuple[DeviceEntry, ...]
    utility: Utility | None
    firm_export_limit_w: float | None
    firm_import_limit_w: float | None
    api_host: str
    api_port: int


class BenchTime:
    """Bench time in this process: the bench's clock, reconstructed from one (bench, wall) pair."""

    def __init__(self, time_scale: float, bench_s: float, wall_s: float) -> None:
        self.time_scale = time_scale
        self._bench_s = bench_s
        self._wall_s = wall_s

    def now(self) -> float:
        return self._bench_s + (time.time() - self._wall_s) * self.time_scale

    def sleep(self, bench_s: float) -> None:
        if bench_s > 0:
            time.sleep(bench_s / self.time_scale)

    def run_every(self, period_s: float, stop: threading.Event, action: Callable[[], None]) -> None:
        """Call `action` every period_s of bench time until `stop` is set; a late call moves the next one on."""
        next_s = self.now()
        while not stop.is_set():
            action()
            next_s += period_s
            now_s = self.now()
            if next_s < now_s:
                next_s = now_s
            stop.wait((next_s - now_s) / self.time_scale)


def _host_port(path: Path, key: str, text: Any) -> tuple[str, int]:
    if not isinstance(text, str) or ":" not in text:
        raise SiteFileError(f"{path}: {key}: expected 'host:port', got {text!r}")
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SiteFileError(f"{path}: {key}: bad port in {text!r}")
    return host, int(port)


def _number(path: Path, where: str, table: dict[str, Any], key: str, default: Any = ...) -> Any:
    if key not in table:
        if default is ...:
            raise SiteFileError(f"{path}: {where}.{key}: missing")
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SiteFileError(f"{path}: {where}.{key}: expected a number, got {value!r}")
    return float(value)


def _device(path: Path, where: str, table: Any, kind: str | None) -> DeviceEntry:
    if not isinstance(table, dict):
        raise SiteFileError(f"{path}: {where}: expected a table")
    if table.get("transport", "tcp") != "tcp":
        raise SiteFileError(f"{path}: {where}.transport: the reference controller speaks Modbus TCP only")
    host, port = _host_port(path, f"{where}.address", table.get("address"))
    options = dict(table.get("options", {}))
    if "model" in table:  # a SunSpec meter's model (201-204)
        options["meter_model"] = int(table["model"])
    if "map" in table:  # a register-map meter's map
        options["map"] = str(table["map"])
    kind = kind or table.get("kind")
    if kind not in ("meter", "pv", "battery"):
        raise SiteFileError(f"{path}: {where}.kind: expected 'pv' or 'battery', got {kind!r}")
    return DeviceEntry(
        name=str(table.get("name", kind)),
        host=host,
        port=port,
        unit_id=int(table.get("unit_id", 1)),
        family=str(table.get("family", "sunspec")),
        kind=kind,
        rated_w=_number(path, where, table, "rated_w", 0.0),
        options=options,
    )


def read_site_file(path: Path) -> dict[str, Any]:
    """A site file's tables; SiteFileError when it is missing or not TOML."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SiteFileError(f"{path}: site file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise SiteFileError(f"{path}: not valid TOML: {exc}") from None


def parse_utility(path: Path, u: Any) -> Utility:
    """[utility]: the 2030.5 server and the client's identity, files relative to the site file's folder."""
    if not isinstance(u, dict):
        raise SiteFileError(f"{path}: utility: expected a table")
    for key in ("url", "ca", "cert", "key"):
        if not isinstance(u.get(key), str):
            raise SiteFileError(f"{path}: utility.{key}: missing")
    base = path.parent
    return Utility(
        u["url"],
        base / u["ca"],
        base / u["cert"],
        base / u["key"],
        str(u.get("ciphers", "")),
        _number(path, "utility", u, "poll_rate_s", None),
    )


def load_site_file(path: str | Path) -> SiteFile:
    path = Path(path)
    data = read_site_file(path)
    clock = data.get("clock", {})
    meter = _device(path, "meter", data.get("meter"), "meter")
    inverters = tuple(_device(path, f"inverters[{i}]", t, None) for i, t in enumerate(data.get("inverters", [])))
    if not inverters:
        raise SiteFileError(f"{path}: no [[inverters]]: a controller needs something to control")
    for inv in inverters:
        if inv.rated_w <= 0:
            raise SiteFileError(f"{path}: inverter {inv.name}: rated_w must be positive")
    utility = parse_utility(path, data["utility"]) if "utility" in data else None
    firm = data.get("firm", {})
    api_host, api_port = _host_port(path, "local_api.listen", data.get("local_api", {}).get("listen", "127.0.0.1:0"))
    return SiteFile(
        path=path,
        time_scale=_number(path, "clock", clock, "time_scale", 1.0),
        bench_s=_number(path, "clock", clock, "bench_s", time.time()),
        wall_s=_number(path, "clock", clock, "wall_s", time.time()),
        meter=meter,
        inverters=inverters,
        utility=utility,
        firm_export_limit_w=_number(path, "firm", firm, "export_limit_w", None),
        firm_import_limit_w=_number(path, "firm", firm, "import_limit_w", None),
        api_host=api_host,
        api_port=api_port,
    )
