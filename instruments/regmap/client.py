"""Points by name over Modbus: block reads, checked writes.

RegisterMapClient turns a RegisterMap and a ModbusTransport into
``read_points()``, ``read_point()``, ``write_point()`` and ``write_points()``
in engineering units. Reads group the requested points into the fewest
contiguous requests per table (see RegisterMap.blocks), so a value and the
scale register it depends on come from the same moment where they share a
block. Writes are checked before anything is sent: the point must be
writable, the value a finite number (or a string for string points) inside
the point's range; a refusal is a RegisterMapError naming the point, its
range and the map file. Timeouts, reconnection, exception responses and
threads are the transport's (transports.modbus).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..transports.modbus import ModbusTransport
from .spec import Point, RegisterMap, RegisterMapError


class RegisterMapClient:
    """Read and write one device's points by name."""

    def __init__(self, register_map: RegisterMap, transport: ModbusTransport) -> None:
        self.map = register_map
        self.transport = transport

    @property
    def lock(self):
        return self.transport.lock

    def read_points(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        """Engineering values of `names` (every point when None), in block reads."""
        wanted = list(self.map.points if names is None else names)
        for name in wanted:
            self.map.point(name)  # KeyError naming the map before any request
        raw_of: dict[str, Any] = {}
        with self.lock:
            for block in self.map.blocks(wanted):
                registers = self.transport.read_registers(block.table, block.start, block.count)
                raw_of.update(self.map.raw_values(block, registers))
        return self.map.engineering(raw_of, wanted)

    def read_point(self, name: str) -> Any:
        return self.read_points([name])[name]

    def _check_write(self, name: str, value: Any) -> Point:
        point = self.map.point(name)
        if not point.writable:
            raise RegisterMapError(f"{name} is read-only in the {self.map.model} map ({self.map.origin})")
        try:
            self.map.check_value(point, value)
        except RegisterMapError as exc:
            raise RegisterMapError(f"{exc} ({self.map.origin})" if self.map.origin else str(exc)) from None
        return point

    def write_point(self, name: str, value: Any) -> None:
        """Write one point in engineering units; checked before anything is sent."""
        self.write_points({name: value})

    def write_points(self, values: Mapping[str, Any]) -> None:
        """Write several points in the order given; every value is checked before the first is sent."""
        points = [(self._check_write(name, value), value) for name, value in values.items()]
        with self.lock:
            exponents = {}
            needed = [p.scale_register for p, _ in points if p.scale_register]
            if needed:
                exponents = {n: int(v) for n, v in self.read_points(needed).items()}
            for point, value in points:
                exponent = exponents.get(point.scale_register, 0) if point.scale_register else 0
                try:
                    words = self.map.encode_raw(point, self.map.to_raw(point, value, exponent))
                except RegisterMapError as exc:
                    raise RegisterMapError(f"cannot write {point.name} = {value!r}: {exc}") from None
                if self.map.write_function == 6 and len(words) == 1:
                    self.transport.write_register(point.address, words[0])
                else:
                    self.transport.write_registers(point.address, words)
