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

The schedule block (optional: a device without it answers exception 2 there, and
the bench takes it as a PCS that cannot hold a schedule):

| register | name | type | unit | access |
|---|---|---|---|---|
| 40-41 | clock | uint32, the PCS's own clock (calendar without zone) | s since 1970 | RW |
| 42 | schedule_kind | uint16: 0 none, 1 static, 2 variable; writing it puts the staged table in force | | RW |
| 43-44 | firm_export | uint32, 0xFFFFFFFF = none | W | RW |
| 45-46 | firm_import | uint32, 0xFFFFFFFF = none | W | RW |
| 47 | interval_count | uint16, intervals of a variable schedule (at most 288) | | RW |
| 100-2403 | table | static: 288 cells, month-major, (export, import) uint32 each; variable: per interval (start uint32 s, duration uint32 s, export uint32, import uint32) | | RW |

A table whose limits or times cannot be (an interval overlapping the one before,
a duration of 0) answers exception 3 on the write of schedule_kind, and the
schedule in force stays.
"""

from __future__ import annotations

from flexbench.core import Envelope, Interval, SiteLimits
from flexbench.core.schedules import CELLS, Schedule, StaticSchedule, schedule_limits_w

from .roles import PCS_MODES

MODE = 0
EXPORT_LIMIT = 1
IMPORT_LIMIT = 3
CURRENT_LIMIT = 5
FAIL_SAFE = 6
PCC_IMPORT = 7
BUSBAR_CURRENT = 9
IDENTITY = {"manufacturer": (10, 8), "model": (18, 8), "serial": (26, 8), "firmware": (34, 4)}
IDENTITY_END = 38
CLOCK = 40
SCHEDULE_KIND = 42
FIRM_EXPORT = 43
FIRM_IMPORT = 45
INTERVAL_COUNT = 47
TABLE = 100
MAX_INTERVALS = 288
INTERVAL_REGISTERS = 8
TABLE_END = TABLE + MAX_INTERVALS * INTERVAL_REGISTERS
REGISTER_COUNT = IDENTITY_END
WRITABLE = range(0, 6)
SCHEDULE_WRITABLE = (range(CLOCK, INTERVAL_COUNT + 1), range(TABLE, TABLE_END))
SCHEDULE_KINDS = ("none", "static", "variable")
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


def limit_registers(limit_w: float | None) -> list[int]:
    """A limit as its uint32 pair (None: 0xFFFFFFFF)."""
    return u32(NONE_U32 if limit_w is None else round(limit_w))


def limit_of(hi: int, lo: int) -> float | None:
    value = from_u32(hi, lo)
    return None if value == NONE_U32 else float(value)


def schedule_registers(schedule: Schedule) -> tuple[int, list[int], int, list[int]]:
    """(schedule_kind, firm export and import, interval_count, table) of a schedule; ValueError on one the
    block cannot hold (over 288 intervals, a limit above MAX_LIMIT_W). Times go in whole seconds."""
    if isinstance(schedule, StaticSchedule):
        kind, count = 1, 0
        rows = [(c.export_limit_w, c.import_limit_w) for c in schedule.cells]
        table = [r for export_w, import_w in rows for r in limit_registers(export_w) + limit_registers(import_w)]
    else:
        if len(schedule.intervals) > MAX_INTERVALS:
            raise ValueError(f"the PCS holds at most {MAX_INTERVALS} intervals, the schedule has {len(schedule)}")
        kind, count, table = 2, len(schedule.intervals), []
        for i in schedule.intervals:
            table += u32(round(i.start_s)) + u32(round(i.duration_s))
            table += limit_registers(i.export_limit_w) + limit_registers(i.import_limit_w)
    too_high = [w for w in schedule_limits_w(schedule) if w is not None and w > MAX_LIMIT_W]
    if too_high:
        raise ValueError(f"a schedule limit of {max(too_high):g} W is above the PCS's {MAX_LIMIT_W} W")
    firm = limit_registers(schedule.firm.export_limit_w) + limit_registers(schedule.firm.import_limit_w)
    return kind, firm, count, table


def schedule_of(kind: int, firm: list[int], count: int, table: list[int]) -> Schedule | None:
    """The schedule the block holds (None: kind 0); IntervalError or ValueError on one that cannot be."""
    firm_limits = SiteLimits(export_limit_w=limit_of(*firm[0:2]), import_limit_w=limit_of(*firm[2:4]))
    if kind == 0:
        return None
    if kind == 1:
        cells = tuple(
            SiteLimits(export_limit_w=limit_of(*table[k : k + 2]), import_limit_w=limit_of(*table[k + 2 : k + 4]))
            for k in range(0, CELLS * 4, 4)
        )
        return StaticSchedule(cells=cells, firm=firm_limits)
    if kind != 2 or count > MAX_INTERVALS:
        raise ValueError(f"schedule_kind {kind} with {count} intervals")
    intervals = []
    for k in range(0, count * INTERVAL_REGISTERS, INTERVAL_REGISTERS):
        r = table[k : k + INTERVAL_REGISTERS]
        limits = SiteLimits(export_limit_w=limit_of(*r[4:6]), import_limit_w=limit_of(*r[6:8]))
        intervals.append(Interval(start_s=from_u32(*r[0:2]), duration_s=from_u32(*r[2:4]), limits=limits))
    return Envelope(intervals=tuple(intervals), firm=firm_limits)
