"""The bench's side of the contract made into the controller's own (run from tests/).

python -m independent_controller.adapter SITE_FILE [VARIANT]
    reads the controller-site.toml the bench wrote, writes the controller's JSON configuration
    beside it (independent-controller.json) and becomes the controller (exec), so the bench's
    stop signal reaches it
python -m independent_controller.adapter configure SETTINGS_FILE RUN_DIR
    the bench's site settings ({"export_limit_w": ..., "import_limit_w": ...}) into the
    controller's own settings file, which it reads again when it changes
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

CONFIG_NAME = "independent-controller.json"
SETTINGS_NAME = "independent-controller-settings.json"


class SiteFileError(ValueError):
    """The site file cannot be turned into a configuration; the message names the file and key."""


def _device(path: Path, where: str, table: Any, role: str | None) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise SiteFileError(f"{path}: {where}: missing")
    if table.get("transport", "tcp") != "tcp":
        raise SiteFileError(f"{path}: {where}.transport: the controller speaks Modbus TCP only")
    family = str(table.get("family", ""))
    if not family.startswith("sunspec"):
        raise SiteFileError(f"{path}: {where}.family: the controller speaks SunSpec only, got {family!r}")
    host, _, port = str(table.get("address", "")).rpartition(":")
    if not host or not port.isdigit():
        raise SiteFileError(f"{path}: {where}.address: expected 'host:port', got {table.get('address')!r}")
    role = role or table.get("kind")
    return {
        "name": table.get("name", role),
        "host": host,
        "port": int(port),
        "unit": int(table.get("unit_id", 1)),
        "role": role,
        "rating_w": float(table.get("rated_w", 0.0)),
    }


def convert(path: Path) -> dict[str, Any]:
    """The controller's configuration from the bench's site file."""
    try:
        site = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SiteFileError(f"{path}: cannot read: {exc}") from None
    config: dict[str, Any] = {
        "meter": _device(path, "meter", site.get("meter"), "meter"),
        "inverters": [_device(path, f"inverters[{i}]", t, None) for i, t in enumerate(site.get("inverters", []))],
        "firm_limits": {
            "export_w": site.get("firm", {}).get("export_limit_w"),
            "import_w": site.get("firm", {}).get("import_limit_w"),
        },
    }
    utility = site.get("utility")
    if utility is not None:
        for key in ("url", "ca", "cert", "key"):
            if not isinstance(utility.get(key), str):
                raise SiteFileError(f"{path}: utility.{key}: missing")
        config["server"] = {
            "url": utility["url"],
            "ca_file": str(path.parent / utility["ca"]),
            "cert_file": str(path.parent / utility["cert"]),
            "key_file": str(path.parent / utility["key"]),
            "ciphers": utility.get("ciphers", ""),
            "lfdi": utility.get("lfdi"),
        }
    config["settings_file"] = SETTINGS_NAME
    return config


def configure(settings_file: Path, run_dir: Path) -> None:
    """The bench's settings, in the controller's own keys; written whole, then moved into place."""
    try:
        settings = json.loads(settings_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SiteFileError(f"{settings_file}: cannot read: {exc}") from None
    own = {"export_w": settings.get("export_limit_w"), "import_w": settings.get("import_limit_w")}
    target = run_dir / SETTINGS_NAME
    partial = target.with_suffix(".partial")
    partial.write_text(json.dumps(own) + "\n", encoding="utf-8")
    partial.replace(target)


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "configure":
        try:
            configure(Path(argv[1]), Path(argv[2]))
        except SiteFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    if not 1 <= len(argv) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    site_file = Path(argv[0])
    try:
        config = convert(site_file)
    except SiteFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config_file = site_file.parent / CONFIG_NAME
    config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    variant = argv[1] if len(argv) == 2 else "healthy"
    os.execv(sys.executable, [sys.executable, "-m", "independent_controller", str(config_file), "--variant", variant])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
