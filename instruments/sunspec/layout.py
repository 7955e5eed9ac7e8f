"""SunSpec register layouts computed from pysunspec2's model definitions.

The model JSON files that ship with pysunspec2 (sunspec2/models/json) are the
single source of register offsets, point types, scale-factor references,
access and symbols: nothing here is retyped from the specification. A layout
maps every point of one model instance to its offset from the model's ID
register; a ModelBlock holds the registers of one instance and converts
between registers and engineering units, so the driver and the emulator read
and write points the same way.

Point names: top-level points by their name (``WMaxLimPct``); points in a
group as ``Group.Point`` (``PFWInj.PF``); repeated groups with a zero-based
index (``Crv[0].Pt[2].V``).

Values: a point whose registers hold the type's "not implemented" sentinel
(0x8000 int16, 0xFFFF uint16/enum16/bitfield16/count, 0x80000000 int32,
0xFFFFFFFF uint32, 0 accumulators, NaN float32, NUL strings; the table is
pysunspec2's) reads as None. Engineering value = raw x 10^sf where the point
has a scale factor. A point whose scale factor is itself unimplemented reads
as its raw value and refuses an engineering-unit write, as pysunspec2's
computed values do (cvalue), so both read the same device the same way.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from typing import Any

import sunspec2
from sunspec2 import mb, mdef

SUNS_MARKER = (0x5375, 0x6E53)  # "SunS"
END_MODEL_ID = mdef.END_MODEL_ID  # 0xFFFF
BASE_ADDRESSES = (40000, 0, 50000)

_INT_TYPES = {
    # type: (signed, registers)
    mdef.TYPE_INT16: (True, 1),
    mdef.TYPE_UINT16: (False, 1),
    mdef.TYPE_COUNT: (False, 1),
    mdef.TYPE_ACC16: (False, 1),
    mdef.TYPE_ENUM16: (False, 1),
    mdef.TYPE_BITFIELD16: (False, 1),
    mdef.TYPE_SUNSSF: (True, 1),
    mdef.TYPE_PAD: (False, 1),
    mdef.TYPE_INT32: (True, 2),
    mdef.TYPE_UINT32: (False, 2),
    mdef.TYPE_ACC32: (False, 2),
    mdef.TYPE_ENUM32: (False, 2),
    mdef.TYPE_BITFIELD32: (False, 2),
    mdef.TYPE_IPADDR: (False, 2),
    mdef.TYPE_INT64: (True, 4),
    mdef.TYPE_UINT64: (False, 4),
    mdef.TYPE_ACC64: (False, 4),
}
_SCALABLE = {
    mdef.TYPE_INT16,
    mdef.TYPE_UINT16,
    mdef.TYPE_ACC16,
    mdef.TYPE_INT32,
    mdef.TYPE_UINT32,
    mdef.TYPE_ACC32,
    mdef.TYPE_INT64,
    mdef.TYPE_UINT64,
    mdef.TYPE_ACC64,
    mdef.TYPE_COUNT,
}


class LayoutError(ValueError):
    """A model definition or register block that cannot be laid out or decoded."""


@dataclass(frozen=True)
class PointSpec:
    """Where one point lives in a model instance and how to read it."""

    name: str
    offset: int  # registers from the model's ID register
    type: str
    size: int  # registers
    sf: str | int | None  # path of a sunssf point, a fixed exponent, or none
    access: str  # "R" or "RW"
    units: str | None = None
    mandatory: bool = False
    symbols: Mapping[str, int] = field(default_factory=dict)
    fixed_value: int | str | None = None  # value the definition pins (ID)

    @property
    def writable(self) -> bool:
        return self.access == mdef.ACCESS_RW

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class ModelLayout:
    model_id: int
    name: str
    points: Mapping[str, PointSpec]
    length: int  # the model's L: registers after ID and L

    @property
    def size(self) -> int:
        """Registers of the whole instance, ID and L included."""
        return self.length + 2

    @cached_property
    def blank(self) -> tuple[int, ...]:
        """An instance whose every point reads "not implemented", ID and L set: built once per layout."""
        regs = [0] * self.size
        for spec in self.points.values():
            regs[spec.offset : spec.end] = encode(spec, None)
        regs[0] = self.model_id
        regs[1] = self.length
        return tuple(regs)

    def point(self, name: str) -> PointSpec:
        try:
            return self.points[name]
        except KeyError:
            raise KeyError(f"model {self.model_id} ({self.name}) has no point {name!r}") from None

    def point_at(self, offset: int) -> PointSpec | None:
        """The point whose registers include `offset`, if any."""
        for spec in self.points.values():
            if spec.offset <= offset < spec.end:
                return spec
        return None


def definitions_dir() -> str:
    return os.path.join(os.path.dirname(sunspec2.__file__), "models", "json")


@cache
def model_definition(model_id: int) -> Mapping[str, Any]:
    """The pysunspec2 definition of a model (KeyError when it ships none)."""
    path = os.path.join(definitions_dir(), mdef.to_json_filename(model_id))
    if not os.path.exists(path):
        raise KeyError(f"no SunSpec model definition for model {model_id} in pysunspec2")
    return mdef.from_json_file(path)


def _point_size(p: Mapping[str, Any]) -> int:
    ptype = p[mdef.TYPE]
    info = mdef.point_type_info.get(ptype)
    if info is None:
        raise LayoutError(f"unknown SunSpec point type {ptype!r} for point {p.get(mdef.NAME)!r}")
    size = info["len"] if info["len"] is not None else p.get(mdef.SIZE)
    if not size:
        raise LayoutError(f"point {p.get(mdef.NAME)!r} has no size")
    return int(size)


def _group_fixed_size(g: Mapping[str, Any]) -> int:
    """Registers of one instance of a group that repeats by model length (nested groups must be fixed)."""
    total = sum(_point_size(p) for p in g.get(mdef.POINTS, []))
    for sub in g.get(mdef.GROUPS, []):
        count = sub.get(mdef.COUNT)
        if count is None:
            total += _group_fixed_size(sub)
        elif isinstance(count, int) and count > 0:
            total += count * _group_fixed_size(sub)
        else:
            raise LayoutError(
                f"group {sub.get(mdef.NAME)!r} has a variable count inside a group that repeats by length"
            )
    return total


CountOf = Callable[[PointSpec], int]


def build_layout(
    model_id: int,
    *,
    count_of: CountOf | None = None,
    length: int | None = None,
    repeats: int = 1,
) -> ModelLayout:
    """Lay out one model instance.

    count_of gives the value of a count point (e.g. NCrv) once it is placed,
    so repeated groups take their size from the device; by default a count
    point counts 1. A group with count 0 repeats to fill `length` (the model's
    L as the device reports it), or `repeats` times when no length is given.
    """
    definition = model_definition(model_id)
    top = definition[mdef.GROUP]
    points: dict[str, PointSpec] = {}
    sf_refs: dict[str, list[str]] = {}
    default_count = count_of or (lambda spec: 1)

    def walk(group: Mapping[str, Any], prefix: str, ancestors: list[str], offset: int) -> int:
        scopes = [prefix] + ancestors
        for p in group.get(mdef.POINTS, []):
            name = prefix + p[mdef.NAME]
            size = _point_size(p)
            sf = p.get(mdef.SF)
            if isinstance(sf, str):
                sf_refs[name] = [scope + sf for scope in scopes]
            symbols = {s[mdef.NAME]: int(s[mdef.VALUE]) for s in p.get(mdef.SYMBOLS, []) or []}
            points[name] = PointSpec(
                name=name,
                offset=offset,
                type=p[mdef.TYPE],
                size=size,
                sf=sf if isinstance(sf, int) else None,
                access=p.get(mdef.ACCESS, mdef.ACCESS_R),
                units=p.get(mdef.UNITS),
                mandatory=p.get(mdef.MANDATORY, mdef.MANDATORY_FALSE) == mdef.MANDATORY_TRUE,
                symbols=symbols,
                fixed_value=p.get(mdef.VALUE),
            )
            offset += size
        for sub in group.get(mdef.GROUPS, []):
            gname = sub[mdef.NAME]
            count = sub.get(mdef.COUNT)
            if count is None:
                offset = walk(sub, f"{prefix}{gname}.", scopes, offset)
                continue
            if isinstance(count, str):
                spec = next((points[s + count] for s in scopes if s + count in points), None)
                if spec is None:
                    raise LayoutError(f"model {model_id}: count point {count!r} of group {gname!r} not found")
                n = int(default_count(spec) or 0)
            elif count == 0:
                instance = _group_fixed_size(sub)
                if length is not None:
                    remaining = length + 2 - offset
                    if remaining < 0 or remaining % instance:
                        raise LayoutError(
                            f"model {model_id}: length {length} does not fit whole {gname!r} groups of {instance} registers"
                        )
                    n = remaining // instance
                else:
                    n = repeats
            else:
                n = int(count)
            for i in range(n):
                offset = walk(sub, f"{prefix}{gname}[{i}].", scopes, offset)
        return offset

    total = walk(top, "", [], 0)
    for name, candidates in sf_refs.items():
        target = next((c for c in candidates if c in points), None)
        if target is None:
            raise LayoutError(f"model {model_id}: scale factor of {name!r} not found")
        spec = points[name]
        points[name] = replace(spec, sf=target)
    return ModelLayout(model_id=model_id, name=top[mdef.NAME], points=points, length=total - 2)


@cache
def fixed_layout(model_id: int) -> ModelLayout:
    """The layout of a model without variable groups (cached): 1, 701, 702, 704..."""
    return build_layout(model_id)


# -- register codec -----------------------------------------------------------


def _sentinel(ptype: str) -> Any:
    return mb.unimpl_value.get(ptype)


def decode(spec: PointSpec, registers: Sequence[int]) -> int | float | str | None:
    """Raw value of a point from the model's registers (offset 0 = ID); None when unimplemented."""
    regs = registers[spec.offset : spec.end]
    if len(regs) < spec.size:
        return None
    data = b"".join(struct.pack(">H", r & 0xFFFF) for r in regs)
    ptype = spec.type
    if ptype == mdef.TYPE_PAD:
        return None
    if ptype in _INT_TYPES:
        signed, _ = _INT_TYPES[ptype]
        value = int.from_bytes(data, "big", signed=signed)
        sentinel = _sentinel(ptype)
        if signed and sentinel is not None and sentinel > 0:
            sentinel = None
        if sentinel is not None and value == sentinel:
            return None
        return value
    if ptype == mdef.TYPE_STRING:
        text = data.split(b"\0", 1)[0]
        if not text:
            return None
        return text.decode("utf-8", errors="replace").rstrip()
    if ptype == mdef.TYPE_FLOAT32:
        value = struct.unpack(">f", data)[0]
        return None if math.isnan(value) else value
    if ptype == mdef.TYPE_FLOAT64:
        value = struct.unpack(">d", data)[0]
        return None if math.isnan(value) else value
    if ptype == mdef.TYPE_EUI48:
        if data[2:] == b"\xff" * 6:
            return None
        return ":".join(f"{b:02X}" for b in data[2:])
    if ptype == mdef.TYPE_IPV6ADDR:
        return None if not any(data) else data.hex()
    raise LayoutError(f"cannot decode point type {ptype!r}")


def encode(spec: PointSpec, raw: int | float | str | None) -> list[int]:
    """Registers for a raw value; None writes the unimplemented sentinel."""
    ptype = spec.type
    nbytes = spec.size * 2
    if ptype == mdef.TYPE_STRING:
        data = b"" if raw is None else str(raw).encode("utf-8")
        if len(data) > nbytes:
            raise ValueError(f"{spec.name}: string of {len(data)} bytes exceeds {nbytes}")
        data = data.ljust(nbytes, b"\0")
    elif ptype in (mdef.TYPE_FLOAT32, mdef.TYPE_FLOAT64):
        fmt = ">f" if ptype == mdef.TYPE_FLOAT32 else ">d"
        data = struct.pack(fmt, math.nan if raw is None else float(raw))
    elif ptype in _INT_TYPES:
        signed, _ = _INT_TYPES[ptype]
        bits = nbytes * 8
        if raw is None:
            value = _sentinel(ptype) or 0
            data = int(value).to_bytes(nbytes, "big", signed=value < 0)
        else:
            if isinstance(raw, float):
                if not raw.is_integer():
                    raise ValueError(f"{spec.name}: raw value {raw} is not an integer")
                raw = int(raw)
            if not isinstance(raw, int):
                raise ValueError(f"{spec.name}: raw value {raw!r} is not an integer")
            lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
            if not lo <= raw <= hi:
                raise ValueError(f"{spec.name}: {raw} does not fit {ptype}")
            sentinel = _sentinel(ptype)
            if ptype not in (mdef.TYPE_PAD,) and sentinel not in (None, 0) and raw == sentinel:
                raise ValueError(f"{spec.name}: {raw} is the {ptype} 'not implemented' value")
            data = raw.to_bytes(nbytes, "big", signed=signed)
    else:
        raise LayoutError(f"cannot encode point type {ptype!r}")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, nbytes, 2)]


def scaled(raw: int, exponent: int) -> float:
    return raw * (10.0**exponent) if exponent >= 0 else raw / (10.0**-exponent)


def unscaled(value: float, exponent: int) -> int:
    return int(round(value / (10.0**exponent))) if exponent >= 0 else int(round(value * (10.0**-exponent)))


class ModelBlock:
    """The registers of one model instance, read and written in engineering units."""

    def __init__(self, layout: ModelLayout, registers: Sequence[int] | None = None) -> None:
        self.layout = layout
        if registers is None:
            self.registers = list(layout.blank)
        else:
            if len(registers) < 2:
                raise LayoutError(f"model {layout.model_id}: block of {len(registers)} registers")
            self.registers = [int(r) & 0xFFFF for r in registers]

    @property
    def model_id(self) -> int:
        return self.layout.model_id

    def spec(self, name: str) -> PointSpec:
        return self.layout.point(name)

    def raw(self, name: str) -> int | float | str | None:
        return decode(self.layout.point(name), self.registers)

    def set_raw(self, name: str, raw: int | float | str | None) -> None:
        spec = self.layout.point(name)
        self.registers[spec.offset : spec.end] = encode(spec, raw)

    def exponent(self, spec: PointSpec) -> int | None:
        """Scale-factor exponent of a point: 0 without one, None when its sunssf is unimplemented."""
        if spec.sf is None:
            return 0
        if isinstance(spec.sf, int):
            return spec.sf
        value = decode(self.layout.point(spec.sf), self.registers)
        return None if value is None else int(value)

    def get(self, name: str) -> int | float | str | None:
        """Engineering value: scaled float for points with a scale factor, else (or when that is unimplemented) the raw value."""
        spec = self.layout.point(name)
        raw = decode(spec, self.registers)
        if raw is None or spec.sf is None or spec.type not in _SCALABLE:
            return raw
        exponent = self.exponent(spec)
        if exponent is None:
            return raw
        return scaled(int(raw), exponent)

    def to_raw(self, name: str, value: int | float | str | None) -> int | float | str | None:
        """Raw value for an engineering value, with the block's current scale factor."""
        spec = self.layout.point(name)
        if value is None or spec.sf is None or spec.type not in _SCALABLE:
            if value is not None and spec.type in _INT_TYPES and isinstance(value, float):
                if not value.is_integer():
                    raise ValueError(f"{name}: {value} is not an integer")
                return int(value)
            return value
        exponent = self.exponent(spec)
        if exponent is None:
            raise ValueError(f"{name}: its scale factor {spec.sf} is not implemented")
        return unscaled(float(value), exponent)

    def encode_value(self, name: str, value: int | float | str | None) -> list[int]:
        return encode(self.layout.point(name), self.to_raw(name, value))

    def set(self, name: str, value: int | float | str | None) -> None:
        spec = self.layout.point(name)
        self.registers[spec.offset : spec.end] = self.encode_value(name, value)

    def values(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        names = list(self.layout.points) if names is None else list(names)
        return {n: self.get(n) for n in names}
