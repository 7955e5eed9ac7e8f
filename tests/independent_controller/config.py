"""The controller's own configuration: one JSON file, checked key by key.

    {
      "meter": {"host": "10.0.0.5", "port": 502, "unit": 1},
      "inverters": [{"name": "pv1", "host": "10.0.0.6", "port": 502, "unit": 1, "role": "pv", "rating_w": 6000}],
      "server": {"url": "https://utility.example:8443", "ca_file": "ca.pem", "cert_file": "me.pem",
                 "key_file": "me.key", "ciphers": "ECDHE-ECDSA-AES128-CCM8", "lfdi": null},
      "firm_limits": {"export_w": 5000, "import_w": null},
      "control_period_s": 1.0, "meter_timeout_s": 3.0, "margin_w": 100, "revert_s": 60,
      "settings_file": "site-settings.json"
    }

Relative file names are taken from the configuration file's folder; "server" may be left out (no utility).
The settings file holds the site's own limits, {"export_w": ..., "import_w": ...} (null: none); it is
read again whenever it changes, so the site's settings change without a restart.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .events import Limits

ROLES = ("pv", "battery")


class ConfigError(ValueError):
    """A configuration the controller cannot run with; the message names the file and key."""


@dataclass(frozen=True)
class Device:
    name: str
    host: str
    port: int
    unit: int
    role: str  # "meter", "pv" or "battery"
    rating_w: float


@dataclass(frozen=True)
class ServerConfig:
    url: str
    ca_file: str
    cert_file: str
    key_file: str
    ciphers: str
    lfdi: str | None


@dataclass(frozen=True)
class Config:
    meter: Device
    inverters: tuple[Device, ...]
    server: ServerConfig | None
    firm_export_w: float | None
    firm_import_w: float | None
    control_period_s: float
    meter_timeout_s: float
    margin_w: float
    revert_s: int
    settings_file: Path | None  # the site's own limits, read again when it changes


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str, why: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {why}")

    def get(
        self, table: dict[str, Any], where: str, key: str, kind: type | tuple[type, ...], default: Any = ...
    ) -> Any:
        if key not in table or table[key] is None:
            if default is ...:
                raise self.error(f"{where}{key}", "missing")
            return default
        value = table[key]
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            raise self.error(f"{where}{key}", f"expected {getattr(kind, '__name__', 'a number')}, got {value!r}")
        return value

    def device(self, table: Any, where: str, role: str | None) -> Device:
        if not isinstance(table, dict):
            raise self.error(where.rstrip("."), "expected an object")
        role = role or self.get(table, where, "role", str)
        if role not in ROLES and role != "meter":
            raise self.error(f"{where}role", f"expected one of {', '.join(ROLES)}, got {role!r}")
        return Device(
            name=self.get(table, where, "name", str, role),
            host=self.get(table, where, "host", str),
            port=self.get(table, where, "port", int),
            unit=self.get(table, where, "unit", int, 1),
            role=role,
            rating_w=float(self.get(table, where, "rating_w", (int, float), 0.0)),
        )

    def file(self, table: dict[str, Any], key: str) -> str:
        path = self.path.parent / self.get(table, "server.", key, str)
        if not path.is_file():
            raise self.error(f"server.{key}", f"no file {path}")
        return str(path)


def load(path: str | Path) -> Config:
    path = Path(path)
    r = _Reader(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: line {exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    inverters = r.get(data, "", "inverters", list)
    if not inverters:
        raise r.error("inverters", "empty: nothing to control")
    server = None
    if data.get("server") is not None:
        s = r.get(data, "", "server", dict)
        server = ServerConfig(
            url=r.get(s, "server.", "url", str),
            ca_file=r.file(s, "ca_file"),
            cert_file=r.file(s, "cert_file"),
            key_file=r.file(s, "key_file"),
            ciphers=r.get(s, "server.", "ciphers", str, ""),
            lfdi=r.get(s, "server.", "lfdi", str, None),
        )
    firm = r.get(data, "", "firm_limits", dict, {})
    numbers = {
        key: float(r.get(data, "", key, (int, float), default))
        for key, default in (("control_period_s", 1.0), ("meter_timeout_s", 3.0), ("margin_w", 100.0))
    }
    for key, value in numbers.items():
        if value <= 0:
            raise r.error(key, "must be positive")
    return Config(
        meter=r.device(r.get(data, "", "meter", dict), "meter.", "meter"),
        inverters=tuple(r.device(t, f"inverters[{i}].", None) for i, t in enumerate(inverters)),
        server=server,
        firm_export_w=r.get(firm, "firm_limits.", "export_w", (int, float), None),
        firm_import_w=r.get(firm, "firm_limits.", "import_w", (int, float), None),
        control_period_s=numbers["control_period_s"],
        meter_timeout_s=numbers["meter_timeout_s"],
        margin_w=numbers["margin_w"],
        revert_s=r.get(data, "", "revert_s", int, 60),
        settings_file=path.parent / settings if (settings := r.get(data, "", "settings_file", str, None)) else None,
    )


class SiteSettings:
    """The site's own limits from the settings file, read again whenever it changes (none without the file)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._limits: tuple[float | None, float | None] = (None, None)

    def limits(self) -> Limits:
        if self.path is not None:
            try:
                st = self.path.stat()
                stamp = (st.st_ino, st.st_mtime_ns, st.st_size)  # a file moved into place is a new inode
            except FileNotFoundError:
                stamp = None
                self._limits = (None, None)
            if stamp is not None and stamp != self._stamp:
                self._limits = self._read()
            self._stamp = stamp
        return Limits(*self._limits)

    def _read(self) -> tuple[float | None, float | None]:
        assert self.path is not None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            values = tuple(data.get(key) for key in ("export_w", "import_w"))
            if not all(v is None or isinstance(v, (int, float)) and v >= 0 for v in values):
                raise ValueError("export_w and import_w: a magnitude in W, or null")
        except (OSError, ValueError) as exc:
            print(f"{self.path}: ignored, the last settings kept: {exc}", file=sys.stderr, flush=True)
            return self._limits
        print(f"site settings: export {values[0]} W, import {values[1]} W", file=sys.stderr, flush=True)
        return (values[0], values[1])
