"""The virtual plant: grid simulator output, a PCC, a local load and the DUT.

Pure physics, no threads or sockets: the virtual lab steps it and copies its
state to and from the emulated instruments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flexbench.instruments.roles import ElementReading, PhaseReading
from flexbench.lab.virtual.dut import VirtualDUT
from flexbench.lab.virtual.dynamics import substeps


@dataclass
class PlantParameters:
    nominal_voltage_v: float = 240.0
    nominal_frequency_hz: float = 60.0
    local_load_w: float = 2000.0
    irradiance_pu: float = 1.0
    phases: int = 3


@dataclass
class GridSetting:
    """What the grid simulator is told to produce."""

    output_on: bool
    voltage_v: list[float]
    frequency_hz: float


class Plant:
    def __init__(self, params: PlantParameters, dut: VirtualDUT) -> None:
        self.params = params
        self.dut = dut
        self.grid = GridSetting(False, [params.nominal_voltage_v] * params.phases, params.nominal_frequency_hz)

    def grid_ok(self) -> bool:
        """Whether the DUT may stay connected (IEEE 1547 category II normal ranges, roughly)."""
        if not self.grid.output_on:
            return False
        nominal = self.params.nominal_voltage_v
        f0 = self.params.nominal_frequency_hz
        voltage_ok = all(0.88 * nominal <= v <= 1.10 * nominal for v in self.grid.voltage_v)
        return voltage_ok and abs(self.grid.frequency_hz - f0) <= 1.2

    def step(self, t_s: float, dt_s: float) -> None:
        available_w = self.params.irradiance_pu * self.dut.params.rated_power_w
        n, h = substeps(dt_s)
        ok = self.grid_ok()
        for k in range(n):
            self.dut.step(t_s - dt_s + (k + 1) * h, h, available_w, ok)

    def load_w(self) -> float:
        return self.params.local_load_w if self.grid.output_on else 0.0

    def pcc_import_w(self) -> float:
        """Power drawn from the grid simulator at the PCC (positive = import)."""
        return self.load_w() - self.dut.power_w

    def _element(self, power_w: float) -> ElementReading:
        phases = self.params.phases
        voltage_v = sum(self.grid.voltage_v) / phases if self.grid.output_on else 0.0
        current_a = abs(power_w) / (phases * voltage_v) if voltage_v > 0 else 0.0
        frequency_hz = self.grid.frequency_hz if self.grid.output_on else math.nan
        return ElementReading(
            voltage_v=voltage_v,
            current_a=current_a,
            power_w=power_w,
            reactive_power_var=0.0,
            apparent_power_va=abs(power_w),
            power_factor=1.0 if power_w >= 0 else -1.0,
            frequency_hz=frequency_hz,
        )

    def analyzer_elements(self) -> dict[str, ElementReading]:
        """What a power analyzer sees at the DUT terminals (export positive) and at the PCC (import positive)."""
        return {"dut": self._element(self.dut.power_w), "pcc": self._element(self.pcc_import_w())}

    def grid_phases(self) -> list[PhaseReading]:
        """What the grid simulator measures on its own output, per phase (sourcing positive)."""
        phases = self.params.phases
        per_phase_w = self.pcc_import_w() / phases
        readings = []
        for v in self.grid.voltage_v:
            on = self.grid.output_on
            readings.append(
                PhaseReading(
                    voltage_v=v if on else 0.0,
                    current_a=abs(per_phase_w) / v if on and v > 0 else 0.0,
                    power_w=per_phase_w if on else 0.0,
                    reactive_power_var=0.0,
                    frequency_hz=self.grid.frequency_hz,
                )
            )
        return readings
