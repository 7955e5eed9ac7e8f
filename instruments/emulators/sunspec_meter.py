"""Emulated SunSpec meter: models 1 and one of 201-204 / 211-214, on TCP or a serial pair (RTU).

Scale factors suit ``rated_power_w`` (W, VA, var in watts up to about 27 kW,
tens of watts above); currents in centiamps where they fit; voltages in
tenths of a volt; frequency in centihertz; energies in watt-hours (an
accumulator reads "not implemented" at 0, so energies start at 1 Wh).
Line-to-line voltages and PPV follow from the phase voltages (see
_line_to_line); every point the model's definition makes mandatory is
implemented. Points a meter of the model does not have (L-N voltages of a
delta 204, the quadrant var-hours) stay unimplemented.

Hooks for the virtual lab, beyond SunSpecEmulator's ``get``/``set``:

- ``measurement_source``: called before each read request, returning a
  MeterReading (positive power = import) that is written to the meter model;
  None leaves the points as last set.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from ..roles import MeterReading, PhaseReading
from .common import Clock
from .sunspec_der import _exponent_for
from .sunspec_device import DEFAULT_BASE, SunSpecEmulator

PHASES = {201: "A", 202: "AB", 203: "ABC", 204: "ABC", 211: "A", 212: "AB", 213: "ABC", 214: "ABC"}
DEFAULT_IDENTITY = {"Mn": "flexbench", "Md": "Virtual meter", "SN": "MTR-0001", "Vr": "1.0.0"}
NOMINAL_VOLTAGE_V = 120.0  # the lowest service voltage a rating is sized against


class SunSpecMeterEmulator(SunSpecEmulator):
    """A SunSpec meter's Modbus map."""

    def __init__(
        self,
        model: int = 203,
        unit_id: int = 1,
        clock: Clock | None = None,
        *,
        rated_power_w: float = 20000.0,
        identity: Mapping[str, str] | None = None,
        base_address: int = DEFAULT_BASE,
        link: str = "tcp",
        baud: int = 115200,
    ) -> None:
        if model not in PHASES:
            raise ValueError(f"model must be one of {', '.join(map(str, sorted(PHASES)))}, got {model!r}")
        super().__init__((1, model), unit_id, clock, base_address=base_address, link=link, baud=baud)
        self.meter_model = model
        self.measurement_source: Callable[[], MeterReading] | None = None
        m = self.blocks[model]
        if model < 210:
            phases = len(PHASES[model])
            w_sf = _exponent_for(rated_power_w, 32767)
            a_sf = -2 + _exponent_for(100.0 * rated_power_w / (phases * NOMINAL_VOLTAGE_V), 32767)
            for sf, value in (
                ("A_SF", a_sf),
                ("V_SF", -1),
                ("Hz_SF", -2),
                ("W_SF", w_sf),
                ("VA_SF", w_sf),
                ("VAR_SF", w_sf),
                ("PF_SF", -3),
                ("TotWh_SF", 0),
                ("TotVAh_SF", 0),
                ("TotVArh_SF", 0),
            ):
                m.set_raw(sf, value)
        m.set("Evt", 0)  # no events
        if model == 202:
            m.set("AphC", 0.0)  # mandatory in 202's definition; a split-phase service has no phase C
        common = self.blocks[1]
        for point, text in dict(DEFAULT_IDENTITY, **(identity or {})).items():
            common.set(point, text)
        common.set("DA", unit_id)
        zero = PhaseReading(voltage_v=0.0, current_a=0.0, power_w=0.0, reactive_power_var=0.0, frequency_hz=60.0)
        self.publish(
            MeterReading(
                phases=(zero,) * len(PHASES[model]),
                power_w=0.0,
                reactive_power_var=0.0,
                voltage_v=0.0,
                current_a=0.0,
                frequency_hz=60.0,
                energy_import_wh=1.0,
                energy_export_wh=1.0,
            )
        )

    def publish(self, reading: MeterReading) -> None:
        """Write a reading into the meter model (NaN leaves a point as it was)."""
        letters = PHASES[self.meter_model]
        delta = self.meter_model in (204, 214)
        updates: dict[str, float] = {
            "W": reading.power_w,
            "VAR": reading.reactive_power_var,
            "A": reading.current_a,
            "Hz": reading.frequency_hz,
            "TotWhImp": reading.energy_import_wh,
            "TotWhExp": reading.energy_export_wh,
            "PPV" if delta else "PhV": reading.voltage_v,
        }
        for letter, phase in zip(letters, reading.phases):
            updates[f"Wph{letter}"] = phase.power_w
            updates[f"VARph{letter}"] = phase.reactive_power_var
            updates[f"Aph{letter}"] = phase.current_a
            if not delta:
                updates[f"PhVph{letter}"] = phase.voltage_v
        updates.update(self._line_to_line(reading))
        with self.lock:
            m = self.blocks[self.meter_model]
            for name, value in updates.items():
                if value is None or math.isnan(value):
                    continue
                if name.startswith("TotWh"):
                    value = max(1.0, round(value))
                m.set(name, value)

    def _line_to_line(self, reading: MeterReading) -> dict[str, float]:
        """Line-to-line voltages and their mean (PPV) as the meter's wiring gives them.

        Delta (204, 214): the phases' voltages are the line-to-line ones the
        meter measures (AB, BC, CA) and PPV is the reading's voltage. Wye
        (203, 213): from the line-to-neutral voltages, 120 degrees apart.
        Split phase (202, 212): the two halves add. Single phase: none.
        """
        letters = PHASES[self.meter_model]
        prefix = "PPVph" if self.meter_model > 210 else "PhVph"
        volts = [phase.voltage_v for phase in reading.phases[: len(letters)]]
        if len(volts) < len(letters) or len(letters) == 1:
            return {}
        pairs = ("AB", "BC", "CA") if len(letters) == 3 else ("AB",)
        if self.meter_model in (204, 214):
            return {f"{prefix}{pair}": v for pair, v in zip(pairs, volts)}
        if len(letters) == 2:
            line = {"AB": volts[0] + volts[1]}
        else:
            line = {
                pair: math.sqrt(a * a + b * b + a * b) for pair, (a, b) in zip(pairs, zip(volts, volts[1:] + volts[:1]))
            }
        result = {f"{prefix}{pair}": v for pair, v in line.items()}
        result["PPV"] = sum(line.values()) / len(line)
        return result

    def read_registers(self, table: str, address: int, count: int):
        source = self.measurement_source
        if source is not None:
            self.publish(source())
        return super().read_registers(table, address, count)
