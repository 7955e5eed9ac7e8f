"""A Modbus meter whose registers a map file describes (Carlo Gavazzi EM24, Eastron SDM630, or your own).

Role: Meter. Address: ``modbus+tcp://host:port/unit`` or
``modbus+rtu:///dev/ttyUSB0?baud=9600&parity=N&unit=1``. Options: ``map``, a
bundled map's name (``carlo-gavazzi-em24``, ``eastron-sdm630``) or the path
of a TOML map file (format: instruments.regmap.spec).

read() takes the points below from the map, in as few block reads as the map
allows, and builds a MeterReading; a point the map lacks is NaN, or derived
from the phases (totals as sums, voltage as the mean). Positive power is
import, as meters count it.

=============================================  ==========================================
``voltage_l1_v`` ``voltage_l2_v`` ``voltage_l3_v``   line-to-neutral RMS voltage per phase
``current_l1_a`` ... ``current_l3_a``                RMS current per phase
``power_l1_w`` ... ``power_l3_w``                    active power per phase
``reactive_power_l1_var`` ... ``_l3_var``            reactive power per phase
``power_w`` ``reactive_power_var``                   totals
``voltage_v`` ``current_a`` ``frequency_hz``         mean L-N voltage, sum of currents, frequency
``energy_import_wh`` ``energy_export_wh``            active energy registers
=============================================  ==========================================

Any other point of the map is reachable with read_point()/write_point();
writes are checked against the map's access and range before sending. A
meter has no setpoints, so no safety limits apply. Timeouts, reconnection,
exception responses and threads: see transports.modbus.
"""

from __future__ import annotations

import math
from typing import Any

from ..regmap.device import RegisterMapDevice
from ..roles import Meter, MeterReading, PhaseReading

PHASE_FIELDS = (("voltage", "v"), ("current", "a"), ("power", "w"), ("reactive_power", "var"))
TOTALS = (
    "power_w",
    "reactive_power_var",
    "voltage_v",
    "current_a",
    "frequency_hz",
    "energy_import_wh",
    "energy_export_wh",
)
METER_POINTS = tuple(f"{q}_l{n}_{u}" for n in (1, 2, 3) for q, u in PHASE_FIELDS) + TOTALS


class ModbusMeter(RegisterMapDevice, Meter):
    """Modbus meter described by a register map."""

    model = "Modbus meter (register map)"
    driver_name = "modbus-meter"

    def __init__(self, address: str, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        points = self.register_map.points
        self.meter_points = tuple(name for name in METER_POINTS if name in points)
        self.phase_numbers = tuple(n for n in (1, 2, 3) if f"power_l{n}_w" in points or f"voltage_l{n}_v" in points)
        if "power_w" not in points and not self.phase_numbers:
            raise ValueError(
                f"register map {self.register_map.origin or self.register_map.name} has neither power_w nor per-phase "
                "power points: a meter map names its points as instruments.drivers.modbus_meter lists"
            )

    def read(self) -> MeterReading:
        values = self.read_points(self.meter_points)

        def get(name: str) -> float:
            value = values.get(name)
            return math.nan if value is None else float(value)

        phases = tuple(
            PhaseReading(
                voltage_v=get(f"voltage_l{n}_v"),
                current_a=get(f"current_l{n}_a"),
                power_w=get(f"power_l{n}_w"),
                reactive_power_var=get(f"reactive_power_l{n}_var"),
                frequency_hz=get("frequency_hz"),
            )
            for n in self.phase_numbers
        )

        def total(name: str, field: str, mean: bool = False) -> float:
            if name in values:
                return get(name)
            if not phases:
                return math.nan
            parts = [getattr(p, field) for p in phases]
            return sum(parts) / len(parts) if mean else sum(parts)

        return MeterReading(
            phases=phases,
            power_w=total("power_w", "power_w"),
            reactive_power_var=total("reactive_power_var", "reactive_power_var"),
            voltage_v=total("voltage_v", "voltage_v", mean=True),
            current_a=total("current_a", "current_a"),
            frequency_hz=get("frequency_hz"),
            energy_import_wh=get("energy_import_wh"),
            energy_export_wh=get("energy_export_wh"),
        )
