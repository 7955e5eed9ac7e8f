"""The virtual lab: the plant, the emulated instruments and the virtual DUT, on loopback.

Started by the bench when the bench file has a [virtual] table. Every
instrument whose address is "virtual" gets the emulator of its driver on a
port chosen at run time; a plant thread steps the physics and copies state
between the plant and the emulators, so the analyzer measures what the DUT
does and the DUT obeys what reaches it over Modbus.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import fields
from typing import Any, Callable

from flexbench.instruments.emulators import EMULATORS
from flexbench.lab.bench_config import VIRTUAL_ADDRESS, BenchConfig, BenchError, InstrumentConfig
from flexbench.lab.clock import ScaledClock
from flexbench.lab.virtual.dut import DUTParameters, VirtualDUT
from flexbench.lab.virtual.faults import FaultProfile, fault_profile
from flexbench.lab.virtual.plant import Plant, PlantParameters

log = logging.getLogger(__name__)

STEP_PERIOD_S = 0.01  # wall-clock period of the plant thread
_DUT_IDENTITY_KEYS = {"manufacturer": "Mn", "model": "Md", "serial": "SN", "firmware": "Vr"}


def _params(cls: type, table: dict[str, Any], where: str, extra: set[str] = frozenset()) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = set(table) - known - set(extra)
    if unknown:
        raise BenchError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known | set(extra)))})")
    return cls(**{k: v for k, v in table.items() if k in known})


class VirtualLab:
    def __init__(self, config: BenchConfig, clock: ScaledClock, dut_profile: str = "healthy") -> None:
        virtual = config.virtual or {}
        where = f"{config.path} [virtual"
        try:
            self.fault: FaultProfile = fault_profile(dut_profile)
        except KeyError as exc:
            raise BenchError(str(exc.args[0])) from None
        plant_params = _params(PlantParameters, virtual.get("plant", {}), where + ".plant]")
        dut_table = dict(virtual.get("dut", {}))
        self.dut_identity = {
            point: str(dut_table.pop(key)) for key, point in _DUT_IDENTITY_KEYS.items() if key in dut_table
        }
        dut_params = _params(DUTParameters, dut_table, where + ".dut]")
        self.clock = clock
        self.config = config
        self.dut = VirtualDUT(dut_params, self.fault)
        self.plant = Plant(plant_params, self.dut)
        self.emulators: dict[str, Any] = {}
        self.addresses: dict[str, str] = {}
        self._grid_emulator: Any = None
        self._der_emulator: Any = None
        self._first_limit_write_s: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- wiring -----------------------------------------------------------------

    def _make_emulator(self, inst: InstrumentConfig) -> Any:
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
            self._grid_emulator = emu
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
            self._der_emulator = emu
        else:  # pragma: no cover - roles are validated with the bench file
            raise BenchError(f"{self.config.path}: no virtual emulator for role {inst.role!r}")
        return emu

    def _locked(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        def call() -> Any:
            with self._lock:
                return fn()

        return call

    def _on_der_write(self, model_id: int, point: str, value: object) -> None:
        if model_id != 704 or point not in ("WMaxLimPctEna", "WMaxLimPct"):
            return
        emu = self._der_emulator
        now = self.clock.now()
        enabled = emu.get(704, "WMaxLimPctEna")
        pct = emu.get(704, "WMaxLimPct")
        with self._lock:
            if self._first_limit_write_s is None:
                self._first_limit_write_s = now
            self.dut.command_limit(now, float(pct) if enabled == 1 and pct is not None else None)

    # -- running ----------------------------------------------------------------

    def start(self) -> dict[str, str]:
        """Start every emulator and the plant thread; returns instrument name -> address."""
        try:
            for name, inst in self.config.instruments.items():
                if inst.address != VIRTUAL_ADDRESS:
                    continue
                emu = self._make_emulator(inst)
                emu.start()
                self.emulators[name] = emu
                self.addresses[name] = emu.address
            self._thread = threading.Thread(target=self._run, name="virtual-plant", daemon=True)
            self._thread.start()
        except BaseException:
            self.stop()
            raise
        return dict(self.addresses)

    def _sync_from_grid(self) -> None:
        emu = self._grid_emulator
        if emu is None:
            self.plant.grid.output_on = True
            return
        self.plant.grid.output_on = bool(emu.output_on)
        self.plant.grid.voltage_v = list(emu.voltage_v)
        self.plant.grid.frequency_hz = float(emu.frequency_hz)

    def _publish_der(self) -> None:
        emu = self._der_emulator
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
            if self.clock.now() >= self._first_limit_write_s + drop_after_s and emu.responding:
                log.info("virtual DUT: Modbus stops answering (fault profile %s)", self.fault.name)
                emu.responding = False

    def _run(self) -> None:
        last_s = self.clock.now()
        while not self._stop.is_set():
            time.sleep(STEP_PERIOD_S)
            now_s = self.clock.now()
            try:
                with self._lock:
                    self._sync_from_grid()
                    self.plant.step(now_s, now_s - last_s)
                self._publish_der()
            except Exception:  # keep the plant alive: a bad step must not hang the bench
                log.exception("virtual plant step failed")
            last_s = now_s

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for emu in self.emulators.values():
            try:
                emu.stop()
            except Exception:
                log.exception("stopping emulator failed")

    def final_state(self) -> dict[str, Any]:
        """What the plant ended in: evidence that the bench was left safe."""
        grid = self._grid_emulator
        return {
            "grid_output_on": bool(grid.output_on) if grid is not None else None,
            "dut_power_w": self.dut.power_w,
            "dut_connected": self.dut.connected,
        }

    @property
    def grid_emulator(self) -> Any:
        return self._grid_emulator

    @property
    def der_emulator(self) -> Any:
        return self._der_emulator
