"""Register maps shipped with flexbench, by the name bench files use (an explicit list).

Each TOML file cites the document its addresses come from. A lab with
another device writes its own map file and names it by path in the bench
file's ``map`` option.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from ..spec import RegisterMap, RegisterMapError

MAPS: dict[str, str] = {
    "carlo-gavazzi-em24": "carlo_gavazzi_em24.toml",
    "eastron-sdm630": "eastron_sdm630.toml",
}


@cache
def bundled_map(name: str) -> RegisterMap:
    """A shipped map by name; RegisterMapError lists the known names."""
    try:
        filename = MAPS[name]
    except KeyError:
        raise RegisterMapError(f"unknown register map {name!r}; bundled maps: {', '.join(sorted(MAPS))}") from None
    path = Path(str(resources.files(__name__) / filename))
    return RegisterMap.from_file(path)


def load_map(name_or_path: str) -> RegisterMap:
    """A bundled map by name, or a map file by path (anything ending in .toml)."""
    if name_or_path.endswith(".toml"):
        return RegisterMap.from_file(name_or_path)
    return bundled_map(name_or_path)
