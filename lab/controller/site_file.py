"""Writing the controller's site file (`<run_dir>/controller-site.toml`).

Everything a site controller is configured with on site, in one file the
bench writes before starting it: bench time, the meter and inverters (from
the emulated site's map), the utility's 2030.5 server with the controller's
certificate, firm limits and where to serve its local API. The reference
controller reads it (lab.virtual.reference_controller.site_file); a
third-party controller's wrapper can translate it into its own configuration.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _table(lines: list[str], header: str, table: dict[str, Any]) -> None:
    lines.append(header)
    lines += [f"{key} = {_value(value)}" for key, value in table.items() if value is not None]
    lines.append("")


def site_file_text(
    *,
    clock: dict[str, float],
    site_map: dict[str, Any],
    utility: dict[str, Any] | None,
    firm: dict[str, float | None],
    local_api: str | None,
) -> str:
    lines = ["# Written by the bench for the controller under test; regenerated every run.", ""]
    _table(lines, "[clock]", clock)
    if site_map.get("meter"):
        _table(lines, "[meter]", dict(site_map["meter"]))
    for inverter in site_map["inverters"]:
        _table(lines, "[[inverters]]", dict(inverter))
    if utility is not None:
        _table(lines, "[utility]", utility)
    _table(lines, "[firm]", firm)
    if local_api is not None:  # where to serve the bench's settings registers, when it sets them that way
        _table(lines, "[local_api]", {"listen": local_api})
    return "\n".join(lines)


def write_site_file(path: Path, **parts: Any) -> Path:
    path.write_text(site_file_text(**parts), encoding="utf-8")
    return path
