"""Emulated instruments: each speaks its driver's wire protocol on a loopback port.

EMULATORS maps a driver's registry name to the emulator class the virtual lab
starts in its place. Every emulator has start() (returns once it listens),
`.address` (the VISA or modbus+tcp address to give the driver), stop()
(idempotent), `responding`, `command_log`, and an injectable clock.
"""
from __future__ import annotations

from .chroma_61845 import ChromaGridEmulator
from .sunspec_der import SunSpecDEREmulator
from .yokogawa_wt1800 import YokogawaWTEmulator

EMULATORS: dict[str, type] = {
    "chroma-61845": ChromaGridEmulator,
    "yokogawa-wt1800": YokogawaWTEmulator,
    "sunspec-der": SunSpecDEREmulator,
}

__all__ = ["EMULATORS", "ChromaGridEmulator", "SunSpecDEREmulator", "YokogawaWTEmulator"]
