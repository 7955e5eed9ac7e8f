"""A SunSpec Modbus map served like a device: the base of the SunSpec DER and meter emulators.

The map starts with "SunS" at ``base_address`` (40000 by default) and chains
the requested models, laid out from pysunspec2's model definitions
(instruments.sunspec.layout), then the 0xFFFF end model. Models with
repeating groups (705 curves and their points) are laid out with ``counts``
(count point name -> value, e.g. NCrv = 3, NPt = 4) and their count points
hold those values. Points nobody set hold their "not implemented" sentinel.

Like a device, it answers Modbus exception responses:

- code 1 (illegal function) for anything but holding-register reads and writes;
- code 2 (illegal data address) for reads outside the map, writes to
  registers outside the map, and writes that reach only read-only registers
  (model headers, measurements, scale factors, points of a curve the device
  marks read-only); a block write that also covers writable points is
  accepted and its read-only registers (a model's ID/L header included) are
  ignored, as field inverters do with a controller that writes a whole model
  from its header (model 123 as one 26-register block); with
  ``strict_writes`` the device refuses such a block write with code 2, as
  strict devices do;
- code 3 (illegal data value) for a write that covers only part of a
  multi-register point, an enumerated value outside the point's symbols, or a
  value outside the range the device enforces (``value_ranges``);
- code 4 (server device failure) when the ``on_write`` hook fails.

Every refused write, and every accepted one with registers ignored, is a
WriteFinding (registers, models, exception code, why) in ``write_findings``
(the latest FINDINGS_KEPT) and passed to ``on_write_finding``.

Hooks: ``get(model_id, point)`` / ``set(model_id, point, value)`` in
engineering units (None for, or to make, an unimplemented point);
``on_write(model_id, point, value)`` called without the lock held for each
point a client wrote; ``on_write_finding(finding)`` with the lock held; plus ModbusEmulator's ``responding``, ``command_log``,
``drop_connections()``, ``link`` ("tcp" or "rtu").
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from pymodbus.constants import ExcCodes

from ..sunspec.layout import END_MODEL_ID, SUNS_MARKER, ModelBlock, PointSpec, build_layout, decode
from .common import Clock
from .modbus_server import ModbusEmulator, ModbusRequestRecord

log = logging.getLogger(__name__)
FINDINGS_KEPT = 1000  # the latest write findings an emulator keeps; on_write_finding sees them all

DEFAULT_BASE = 40000
ENUM_TYPES = ("enum16", "enum32")
DEFAULT_COUNTS: Mapping[str, int] = {"NCrv": 3, "NPt": 4}

__all__ = ["DEFAULT_BASE", "ModbusRequestRecord", "SunSpecEmulator", "WriteFinding"]


@dataclass(frozen=True)
class WriteFinding:
    """A write the device refused, or accepted with registers it ignored: what a report puts beside a verdict."""

    time_s: float
    address: int
    count: int
    models: tuple[int, ...]
    exception_code: int | None  # None: accepted, `why` names what was ignored
    why: str

    @property
    def text(self) -> str:
        span = f"{self.address}-{self.address + self.count - 1}" if self.count > 1 else str(self.address)
        models = ", ".join(str(m) for m in self.models) or "none"
        outcome = "accepted" if self.exception_code is None else f"refused (exception {self.exception_code})"
        return f"write to registers {span} (model {models}) {outcome}: {self.why}"


class SunSpecEmulator(ModbusEmulator):
    """A SunSpec device's Modbus map, served from start() to stop()."""

    read_functions = (3,)
    # Engineering ranges the device enforces on writes: (model, point) -> (low, high).
    value_ranges: Mapping[tuple[int, str], tuple[float, float]] = {}  # a device may set its own

    def __init__(
        self,
        models: Iterable[int],
        unit_id: int = 1,
        clock: Clock | None = None,
        *,
        base_address: int = DEFAULT_BASE,
        counts: Mapping[str, int] | None = None,
        link: str = "tcp",
        baud: int = 115200,
    ) -> None:
        super().__init__(unit_id, clock, link=link, baud=baud)
        self.models = tuple(int(m) for m in models)
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"each model may appear once, got {self.models}")
        self.base_address = base_address
        self.counts = dict(DEFAULT_COUNTS, **(counts or {}))
        self.on_write: Callable[[int, str, object], None] | None = None
        self.strict_writes = False  # refuse any write that covers a header or a read-only register
        self.write_findings: deque[WriteFinding] = deque(maxlen=FINDINGS_KEPT)
        self.on_write_finding: Callable[[WriteFinding], None] | None = None
        self.blocks: dict[int, ModelBlock] = {}
        self._starts: list[tuple[int, ModelBlock]] = []
        start = base_address + 2
        for model_id in self.models:
            block = self._new_block(model_id)
            self.blocks[model_id] = block
            self._starts.append((start, block))
            start += block.layout.size
        self._end = start  # register of the end model's ID

    def _new_block(self, model_id: int) -> ModelBlock:
        used: dict[str, int] = {}

        def count_of(spec: PointSpec) -> int:
            used[spec.name] = self.counts.get(spec.name.rsplit(".", 1)[-1], 1)
            return used[spec.name]

        block = ModelBlock(build_layout(model_id, count_of=count_of))
        for name, n in used.items():
            block.set_raw(name, n)
        return block

    # -- engineering access for the plant --------------------------------------------------
    def _block(self, model_id: int) -> ModelBlock:
        try:
            return self.blocks[model_id]
        except KeyError:
            raise KeyError(f"the emulator serves no model {model_id} (models: {self.models})") from None

    def get(self, model_id: int, point: str) -> float | int | str | None:
        with self.lock:
            return self._block(model_id).get(point)

    def set(self, model_id: int, point: str, value: float | int | str | None) -> None:
        with self.lock:
            self._block(model_id).set(point, value)

    def set_raw(self, model_id: int, point: str, raw: int | float | str | None) -> None:
        with self.lock:
            self._block(model_id).set_raw(point, raw)

    def registers(self) -> list[int]:
        """The whole map from the 'SunS' marker to the end model, as a client reads it."""
        with self.lock:
            image = list(SUNS_MARKER)
            for _, block in self._starts:
                image += block.registers
            return image + [END_MODEL_ID, 0]

    # -- Modbus side (runs in the server thread) ---------------------------------------------
    def read_registers(self, table: str, address: int, count: int):
        image = self.registers()
        offset = address - self.base_address
        if offset < 0 or offset + count > len(image):
            return ExcCodes.ILLEGAL_ADDRESS
        return image[offset : offset + count]

    def _locate(self, register: int) -> tuple[int, ModelBlock] | None:
        for start, block in self._starts:
            if start <= register < start + block.layout.size:
                return start, block
        return None

    def points_at(self, address: int, count: int) -> list[tuple[int, PointSpec]]:
        """(model id, point) of every point with a register in [address, address + count): for wire logs."""
        found: list[tuple[int, PointSpec]] = []
        for start, block in self._starts:
            first, last = max(address, start), min(address + count, start + block.layout.size)
            for spec in block.layout.points.values() if first < last else ():
                if start + spec.offset < last and start + spec.end > first:
                    found.append((block.model_id, spec))
        return found

    def writable(self, block: ModelBlock, spec: PointSpec) -> bool:
        """Whether a client may write this point now (read-only curves refuse their points)."""
        if not spec.writable:
            return False
        if spec.name.startswith("Crv["):
            curve = spec.name.split(".", 1)[0]
            read_only = f"{curve}.ReadOnly"
            if read_only in block.layout.points and block.raw(read_only) == 1:
                return False
        return True

    def after_write(self, model_id: int, point: str) -> None:
        """Device behaviour that follows a client's write, with the lock held (subclasses act here)."""

    def write_registers(self, address: int, values: list[int]):
        with self.lock:
            code, why, events = self._write(address, values)
            if why:
                self._note_write(address, len(values), code, why)
        return self._report(events) if code is None else code

    def _note_write(self, address: int, count: int, code: ExcCodes | None, why: str) -> None:
        """A refused write, or one with registers ignored, as a finding (with the lock held)."""
        models = {m for m, _ in self.points_at(address, count)} | set(self._headers_at(address, count))
        finding = WriteFinding(
            self.clock.now(), address, count, tuple(sorted(models)), None if code is None else int(code), why
        )
        self.write_findings.append(finding)
        hook = self.on_write_finding
        if hook is not None:
            try:
                hook(finding)
            except Exception:  # an observer must never change what the device answers
                log.exception("SunSpec emulator: on_write_finding hook failed")

    def _headers_at(self, address: int, count: int) -> list[int]:
        """Models whose ID/L header [address, address + count) covers."""
        return [b.model_id for start, b in self._starts if address < start + 2 and start < address + count]

    def _write(self, address: int, values: list[int]) -> tuple[ExcCodes | None, str, list[tuple[int, str, object]]]:
        """(exception code or None, why it was refused or what was ignored, points written), lock held."""
        touched: dict[tuple[int, str], tuple[int, ModelBlock, PointSpec]] = {}
        ignored: dict[str, None] = {}  # what a lenient device ignored, in order
        same = True  # every ignored register was written with the value the device holds
        for i in range(len(values)):
            found = self._locate(address + i)
            if found is None:
                return ExcCodes.ILLEGAL_ADDRESS, f"register {address + i} is outside every model", []
            start, block = found
            offset = address + i - start
            spec = block.layout.point_at(offset)
            if offset < 2:
                what = f"model {block.model_id} header (ID, L)"
            elif spec is None:
                what = f"model {block.model_id} register {address + i} (no point)"
            elif not self.writable(block, spec):
                what = f"read-only {block.model_id}.{spec.name}"
            else:
                touched[(block.model_id, spec.name)] = (start, block, spec)
                continue
            if self.strict_writes:
                return ExcCodes.ILLEGAL_ADDRESS, f"strict device: the write covers {what}", []
            ignored[what] = None
            same = same and block.registers[offset] == values[i]
        if not touched:
            return ExcCodes.ILLEGAL_ADDRESS, f"nothing writable: {', '.join(ignored)}", []
        staged: dict[int, list[int]] = {}
        for start, block, spec in touched.values():
            first, last = start + spec.offset, start + spec.end
            if first < address or last > address + len(values):
                return ExcCodes.ILLEGAL_VALUE, f"part of the multi-register point {block.model_id}.{spec.name}", []
            regs = staged.setdefault(block.model_id, list(block.registers))
            regs[spec.offset : spec.end] = values[first - address : last - address]
        for _start, block, spec in touched.values():
            trial = ModelBlock(block.layout, staged[block.model_id])
            raw = decode(spec, trial.registers)
            name = f"{block.model_id}.{spec.name}"
            if spec.type in ENUM_TYPES and raw is not None and spec.symbols and raw not in spec.symbols.values():
                return ExcCodes.ILLEGAL_VALUE, f"{name} = {raw} is none of its symbols", []
            bounds = self.value_ranges.get((block.model_id, spec.name))
            value = trial.get(spec.name)
            if bounds is not None and isinstance(value, (int, float)) and not bounds[0] <= value <= bounds[1]:
                return ExcCodes.ILLEGAL_VALUE, f"{name} = {value:g} is outside {bounds[0]:g} to {bounds[1]:g}", []
        for model_id, regs in staged.items():
            self.blocks[model_id].registers[:] = regs
        events: list[tuple[int, str, object]] = []
        for _start, block, spec in touched.values():
            self.after_write(block.model_id, spec.name)
            events.append((block.model_id, spec.name, block.get(spec.name)))
        if not ignored:
            return None, "", events
        return None, f"ignored {', '.join(ignored)}" + (" (written as the device holds them)" if same else ""), events

    def _report(self, events: list[tuple[int, str, object]]) -> ExcCodes | None:
        """The on_write hook for each point written, without the lock."""
        callback = self.on_write
        if callback is not None:
            try:
                for model_id, name, value in events:
                    callback(model_id, name, value)
            except Exception:
                # The registers hold the write; the device reports its own failure.
                log.exception("SunSpec emulator: on_write hook failed")
                return ExcCodes.DEVICE_FAILURE
        return None
