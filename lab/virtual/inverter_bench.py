"""Wiring of the inverter site: a PV inverter under test behind a PCC, with a local load.

Grid simulator setpoints feed the plant; the analyzer reads the DUT terminals
and the PCC; the DUT's SunSpec registers carry its measurements out and limit
commands in.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flexbench.instruments.emulators import EMULATORS
from flexbench.lab.bench_config import BenchConfig, BenchError, InstrumentConfig
from flexbench.lab.clock import Clock
from flexbench.lab.virtual.dut import DUTParameters, VirtualDUT
from flexbench.lab.virtual.faults import FaultProfile, fault_profile
from flexbench.lab.virtual.lab import site_parameters
from flexbench.lab.virtual.plant import Plant, PlantParameters

log = logging.getLogger(__name__)

_DUT_IDENTITY_KEYS = {"manufacturer": "Mn", "model": "Md", "serial": "SN", "firmware": "Vr"}


class InverterBench:
    def __init__(self, config: BenchConfig, virtual: dict[str, Any], clock: Clock, dut_profile: str) -> None:
        where = f"{config.path} [virtual"
        unknown = set(virtual) - {"plant", "dut"}
        if unknown:
            raise BenchError(f"{where}]: unknown table(s) {', '.join(sorted(unknown))} (known: plant, dut)")
        try:
            self.fault: FaultProfile = fault_profile(dut_profile)
        except KeyError as exc:
            raise BenchError(f"{config.path}: {exc.args[0]}") from None
        dut_table = dict(virtual.get("dut", {}))
        self.dut_identity = {
            point: str(dut_table.pop(key)) for key, point in _DUT_IDENTITY_KEYS.items() if key in dut_table
        }
        self.clock = clock
        self.dut = VirtualDUT(site_parameters(DUTParameters, dut_table, where + ".dut]"), self.fault)
        self.plant = Plant(site_parameters(PlantParameters, virtual.get("plant", {}), where + ".plant]"), self.dut)
        self.grid_emulator: Any = None
        self.der_emulator: Any = None
        self._first_limit_write_s: float | None = None
        self._lock = threading.Lock()

    def make_emulator(self, inst: InstrumentConfig) -> Any:
        emulator_cls = EMULATORS[inst.driver]
        if inst.role == "grid_simulator":
            phases = int(inst.options.get("phases", self.plant.params.phases))
            self.plant.params.phases = phases
            self.plant.grid.voltage_v = [self.plant.params.nominal_voltage_v] * phases
            emu = emulator_cls(phases=phases, clock=self.clock)
            emu.voltage_v = list(self.plant.grid.voltage_v)
            emu.frequency_hz = self.plant.grid.frequency_hz
            emu.output_on = False
            emu.measurement_source = self._locked(self.plant.grid_phases)
            self.grid_emulator = emu
        elif inst.role == "power_analyzer":
            measures = inst.measures or {"dut": 1, "pcc": 2}
            emu = emulator_cls(elements=tuple(sorted(measures.values())), clock=self.clock)

            def source(measures: dict[str, int] = measures) -> dict:
                readings = self._locked(self.plant.analyzer_elements)()
                return {element: readings[point] for point, element in measures.items() if point in readings}

            emu.source = source
        elif inst.role == "der":
            p = self.dut.params
            nameplate = {
                "WMaxRtg": p.rated_power_w,
                "VAMaxRtg": p.rated_apparent_power_va,
                "VarMaxInjRtg": p.rated_reactive_power_var,
                "WMax": p.rated_power_w,
                "VAMax": p.rated_apparent_power_va,
                "VNomRtg": self.plant.params.nominal_voltage_v,
            }
            emu = emulator_cls(
                models=(1, 701, 702, 704), nameplate=nameplate, identity=self.dut_identity or None, clock=self.clock
            )
            emu.on_write = self._on_der_write
            self.der_emulator = emu
        else:
            raise BenchError(f"{inst.name}: the inverter site has no virtual {inst.role}")
        return emu

    def _locked(self, fn: Any) -> Any:
        def call() -> Any:
            with self._lock:
                return fn()

        return call

    def _on_der_write(self, model_id: int, point: str, value: object) -> None:
        if model_id != 704 or point not in ("WMaxLimPctEna", "WMaxLimPct"):
            return
        emu = self.der_emulator
        now = self.clock.now()
        enabled = emu.get(704, "WMaxLimPctEna")
        pct = emu.get(704, "WMaxLimPct")
        with self._lock:
            if self._first_limit_write_s is None:
                self._first_limit_write_s = now
            self.dut.command_limit(now, float(pct) if enabled == 1 and pct is not None else None)

    def step(self, now_s: float, dt_s: float) -> None:
        with self._lock:
            self._sync_from_grid()
            self.plant.step(now_s, dt_s)
        self._publish_der(now_s)

    def _sync_from_grid(self) -> None:
        emu = self.grid_emulator
        if emu is None:
            self.plant.grid.output_on = True
            return
        self.plant.grid.output_on = bool(emu.output_on)
        self.plant.grid.voltage_v = list(emu.voltage_v)
        self.plant.grid.frequency_hz = float(emu.frequency_hz)

    def _publish_der(self, now_s: float) -> None:
        emu = self.der_emulator
        if emu is None:
            return
        plant = self.plant
        phases = plant.params.phases
        voltage_v = sum(plant.grid.voltage_v) / phases if plant.grid.output_on else 0.0
        power_w = self.dut.power_w
        emu.set(701, "W", round(power_w))
        emu.set(701, "VA", round(abs(power_w)))
        emu.set(701, "Var", 0)
        emu.set(701, "LNV", round(voltage_v, 1))
        emu.set(701, "Hz", round(plant.grid.frequency_hz, 3))
        emu.set(701, "A", round(abs(power_w) / (phases * voltage_v), 2) if voltage_v > 0 else 0)
        emu.set(701, "ConnSt", 1 if self.dut.connected else 0)
        drop_after_s = self.fault.comms_drop_after_first_write_s
        if drop_after_s is not None and self._first_limit_write_s is not None:
            if now_s >= self._first_limit_write_s + drop_after_s and emu.responding:
                log.info("virtual DUT: Modbus stops answering (fault profile %s)", self.fault.name)
                emu.responding = False

    def operator_action(self, action: str) -> None:
        raise BenchError(f"the virtual inverter site has no operator action {action!r}")

    def final_state(self) -> dict[str, Any]:
        grid = self.grid_emulator
        return {
            "grid_output_on": bool(grid.output_on) if grid is not None else None,
            "dut_power_w": self.dut.power_w,
            "dut_connected": self.dut.connected,
        }
