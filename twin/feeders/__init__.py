"""Embedded feeder models (IEEE 13, 123 and 8500-node) and how to find them.

The OpenDSS files are the electricdss-tst versions, unmodified (BSD-3-Clause,
see LICENSE-electricdss-tst.txt and README.md in this folder). A feeder is named
by its short name ("ieee13") or given as a path to any OpenDSS master file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flexbench.twin.errors import FeederError, suggest

FEEDER_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class FeederSource:
    """Where a feeder's model lives and what to run after compiling it."""

    name: str
    master: Path
    bus_coords: Path | None = None
    setup_commands: tuple[str, ...] = field(default_factory=tuple)


_EMBEDDED: dict[str, FeederSource] = {
    "ieee13": FeederSource(
        "ieee13",
        FEEDER_DIR / "ieee13" / "IEEE13Nodeckt.dss",
        FEEDER_DIR / "ieee13" / "IEEE13Node_BusXY.csv",
    ),
    "ieee123": FeederSource(
        "ieee123",
        FEEDER_DIR / "ieee123" / "IEEE123Master.dss",
        FEEDER_DIR / "ieee123" / "BusCoords.dat",
        # Regulator settings of the feeder's own run script (Run_IEEE123Bus.DSS).
        tuple(
            f"RegControl.{reg}.maxtapchange=1 Delay={delay}"
            for reg, delay in (
                ("creg1a", 15),
                ("creg2a", 30),
                ("creg3a", 30),
                ("creg4a", 30),
                ("creg3c", 30),
                ("creg4b", 30),
                ("creg4c", 30),
            )
        ),
    ),
    "ieee8500": FeederSource(
        "ieee8500",
        FEEDER_DIR / "ieee8500" / "Master.dss",
        FEEDER_DIR / "ieee8500" / "Buscoords.dss",
    ),
}


def feeder_names() -> list[str]:
    """Short names of the embedded feeders."""
    return sorted(_EMBEDDED)


def resolve_feeder(name_or_path: str | Path) -> FeederSource:
    """Find an embedded feeder by name, or wrap a master file path.

    Raises FeederError naming the near names when neither matches.
    """
    key = str(name_or_path).strip()
    if key.lower() in _EMBEDDED:
        return _EMBEDDED[key.lower()]
    path = Path(key).expanduser()
    if path.is_file():
        return FeederSource(path.stem, path.resolve())
    if path.suffix.lower() == ".dss" or "/" in key or "\\" in key:
        raise FeederError(f"feeder file not found: {path}")
    raise FeederError(
        f"unknown feeder {key!r}{suggest(key, _EMBEDDED)}; "
        f"embedded feeders are {', '.join(feeder_names())}, or give a master .dss path"
    )
