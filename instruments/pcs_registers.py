"""Holding-register layout of the flexbench PCS settings interface (shared by driver and emulator).

A power control system takes its settings (mode, export and import limits,
busbar current limit) and reports its state over Modbus. There is no common
standard for these registers, so this layout is the interface of the virtual
PCS and of any device that adopts it; a real PCS with its own registers gets
a driver of its own.

| register | name | type | unit | access |
|---|---|---|---|---|
| 0 | mode | uint16 enum: 0 unrestricted, 1 export-only, 2 import-only, 3 no-exchange | | RW |
| 1-2 | export_limit | uint32, 0xFFFFFFFF = none | W | RW |
| 3-4 | import_limit | uint32, 0xFFFFFFFF = none | W | RW |
| 5 | current_limit | uint16, 0xFFFF = none | 0.1 A | RW |
| 6 | fail_safe | uint16 0/1 | | R |
| 7-8 | pcc_import | int32 | W | R |
| 9 | busbar_current | uint16 | 0.1 A | R |
| 10-17 | manufacturer | string, 16 chars | | R |
| 18-25 | model | string, 16 chars | | R |
| 26-33 | serial | string, 16 chars | | R |
| 34-37 | firmware | string, 8 chars | | R |
"""

from __future__ import annotations

from .roles import PCS_MODES

MODE = 0
EXPORT_LIMIT = 1
IMPORT_LIMIT = 3
CURRENT_LIMIT = 5
FAIL_SAFE = 6
PCC_IMPORT = 7
BUSBAR_CURRENT = 9
IDENTITY = {"manufacturer": (10, 8), "model": (18, 8), "serial": (26, 8), "firmware": (34, 4)}
REGISTER_COUNT = 38
WRITABLE = range(0, 6)
NONE_U32 = 0xFFFFFFFF
NONE_U16 = 0xFFFF
MAX_LIMIT_W = 10_000_000  # a setting above this is refused (exception 3)
MODE_CODES = {mode: code for code, mode in enumerate(PCS_MODES)}


def u32(value: int) -> list[int]:
    return [(value >> 16) & 0xFFFF, value & 0xFFFF]


def from_u32(hi: int, lo: int) -> int:
    return (hi << 16) | lo


def i32(value: int) -> list[int]:
    return u32(value & 0xFFFFFFFF)


def from_i32(hi: int, lo: int) -> int:
    value = from_u32(hi, lo)
    return value - (1 << 32) if value & 0x80000000 else value


def encode_string(text: str, registers: int) -> list[int]:
    raw = text.encode("ascii", "replace")[: registers * 2].ljust(registers * 2, b"\0")
    return [(raw[i] << 8) | raw[i + 1] for i in range(0, len(raw), 2)]


def decode_string(regs: list[int]) -> str:
    raw = b"".join(bytes([(r >> 8) & 0xFF, r & 0xFF]) for r in regs)
    return raw.split(b"\0", 1)[0].decode("ascii", "replace").strip()
