"""Register maps as data: a TOML file names each point of a Modbus device.

A map file has a ``[device]`` table and one ``[points.NAME]`` table per point::

    [device]
    manufacturer = "Eastron"
    model = "SDM630 Modbus V2"
    source = "Eastron SDM630 Modbus protocol, input registers 30001-30080"  # where the addresses come from
    table = "input"            # default table: "holding" (read with function 3) or "input" (function 4)
    word_order = "big"         # default for 32-bit points: "big" = high word first, "little" = low word first
    max_registers_per_read = 125
    max_gap_registers = 0      # registers a block read may bridge (the device must answer them)
    write_function = 16        # for one-register points: 16 (write multiple) or 6 (write single);
                               # multi-register points are always written with 16

    [points.power_w]
    address = 0x0034           # 0-based protocol address (30053 in the 3xxxx numbering)
    type = "float32"           # int16 uint16 int32 uint32 float32 string
    scale = 1.0                # engineering = raw x scale x 10^(scale register)
    units = "W"
    description = "Total system power"

    [points.system_type]
    address = 0x000A
    table = "holding"
    type = "float32"
    access = "RW"              # "R" (default) or "RW"
    range = [1, 3]             # allowed engineering values for writes
    default = 3                # the device's factory value (what an emulator starts with)
    scale_register = "..."     # optional: a point holding a power-of-ten exponent (SunSpec style)
    none_value = 0xFFFF        # optional: the raw value that means "not set" (reads as None; writing None sends it)

Per point, ``table``, ``word_order`` override the device's defaults;
``registers`` sizes a string. Every mistake (unknown key, bad type,
overlapping points, a scale register that is not an integer point) raises
RegisterMapError naming the file and the point.
"""

from __future__ import annotations

import math
import struct
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TYPES: Mapping[str, tuple[int, str]] = {
    # type: (registers, struct format of the big-endian bytes)
    "int16": (1, ">h"),
    "uint16": (1, ">H"),
    "int32": (2, ">i"),
    "uint32": (2, ">I"),
    "float32": (2, ">f"),
}
TABLES = ("holding", "input")
WORD_ORDERS = ("big", "little")
_DEVICE_KEYS = {
    "manufacturer",
    "model",
    "source",
    "table",
    "word_order",
    "max_registers_per_read",
    "max_gap_registers",
    "write_function",
    "serial_point",
    "firmware_point",
    "description",
}
_POINT_KEYS = {
    "address",
    "type",
    "table",
    "word_order",
    "scale",
    "scale_register",
    "units",
    "access",
    "range",
    "registers",
    "default",
    "none_value",
    "description",
}


class RegisterMapError(ValueError):
    """A register map that cannot be used, or a value that does not fit a point."""


@dataclass(frozen=True)
class Point:
    """One named value of a device: where it lives and how to read it."""

    name: str
    address: int
    type: str
    table: str = "holding"
    word_order: str = "big"
    scale: float = 1.0
    scale_register: str | None = None
    units: str = ""
    access: str = "R"
    range: tuple[float, float] | None = None
    size: int = 1  # registers
    default: int | float | str | None = None
    none_value: int | None = None  # raw value meaning "not set"
    description: str = ""

    @property
    def writable(self) -> bool:
        return self.access == "RW"

    @property
    def end(self) -> int:
        return self.address + self.size


@dataclass(frozen=True)
class Block:
    """A contiguous run of registers read with one request, and the points in it."""

    table: str
    start: int
    count: int
    points: tuple[Point, ...]


@dataclass(frozen=True)
class RegisterMap:
    """A device's points by name, with the rules to read and write them."""

    name: str
    manufacturer: str
    model: str
    source: str
    points: Mapping[str, Point]
    max_registers_per_read: int = 125
    max_gap_registers: int = 0
    write_function: int = 16
    serial_point: str | None = None
    firmware_point: str | None = None
    origin: str = ""  # the file it came from
    description: str = ""
    _by_address: Mapping[tuple[str, int], Point] = field(default_factory=dict, repr=False, compare=False)

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | Path) -> RegisterMap:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RegisterMapError(f"{path}: cannot read register map: {exc.strerror}") from None
        return cls.from_toml(text, origin=str(path), name=path.stem.replace("_", "-"))

    @classmethod
    def from_toml(cls, text: str, *, origin: str = "<register map>", name: str = "") -> RegisterMap:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise RegisterMapError(f"{origin}: not valid TOML: {exc}") from None
        return cls.from_dict(data, origin=origin, name=name)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, origin: str = "<register map>", name: str = "") -> RegisterMap:
        def fail(where: str, reason: str) -> RegisterMapError:
            return RegisterMapError(f"{origin}: {where}: {reason}")

        unknown = set(data) - {"device", "points"}
        if unknown:
            raise fail(", ".join(sorted(unknown)), "unknown table (a map has [device] and [points.NAME])")
        device = dict(data.get("device", {}))
        bad = set(device) - _DEVICE_KEYS
        if bad:
            raise fail(
                "[device]", f"unknown key(s) {', '.join(sorted(bad))} (allowed: {', '.join(sorted(_DEVICE_KEYS))})"
            )
        for key in ("manufacturer", "model", "source"):
            if not isinstance(device.get(key), str) or not device[key].strip():
                raise fail(
                    "[device]",
                    f"{key} is required: say which device the map describes and where its addresses come from"
                    if key == "source"
                    else f"{key} is required",
                )
        table = device.get("table", "holding")
        word_order = device.get("word_order", "big")
        if table not in TABLES:
            raise fail("[device] table", f"must be one of {', '.join(TABLES)}, got {table!r}")
        if word_order not in WORD_ORDERS:
            raise fail("[device] word_order", f"must be one of {', '.join(WORD_ORDERS)}, got {word_order!r}")
        max_read = device.get("max_registers_per_read", 125)
        max_gap = device.get("max_gap_registers", 0)
        write_function = device.get("write_function", 16)
        if not isinstance(max_read, int) or not 1 <= max_read <= 125:
            raise fail("[device] max_registers_per_read", f"must be an integer 1..125, got {max_read!r}")
        if not isinstance(max_gap, int) or max_gap < 0:
            raise fail("[device] max_gap_registers", f"must be a non-negative integer, got {max_gap!r}")
        if write_function not in (6, 16):
            raise fail("[device] write_function", f"must be 6 or 16, got {write_function!r}")

        raw_points = data.get("points", {})
        if not isinstance(raw_points, dict) or not raw_points:
            raise fail("[points]", "a map needs at least one [points.NAME] table")
        points: dict[str, Point] = {}
        for pname, entry in raw_points.items():
            where = f"[points.{pname}]"
            if not isinstance(entry, dict):
                raise fail(where, "must be a table")
            bad = set(entry) - _POINT_KEYS
            if bad:
                raise fail(
                    where, f"unknown key(s) {', '.join(sorted(bad))} (allowed: {', '.join(sorted(_POINT_KEYS))})"
                )
            address = entry.get("address")
            if not isinstance(address, int) or isinstance(address, bool) or not 0 <= address <= 0xFFFF:
                raise fail(where, f"address must be a register number 0..65535, got {address!r}")
            ptype = entry.get("type")
            if not isinstance(ptype, str) or (ptype != "string" and ptype not in TYPES):
                raise fail(where, f"type must be one of {', '.join([*TYPES, 'string'])}, got {ptype!r}")
            if ptype == "string":
                size = entry.get("registers")
                if not isinstance(size, int) or size < 1:
                    raise fail(where, "a string point needs registers = N (its length in registers)")
            else:
                size = TYPES[ptype][0]
                if "registers" in entry:
                    raise fail(where, f"registers applies to strings only, not {ptype}")
            ptable = entry.get("table", table)
            if ptable not in TABLES:
                raise fail(where, f"table must be one of {', '.join(TABLES)}, got {ptable!r}")
            porder = entry.get("word_order", word_order)
            if porder not in WORD_ORDERS:
                raise fail(where, f"word_order must be one of {', '.join(WORD_ORDERS)}, got {porder!r}")
            access = entry.get("access", "R")
            if access not in ("R", "RW"):
                raise fail(where, f"access must be 'R' or 'RW', got {access!r}")
            if access == "RW" and ptable == "input":
                raise fail(where, "input registers are read-only: a writable point lives in the holding table")
            scale = entry.get("scale", 1.0)
            if not isinstance(scale, (int, float)) or isinstance(scale, bool) or scale == 0 or not math.isfinite(scale):
                raise fail(where, f"scale must be a non-zero number, got {scale!r}")
            bounds = entry.get("range")
            if bounds is not None:
                if (
                    not isinstance(bounds, list)
                    or len(bounds) != 2
                    or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)
                    or bounds[0] > bounds[1]
                ):
                    raise fail(where, f"range must be [low, high], got {bounds!r}")
                bounds = (float(bounds[0]), float(bounds[1]))
            none_value = entry.get("none_value")
            if none_value is not None and (
                ptype not in TYPES
                or ptype == "float32"
                or not isinstance(none_value, int)
                or isinstance(none_value, bool)
            ):
                raise fail(where, f"none_value must be an integer raw value of an integer point, got {none_value!r}")
            if none_value is not None and ptype in ("int16", "int32"):
                bits = 16 * size
                if none_value >= 1 << (bits - 1):  # written as the register pattern, e.g. 0x8000
                    none_value -= 1 << bits
            points[pname] = Point(
                name=pname,
                address=address,
                type=ptype,
                table=ptable,
                word_order=porder,
                scale=float(scale),
                scale_register=entry.get("scale_register"),
                units=str(entry.get("units", "")),
                access=access,
                range=bounds,
                size=size,
                default=entry.get("default"),
                none_value=none_value,
                description=str(entry.get("description", "")),
            )
        by_address: dict[tuple[str, int], Point] = {}
        for point in points.values():
            if point.scale_register is not None:
                ref = points.get(point.scale_register)
                if ref is None:
                    raise fail(
                        f"[points.{point.name}]", f"scale_register {point.scale_register!r} is not a point of the map"
                    )
                if ref.type not in ("int16", "uint16") or ref.scale != 1.0:
                    raise fail(
                        f"[points.{point.name}]", f"scale_register {ref.name!r} must be an unscaled int16 or uint16"
                    )
            for register in range(point.address, point.end):
                other = by_address.get((point.table, register))
                if other is not None:
                    raise fail(
                        f"[points.{point.name}]", f"overlaps point {other.name!r} at {point.table} register {register}"
                    )
                by_address[(point.table, register)] = point
        for key in ("serial_point", "firmware_point"):
            ref = device.get(key)
            if ref is not None and ref not in points:
                raise fail(f"[device] {key}", f"{ref!r} is not a point of the map")
        return cls(
            name=name or device["model"],
            manufacturer=device["manufacturer"],
            model=device["model"],
            source=device["source"],
            points=points,
            max_registers_per_read=max_read,
            max_gap_registers=max_gap,
            write_function=write_function,
            serial_point=device.get("serial_point"),
            firmware_point=device.get("firmware_point"),
            origin=origin,
            description=str(device.get("description", "")),
            _by_address=by_address,
        )

    # -- lookup ---------------------------------------------------------------------------------
    def point(self, name: str) -> Point:
        try:
            return self.points[name]
        except KeyError:
            raise KeyError(f"{self.model} map has no point {name!r}") from None

    def point_at(self, table: str, register: int) -> Point | None:
        """The point whose registers include `register` of `table`, if any."""
        return self._by_address.get((table, register))

    def blocks(self, names: Iterable[str] | None = None) -> list[Block]:
        """Group points (all by default) into the fewest reads: contiguous runs per table.

        Points are merged while the gap between them is at most max_gap_registers
        and the run stays within max_registers_per_read. Scale registers of the
        requested points are read too, so a value and its exponent always agree.
        """
        wanted = [self.point(n) for n in (self.points if names is None else names)]
        extra = [self.point(p.scale_register) for p in wanted if p.scale_register]
        chosen = {p.name: p for p in wanted + extra}
        blocks: list[Block] = []
        for table in TABLES:
            run: list[Point] = []
            for point in sorted((p for p in chosen.values() if p.table == table), key=lambda p: p.address):
                if run:
                    start = run[0].address
                    gap = point.address - max(p.end for p in run)
                    if gap <= self.max_gap_registers and point.end - start <= self.max_registers_per_read:
                        run.append(point)
                        continue
                    blocks.append(_block(table, run))
                run = [point]
            if run:
                blocks.append(_block(table, run))
        return blocks

    # -- codec --------------------------------------------------------------------------------------
    def decode_raw(self, point: Point, registers: list[int]) -> int | float | str:
        """The raw value of a point from its registers (no scaling)."""
        if len(registers) != point.size:
            raise RegisterMapError(f"{point.name}: expected {point.size} registers, got {len(registers)}")
        words = list(registers)
        if point.type == "string":
            data = b"".join(struct.pack(">H", w & 0xFFFF) for w in words)
            return data.split(b"\0", 1)[0].decode("ascii", errors="replace").strip()
        if point.word_order == "little":
            words.reverse()
        data = b"".join(struct.pack(">H", w & 0xFFFF) for w in words)
        return struct.unpack(TYPES[point.type][1], data)[0]

    def encode_raw(self, point: Point, raw: int | float | str) -> list[int]:
        """Registers for a raw value of a point; RegisterMapError when it does not fit the type."""
        if point.type == "string":
            data = str(raw).encode("ascii")
            if len(data) > 2 * point.size:
                raise RegisterMapError(f"{point.name}: {raw!r} is longer than {2 * point.size} characters")
            data = data.ljust(2 * point.size, b"\0")
        else:
            fmt = TYPES[point.type][1]
            if point.type != "float32":
                if isinstance(raw, float):
                    if not raw.is_integer():
                        raise RegisterMapError(f"{point.name}: raw value {raw} is not an integer")
                    raw = int(raw)
            try:
                data = struct.pack(fmt, raw)
            except struct.error:
                raise RegisterMapError(f"{point.name}: {raw!r} does not fit {point.type}") from None
        words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
        if point.word_order == "little" and point.type != "string":
            words.reverse()
        return words

    def exponent(self, point: Point, raw_of: Mapping[str, int | float | str]) -> int:
        """Power-of-ten exponent from the point's scale register (0 without one)."""
        if point.scale_register is None:
            return 0
        return int(raw_of[point.scale_register])

    def to_engineering(self, point: Point, raw: int | float | str, exponent: int = 0) -> int | float | str | None:
        if point.none_value is not None and raw == point.none_value:
            return None
        if point.type == "string":
            return raw
        if point.scale == 1.0 and exponent == 0 and point.type != "float32":
            return int(raw)
        return float(raw) * point.scale * (10.0**exponent)

    def to_raw(self, point: Point, value: int | float | str | None, exponent: int = 0) -> int | float | str:
        """Raw value for an engineering value (rounded to the point's resolution); None is the point's none_value."""
        if value is None:
            if point.none_value is None:
                raise RegisterMapError(f"{point.name} has no 'not set' value: None cannot be written")
            return point.none_value
        if point.type == "string":
            return str(value)
        raw = float(value) / (point.scale * (10.0**exponent))
        if point.type == "float32":
            return raw
        return int(round(raw))

    def check_value(self, point: Point, value: Any) -> None:
        """RegisterMapError when a value may not be written to the point (type or range)."""
        if value is None:
            if point.none_value is None:
                raise RegisterMapError(f"{point.name} has no 'not set' value (none_value): None cannot be written")
            return
        if point.type == "string":
            if not isinstance(value, str):
                raise RegisterMapError(f"{point.name} is a string point, got {value!r}")
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise RegisterMapError(f"{point.name}: {value!r} is not a finite number")
        if point.range is not None and not point.range[0] <= value <= point.range[1]:
            lo, hi = point.range
            raise RegisterMapError(
                f"{point.name} = {value:g} {point.units}".rstrip()
                + f" is outside its range {lo:g}..{hi:g} ({self.model} map)"
            )

    def raw_values(self, block: Block, registers: list[int]) -> dict[str, int | float | str]:
        """Raw values of every point of a block from the registers read for it."""
        raw_of: dict[str, int | float | str] = {}
        for point in block.points:
            offset = point.address - block.start
            raw_of[point.name] = self.decode_raw(point, registers[offset : offset + point.size])
        return raw_of

    def engineering(
        self, raw_of: Mapping[str, int | float | str], names: Iterable[str]
    ) -> dict[str, int | float | str | None]:
        """Engineering values of `names` from raw values (which include their scale registers)."""
        out: dict[str, int | float | str | None] = {}
        for name in names:
            point = self.point(name)
            out[name] = self.to_engineering(point, raw_of[name], self.exponent(point, raw_of))
        return out


def _block(table: str, run: list[Point]) -> Block:
    start = run[0].address
    return Block(table=table, start=start, count=max(p.end for p in run) - start, points=tuple(run))
