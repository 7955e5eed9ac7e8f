"""Emulated instruments: each speaks its driver's wire protocol on a loopback port.

EMULATORS maps a driver's registry name to the emulator class the virtual lab
starts in its place. Every emulator has start() (returns once it listens),
`.address` (the VISA, modbus+tcp or modbus+rtu address to give the driver),
stop() (idempotent), `responding`, `command_log`, and an injectable clock.
Modbus emulators take ``link="rtu"`` to serve on a virtual serial pair
(serial_pair.VirtualSerialPair) instead of TCP. Shared bases: scpi_server
(SCPI dispatch and error queue), grid_base (grid simulators and their list
engine), modbus_server (pymodbus servers), sunspec_device (SunSpec maps),
regmap_device (any register map).
"""

from __future__ import annotations

from .ametek_ci import AmetekMXEmulator, AmetekRSEmulator
from .chroma_61845 import ChromaGridEmulator
from .chroma_62000h import Chroma62000HEmulator
from .chroma_63800 import Chroma63800Emulator
from .hioki_pw3390 import HiokiPW3390Emulator
from .keysight_e4360 import KeysightE4360Emulator
from .keysight_n8900 import KeysightN8900Emulator
from .modbus_meter import ModbusMeterEmulator
from .modbus_pcs import ModbusPCSEmulator
from .nhr_9410 import NHR9410Emulator
from .pacific_afx import PacificAFXEmulator
from .regmap_device import RegisterMapEmulator
from .sunspec_der import SunSpecDEREmulator
from .sunspec_meter import SunSpecMeterEmulator
from .yokogawa_wt1800 import YokogawaWT3000Emulator, YokogawaWT5000Emulator, YokogawaWTEmulator
from .zes_lmg import ZesLMGEmulator

EMULATORS: dict[str, type] = {
    "ametek-mx": AmetekMXEmulator,
    "ametek-rs": AmetekRSEmulator,
    "chroma-61845": ChromaGridEmulator,
    "chroma-62000h": Chroma62000HEmulator,
    "chroma-63800": Chroma63800Emulator,
    "hioki-pw3390": HiokiPW3390Emulator,
    "keysight-e4360": KeysightE4360Emulator,
    "keysight-n8900": KeysightN8900Emulator,
    "modbus-meter": ModbusMeterEmulator,
    "nhr-9410": NHR9410Emulator,
    "pacific-afx": PacificAFXEmulator,
    "yokogawa-wt1800": YokogawaWTEmulator,
    "yokogawa-wt3000": YokogawaWT3000Emulator,
    "yokogawa-wt5000": YokogawaWT5000Emulator,
    "zes-lmg": ZesLMGEmulator,
    "sunspec-der": SunSpecDEREmulator,
    "sunspec-meter": SunSpecMeterEmulator,
    "modbus-pcs": ModbusPCSEmulator,
}

__all__ = [
    "EMULATORS",
    "AmetekMXEmulator",
    "AmetekRSEmulator",
    "Chroma62000HEmulator",
    "Chroma63800Emulator",
    "ChromaGridEmulator",
    "HiokiPW3390Emulator",
    "KeysightE4360Emulator",
    "KeysightN8900Emulator",
    "ModbusMeterEmulator",
    "ModbusPCSEmulator",
    "NHR9410Emulator",
    "PacificAFXEmulator",
    "RegisterMapEmulator",
    "SunSpecDEREmulator",
    "SunSpecMeterEmulator",
    "YokogawaWT3000Emulator",
    "YokogawaWT5000Emulator",
    "YokogawaWTEmulator",
    "ZesLMGEmulator",
]
