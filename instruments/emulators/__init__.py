"""Emulated instruments: each speaks its driver's wire protocol on a loopback port.

EMULATORS maps a driver's registry name to the emulator class the virtual lab
starts in its place. Every emulator has start() (returns once it listens),
`.address` (the VISA or modbus+tcp address to give the driver), stop()
(idempotent), `responding`, `command_log`, and an injectable clock.
"""
from __future__ import annotations

from .chroma_61845 import ChromaGridEmulator
from .chroma_62000h import Chroma62000HEmulator
from .chroma_63800 import Chroma63800Emulator
from .modbus_meter import ModbusMeterEmulator
from .regmap_device import RegisterMapEmulator
from .modbus_pcs import ModbusPCSEmulator
from .sunspec_der import SunSpecDEREmulator
from .sunspec_meter import SunSpecMeterEmulator
from .yokogawa_wt1800 import YokogawaWTEmulator

EMULATORS: dict[str, type] = {
    "chroma-61845": ChromaGridEmulator,
    "chroma-62000h": Chroma62000HEmulator,
    "chroma-63800": Chroma63800Emulator,
    "modbus-meter": ModbusMeterEmulator,
    "yokogawa-wt1800": YokogawaWTEmulator,
    "sunspec-der": SunSpecDEREmulator,
    "sunspec-meter": SunSpecMeterEmulator,
    "modbus-pcs": ModbusPCSEmulator,
}

__all__ = [
    "EMULATORS",
    "Chroma62000HEmulator",
    "Chroma63800Emulator",
    "ChromaGridEmulator",
    "ModbusMeterEmulator",
    "ModbusPCSEmulator",
    "RegisterMapEmulator",
    "SunSpecDEREmulator",
    "SunSpecMeterEmulator",
    "YokogawaWTEmulator",
]
