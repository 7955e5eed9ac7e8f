"""A Modbus device emulated from its register map: any map, TCP or RTU.

RegisterMapEmulator serves the points of a RegisterMap (instruments.regmap)
and answers like a device:

- reads: function 3 reads the holding table, function 4 the input table; a
  register no point covers answers exception 2 (illegal data address),
  unless the map says the device answers gaps (max_gap_registers = n > 0), in
  which case a register with mapped registers at most n before and after it reads 0;
- writes (functions 6, 16 and 23): a register of no point, of a read-only
  point or of the input table answers exception 2; a write that covers only
  part of a point, a value that is not a number (NaN) or is outside the
  point's range answers exception 3 and changes nothing;
- ``on_write(name, value)`` is called, without the lock held, for each point
  a client wrote; if it raises, the device answers exception 4.

Points start at their map ``default`` (else 0, or "" for strings); a point
with a ``none_value`` reads as None while it holds that raw value.

Hooks: ``get(name)`` / ``set(name, value)`` in engineering units (set ignores
access and range: the plant writes measurements), ``values()``; plus
ModbusEmulator's ``responding``, ``command_log``, ``drop_connections()``,
``link`` ("tcp" or "rtu"), ``address``.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from pymodbus.constants import ExcCodes

from ..regmap.maps import load_map
from ..regmap.spec import Point, RegisterMap, RegisterMapError
from .common import Clock
from .modbus_server import ModbusEmulator

log = logging.getLogger(__name__)


class RegisterMapEmulator(ModbusEmulator):
    """Serves one register map on 127.0.0.1 (TCP) or a virtual serial pair (RTU)."""

    read_functions = (3, 4)

    def __init__(
        self,
        register_map: RegisterMap | str,
        unit_id: int = 1,
        clock: Clock | None = None,
        *,
        values: Mapping[str, Any] | None = None,
        link: str = "tcp",
        baud: int = 115200,
    ) -> None:
        super().__init__(unit_id, clock, link=link, baud=baud)
        self.map = load_map(register_map) if isinstance(register_map, str) else register_map
        self.on_write: Callable[[str, object], None] | None = None
        self._registers: dict[tuple[str, int], int] = {}
        for point in self.map.points.values():
            for register in range(point.address, point.end):
                self._registers[(point.table, register)] = 0
        self._mapped = {t: sorted(r for (tt, r) in self._registers if tt == t) for t in ("holding", "input")}
        # Scale registers first, so the values they scale are encoded with them.
        ordered = sorted(self.map.points.values(), key=lambda p: p.name not in self._scale_registers())
        for point in ordered:
            default = point.default if point.default is not None else ("" if point.type == "string" else 0)
            self._store(point, default)
        for name, value in (values or {}).items():
            self.set(name, value)

    def _scale_registers(self) -> set[str]:
        return {p.scale_register for p in self.map.points.values() if p.scale_register}

    # -- engineering access for the plant -------------------------------------------------
    def _words(self, point: Point) -> list[int]:
        return [self._registers[(point.table, r)] for r in range(point.address, point.end)]

    def _exponent(self, point: Point) -> int:
        if point.scale_register is None:
            return 0
        ref = self.map.point(point.scale_register)
        return int(self.map.decode_raw(ref, self._words(ref)))

    def _store(self, point: Point, value: Any) -> None:
        raw = self.map.to_raw(point, value, self._exponent(point))
        for offset, word in enumerate(self.map.encode_raw(point, raw)):
            self._registers[(point.table, point.address + offset)] = word

    def get(self, name: str) -> Any:
        with self.lock:
            point = self.map.point(name)
            return self.map.to_engineering(point, self.map.decode_raw(point, self._words(point)), self._exponent(point))

    def set(self, name: str, value: Any) -> None:
        with self.lock:
            self._store(self.map.point(name), value)

    def values(self) -> dict[str, Any]:
        with self.lock:
            return {name: self.get(name) for name in self.map.points}

    # -- Modbus side (runs in the server thread) -----------------------------------------------
    def read_registers(self, table: str, address: int, count: int):
        with self.lock:
            words = []
            for register in range(address, address + count):
                word = self._registers.get((table, register))
                if word is None:
                    if not self._in_gap(table, register):
                        return ExcCodes.ILLEGAL_ADDRESS
                    word = 0
                words.append(word)
            return words

    def _in_gap(self, table: str, register: int) -> bool:
        """An unmapped register the device answers: mapped ones within max_gap_registers on both sides."""
        gap = self.map.max_gap_registers
        mapped = self._mapped[table]
        i = bisect.bisect_left(mapped, register)
        return gap > 0 and 0 < i < len(mapped) and register - mapped[i - 1] <= gap and mapped[i] - register <= gap

    def write_registers(self, address: int, values: list[int]):
        events: list[tuple[str, int | float | str | None]] = []
        with self.lock:
            touched: dict[str, Point] = {}
            for register in range(address, address + len(values)):
                point = self.map.point_at("holding", register)
                if point is None or not point.writable:
                    return ExcCodes.ILLEGAL_ADDRESS
                touched[point.name] = point
            staged: dict[str, Any] = {}
            for point in touched.values():
                if point.address < address or point.end > address + len(values):
                    return ExcCodes.ILLEGAL_VALUE
                words = values[point.address - address : point.end - address]
                try:
                    raw = self.map.decode_raw(point, words)
                    value = self.map.to_engineering(point, raw, self._exponent(point))
                    if isinstance(value, float) and math.isnan(value):
                        return ExcCodes.ILLEGAL_VALUE
                    self.map.check_value(point, value)  # None (the point's none_value) passes where allowed
                except RegisterMapError:
                    return ExcCodes.ILLEGAL_VALUE
                staged[point.name] = (words, value)
            for name, (words, value) in staged.items():
                point = touched[name]
                for offset, word in enumerate(words):
                    self._registers[("holding", point.address + offset)] = word
                events.append((name, value))
        callback = self.on_write
        if callback is not None:
            try:
                for name, value in events:
                    callback(name, value)
            except Exception:
                log.exception("register-map emulator: on_write hook failed")
                return ExcCodes.DEVICE_FAILURE
        return None
