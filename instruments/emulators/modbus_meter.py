"""Emulated Modbus meter: a RegisterMapEmulator serving a meter map (Eastron SDM630 by default).

Hooks for the virtual lab, beyond RegisterMapEmulator's ``get``/``set``/``on_write``:

- ``measurement_source``: called before each read request, returning a
  MeterReading whose values are written to the map's meter points (those of
  instruments.drivers.modbus_meter); None leaves the points as last set.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from ..regmap.spec import RegisterMap
from ..roles import MeterReading
from .common import Clock
from .regmap_device import RegisterMapEmulator

_PHASE_FIELDS = (
    ("voltage", "v", "voltage_v"),
    ("current", "a", "current_a"),
    ("power", "w", "power_w"),
    ("reactive_power", "var", "reactive_power_var"),
)
_TOTALS = (
    "power_w",
    "reactive_power_var",
    "voltage_v",
    "current_a",
    "frequency_hz",
    "energy_import_wh",
    "energy_export_wh",
)


class ModbusMeterEmulator(RegisterMapEmulator):
    """A meter described by a register map, with a measurement source."""

    def __init__(
        self,
        register_map: RegisterMap | str = "eastron-sdm630",
        unit_id: int = 1,
        clock: Clock | None = None,
        *,
        values: Mapping[str, Any] | None = None,
        link: str = "tcp",
        baud: int = 115200,
    ) -> None:
        super().__init__(register_map, unit_id, clock, values=values, link=link, baud=baud)
        self.measurement_source: Callable[[], MeterReading] | None = None

    def publish(self, reading: MeterReading) -> None:
        """Write a reading into the meter points the map has (NaN leaves a point as it was)."""
        points = self.map.points
        updates: dict[str, float] = {}
        for n, phase in enumerate(reading.phases, start=1):
            for quantity, unit, field in _PHASE_FIELDS:
                updates[f"{quantity}_l{n}_{unit}"] = getattr(phase, field)
        for name in _TOTALS:
            updates[name] = getattr(reading, name)
        with self.lock:
            for name, value in updates.items():
                if name in points and not math.isnan(value):
                    self.set(name, value)

    def read_registers(self, table: str, address: int, count: int):
        source = self.measurement_source
        if source is not None:
            self.publish(source())
        return super().read_registers(table, address, count)
