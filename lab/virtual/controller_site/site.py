"""The emulated site a controller under test governs, and the bench's own instruments around it.

The site's devices ([virtual.site_devices.NAME]: PV and battery inverters,
the PCC meter) are Modbus servers at the addresses the controller is
configured with; they are the controller's, not the bench's: the bench never
talks to them. The bench's own instruments (grid simulator, power analyzer
with pcc and busbar elements, PV simulator, AC loads) are emulated as on the
virtual PCS bench and set and measure the same physics; the analyzer at the
PCC is the reference for verdicts.

Physics: PV available comes from the PV simulator (its curve's maximum power,
times the inverter efficiency, shared among the PV inverters by rating), or
without one from ``irradiance_pu`` in [virtual.plant]; the uncontrolled load
from the AC loads, or ``load_w``. Each inverter follows what the controller
wrote (devices.SiteInverter). PCC power = load - every inverter's output
(positive = import).

A battery's own request (its local dispatch, which the controller caps or
overrides): a bench instrument of role "der" (driver sunspec-der, address
virtual) named after a battery device (or any name, with one battery on the
site) is that dispatch's port: the 704 WSet it writes (while WSetEna is 1) is
the battery's own request, and it reads the battery's output in 701 W. The
bench sets it as it sets a PCS site's battery; without it the request is 0.

For the bench and the plans in controller mode (``bench.virtual_lab.site``):
``site_map()``, ``truth()``, ``operator_action(name)`` (meter-silent,
meter-restore, inverter-silent:NAME, inverter-restore:NAME,
inverter-ignores-writes:NAME, inverter-obeys-writes:NAME,
inverter-strict-writes:NAME, inverter-lenient-writes:NAME), the wire log
(wire_log.py) in the run folder, and ``write_findings(start_s, end_s)``: the
writes a device refused or took with registers ignored, for the report to put
beside the verdict of the test that made them.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import Any

from flexbench.instruments.emulators import EMULATORS
from flexbench.instruments.emulators.modbus_server import ModbusExchange
from flexbench.instruments.emulators.sunspec_device import SunSpecEmulator, WriteFinding
from flexbench.instruments.roles import DCReading, MeterReading, PhaseReading
from flexbench.lab.bench_config import BenchConfig, BenchError, InstrumentConfig
from flexbench.lab.clock import Clock
from flexbench.lab.virtual.controller_site import controller_fault_names, own_controller
from flexbench.lab.virtual.controller_site.config import parse_devices, parse_plant, profile_value
from flexbench.lab.virtual.controller_site.devices import SiteInverter, make_meter
from flexbench.lab.virtual.controller_site.wire_log import WireLog
from flexbench.lab.virtual.dynamics import substeps
from flexbench.lab.virtual.pcs_bench import ac_load_power_w, element_reading

SITE_ACTIONS = (
    "meter-silent",
    "meter-restore",
    "inverter-silent:NAME",
    "inverter-restore:NAME",
    "inverter-ignores-writes:NAME",
    "inverter-obeys-writes:NAME",
    "inverter-strict-writes:NAME",
    "inverter-lenient-writes:NAME",
)


class ControllerSiteBench:
    """The virtual lab's site kind "controller"."""

    # the report's table of what the controller read and wrote (a function of the run folder)
    report_sections = ("flexbench.lab.virtual.controller_site.wire_log:summary_html",)

    def __init__(
        self,
        config: BenchConfig,
        virtual: dict[str, Any],
        clock: Clock,
        dut_profile: str,
        work_dir: Path | None = None,
    ) -> None:
        unknown = set(virtual) - {"plant", "site_devices"}
        if unknown:
            raise BenchError(
                f"{config.path} [virtual]: unknown table(s) {', '.join(sorted(unknown))} "
                '(known for site = "controller": plant, site_devices)'
            )
        known_profiles = controller_fault_names()
        if dut_profile not in known_profiles and not own_controller(config):
            raise BenchError(
                f"{config.path}: unknown DUT profile {dut_profile!r} for a controller site "
                f"(known: {', '.join(known_profiles)})"
            )
        self.config = config
        self.clock = clock
        self.dut_profile = dut_profile
        self.params = parse_plant(config.path, virtual.get("plant", {}))
        self.specs = parse_devices(config.path, virtual.get("site_devices"))
        self.inverters = {n: SiteInverter(s, self.params, clock) for n, s in self.specs.items() if s.kind != "meter"}
        self.meter_spec = next(s for s in self.specs.values() if s.kind == "meter")
        self.meter = make_meter(self.meter_spec, clock)
        self.meter.measurement_source = self._locked(self._meter_reading)
        self.wire_log = WireLog(work_dir)
        self._write_findings: deque[tuple[str, WriteFinding]] = deque()
        for name, emu in self._site_emulators().items():
            emu.on_exchange = lambda exchange, name=name, emu=emu: self._log(name, emu, exchange)
            if isinstance(emu, SunSpecEmulator):
                emu.on_write_finding = lambda finding, name=name: self._write_findings.append((name, finding))
        self.emulators: dict[str, Any] = {}  # the bench's instruments, by role ("ac_load" holds a list)
        self.request_ports: dict[str, Any] = {}  # battery name -> the port its own request is written to
        self._lock = threading.Lock()
        self._start_s = clock.now()
        self.grid_on = False
        self.voltage_v = self.params.nominal_voltage_v
        self.frequency_hz = self.params.nominal_frequency_hz
        self.load_w = 0.0
        self.pv_available_w = 0.0
        self._pv_rated_w = sum(i.spec.rated_w for i in self.inverters.values() if i.spec.kind == "pv")
        self.energy_import_wh = 0.0
        self.energy_export_wh = 0.0
        self._started: list[Any] = []

    def _site_emulators(self) -> dict[str, Any]:
        return {**{n: inv.emulator for n, inv in self.inverters.items()}, self.meter_spec.name: self.meter}

    def _locked(self, fn: Any) -> Any:
        def call(*args: Any) -> Any:
            with self._lock:
                return fn(*args)

        return call

    # -- the bench's instruments ----------------------------------------------------------------
    def make_emulator(self, inst: InstrumentConfig) -> Any:
        emulator_cls = EMULATORS[inst.driver]
        p = self.params
        if inst.role == "grid_simulator":
            emu = emulator_cls(phases=p.phases, clock=self.clock)
            emu.voltage_v = [p.nominal_voltage_v] * p.phases
            emu.frequency_hz = p.nominal_frequency_hz
            emu.measurement_source = self._locked(self._grid_phases)
        elif inst.role == "power_analyzer":
            measures = inst.measures or {"pcc": 1, "busbar": 2}
            emu = emulator_cls(elements=tuple(sorted(measures.values())), clock=self.clock)
            emu.source = self._locked(
                lambda: {e: r for point, e in measures.items() if (r := self._element(point)) is not None}
            )
        elif inst.role == "pv_simulator":
            emu = emulator_cls(clock=self.clock)
            emu.measurement_source = self._locked(self._pv_reading)
        elif inst.role == "ac_load":
            emu = emulator_cls(clock=self.clock, model="63804")
            emu.measurement_source = self._locked(lambda: self._load_reading(emu))
            self.emulators.setdefault("ac_load", []).append(emu)
            return emu
        elif inst.role == "der":
            battery = self._battery_for(inst.name)
            rated = battery.spec.rated_w
            emu = emulator_cls(
                models=(1, 701, 702, 704),
                clock=self.clock,
                nameplate={"WMaxRtg": rated, "VAMaxRtg": rated, "WMax": rated, "VNomRtg": p.nominal_voltage_v},
                identity={
                    "Mn": "flexbench",
                    "Md": "Battery dispatch (own request)",
                    "SN": f"{battery.name.upper()}-EMS",
                    "Vr": "1.0.0",
                },
            )
            self.request_ports[battery.name] = emu
            return emu
        else:
            raise BenchError(
                f"{self.config.path} [instruments.{inst.name}]: the controller site has no virtual "
                f"{inst.role}: the site's devices are [virtual.site_devices.NAME] tables"
            )
        self.emulators[inst.role] = emu
        return emu

    def _battery_for(self, name: str) -> SiteInverter:
        """The battery whose own request an instrument sets: the one of that name, or the site's only battery."""
        batteries = {n: inv for n, inv in self.inverters.items() if inv.spec.kind == "battery"}
        if name in batteries:
            return batteries[name]
        if len(batteries) == 1:
            return next(iter(batteries.values()))
        raise BenchError(
            f'{self.config.path} [instruments.{name}]: a "der" instrument sets a battery\'s own '
            f"request: name it after one of the site's batteries ({', '.join(batteries) or 'none'})"
        )

    def _voltage(self) -> float:
        return self.voltage_v if self.grid_on else 0.0

    def _grid_phases(self) -> list[PhaseReading]:
        v, phases = self._voltage(), self.params.phases
        per_phase_w = self.pcc_import_w() / phases if v else 0.0
        return [
            PhaseReading(v, abs(per_phase_w) / v if v else 0.0, per_phase_w, 0.0, self.frequency_hz)
            for _ in range(phases)
        ]

    def _element(self, point: str) -> Any:
        if point == "pcc":
            p_w = self.pcc_import_w()
        elif point == "busbar":
            p_w = sum(inv.output.value for inv in self.inverters.values())
        else:
            return None
        return element_reading(self._voltage(), p_w, self.frequency_hz, self.params.phases)

    def _pv_reading(self) -> DCReading:
        emu = self.emulators["pv_simulator"]
        dc_w = (
            sum(i.output.value for i in self.inverters.values() if i.spec.kind == "pv")
            / self.params.inverter_efficiency
        )
        v = emu.curve.max_power_voltage_v if emu.output_on else 0.0
        return DCReading(v, dc_w / v if v else 0.0, dc_w if v else 0.0)

    def _load_reading(self, emu: Any) -> PhaseReading:
        v, phases = self._voltage(), self.params.phases
        p = ac_load_power_w(emu, phases, v) / phases if v else 0.0
        return PhaseReading(v, p / v if v else 0.0, p, 0.0, self.frequency_hz)

    def _meter_reading(self) -> MeterReading:
        v, f, phases = self._voltage(), self.frequency_hz, self.params.phases
        p_w = self.pcc_import_w()
        per = [PhaseReading(v, abs(p_w) / phases / v if v else 0.0, p_w / phases, 0.0, f) for _ in range(phases)]
        return MeterReading(
            tuple(per), p_w, 0.0, v, sum(ph.current_a for ph in per), f, self.energy_import_wh, self.energy_export_wh
        )

    # -- physics --------------------------------------------------------------------------------
    def pcc_import_w(self) -> float:
        return self.load_w - sum(inv.output.value for inv in self.inverters.values())

    def _grid_ok(self) -> bool:
        nominal = self.params.nominal_voltage_v
        return (
            self.grid_on
            and 0.88 * nominal <= self.voltage_v <= 1.10 * nominal
            and abs(self.frequency_hz - self.params.nominal_frequency_hz) <= 1.2
        )

    def _sync(self, now_s: float) -> None:
        p = self.params
        grid = self.emulators.get("grid_simulator")
        if grid is not None:
            self.grid_on = bool(grid.output_on)
            self.voltage_v = sum(grid.voltage_v) / len(grid.voltage_v)
            self.frequency_hz = float(grid.frequency_hz)
        else:
            self.grid_on = True
        pv_rated_w = self._pv_rated_w
        pv_sim = self.emulators.get("pv_simulator")
        if pv_sim is not None:
            self.pv_available_w = pv_sim.curve.max_power_w * p.inverter_efficiency if pv_sim.output_on else 0.0
        else:
            self.pv_available_w = pv_rated_w * max(profile_value(p.irradiance_pu, now_s - self._start_s), 0.0)
        loads = self.emulators.get("ac_load")
        if loads:
            self.load_w = sum(ac_load_power_w(emu, p.phases, self.voltage_v) for emu in loads)
        else:
            self.load_w = max(profile_value(p.load_w, now_s - self._start_s), 0.0)
        if not self.grid_on:
            self.load_w = 0.0
        for name, port in self.request_ports.items():
            request = port.get(704, "WSet") if port.get(704, "WSetEna") == 1 else 0.0
            self.inverters[name].own_request_w = float(request or 0.0)

    def step(self, now_s: float, dt_s: float) -> None:
        with self._lock:
            self._sync(now_s)
            grid_ok = self._grid_ok()
            for inv in self.inverters.values():
                inv.sync(now_s)
            n, h = substeps(dt_s)
            for _ in range(n):
                for inv in self.inverters.values():
                    share = inv.spec.rated_w / self._pv_rated_w if inv.spec.kind == "pv" and self._pv_rated_w else 0.0
                    inv.step(h, min(self.pv_available_w * share, inv.spec.rated_w), grid_ok)
                pcc_w = self.pcc_import_w()
                self.energy_import_wh += max(pcc_w, 0.0) * h / 3600.0
                self.energy_export_wh += max(-pcc_w, 0.0) * h / 3600.0
            for inv in self.inverters.values():
                inv.publish(self._voltage(), self.frequency_hz)
            for name, port in self.request_ports.items():
                port.set(701, "W", round(self.inverters[name].output.value))
                port.set(701, "LNV", round(self._voltage(), 1))
                port.set(701, "Hz", round(self.frequency_hz, 3))

    # -- the site's devices on their own addresses --------------------------------------------------
    def start_links(self) -> None:
        """Serve the site's devices: after the bench's instruments, before the controller starts."""
        self.wire_log.open()
        for name, emu in self._site_emulators().items():
            try:
                emu.start()
            except (RuntimeError, OSError) as exc:
                spec = self.specs[name]
                raise BenchError(
                    f"{self.config.path} [virtual.site_devices.{name}]: cannot serve on "
                    f"{spec.listen[0]}:{spec.listen[1]} ({spec.transport}): {exc}"
                ) from None
            self._started.append(emu)

    def stop_links(self) -> None:
        for emu in self._started:
            emu.stop()
        self._started.clear()
        self.wire_log.close()

    def _log(self, device: str, emu: Any, ex: ModbusExchange) -> None:
        record: dict[str, Any] = {
            "t_s": ex.time_s,
            "device": device,
            "unit": ex.unit,
            "fc": ex.function_code,
            "op": ex.operation,
            "address": ex.address,
            "count": ex.count,
            "values": list(ex.values),
            "exception": ex.exception_code,
            "answered": ex.answered,
        }
        written = ex.operation == "write" and ex.answered and ex.exception_code is None
        points: dict[str, Any] = {}
        if isinstance(emu, SunSpecEmulator):
            covered = emu.points_at(ex.address, ex.count)
            record["models"] = sorted({model_id for model_id, _ in covered})
            if written:
                points = {
                    f"{m}.{spec.name}": emu.get(m, spec.name)
                    for m, spec in covered
                    if emu.writable(emu.blocks[m], spec)
                }
        else:
            table = "input" if ex.function_code == 4 else "holding"
            names = []
            for register in range(ex.address, ex.address + ex.count):
                point = emu.map.point_at(table, register)
                if point is not None and point.name not in names:
                    names.append(point.name)
            record["models"] = names
            if written:
                points = {n: emu.get(n) for n in names if emu.map.point(n).writable}
        if points:
            record["points"] = points
        self.wire_log.write(record)

    # -- for the bench, the controller and the plans ---------------------------------------------------
    def _address(self, name: str) -> dict[str, Any]:
        spec, emu = self.specs[name], self._site_emulators()[name]
        if spec.transport == "rtu":
            return {"address": emu.serial_device if emu.running else None, "transport": "rtu", "baud": spec.baud}
        host = spec.listen[0] if spec.listen[0] not in ("", "0.0.0.0", "::") else "127.0.0.1"
        return {"address": f"{host}:{emu.port}" if emu.running else None, "transport": "tcp"}

    def site_map(self) -> dict[str, Any]:
        """Where the controller finds each device (valid once the lab started)."""
        m = self.meter_spec
        meter = {"name": m.name, **self._address(m.name), "unit_id": m.unit_id, "family": m.family}
        meter.update({"model": m.model} if m.family == "sunspec" else {"map": m.register_map})
        inverters = [
            {
                "name": n,
                **self._address(n),
                "unit_id": inv.spec.unit_id,
                "family": inv.spec.family,
                "kind": inv.spec.kind,
                "rated_w": inv.spec.rated_w,
            }
            for n, inv in self.inverters.items()
        ]
        return {"meter": meter, "inverters": inverters}

    def truth(self) -> dict[str, Any]:
        """The plant's present values: PCC power (positive = import), each device's output and applied limit."""
        with self._lock:
            return {
                "t_s": self.clock.now(),
                "pcc_p_w": self.pcc_import_w(),
                "load_w": self.load_w,
                "pv_available_w": self.pv_available_w,
                "grid_on": self.grid_on,
                "meter": {"name": self.meter_spec.name, "responding": self.meter.responding},
                "devices": {n: inv.truth() for n, inv in self.inverters.items()},
            }

    def write_findings(self, start_s: float, end_s: float) -> list[str]:
        """The writes refused, or taken with registers ignored, in [start_s, end_s]: one line per device and kind."""
        kept = self._write_findings
        while kept and kept[0][1].time_s < start_s:  # tests ask in order: older findings are done with
            kept.popleft()
        groups: dict[tuple[str, str], list[float]] = {}
        for device, finding in list(kept):
            if start_s <= finding.time_s <= end_s:
                groups.setdefault((device, finding.text), []).append(finding.time_s)
        lines = []
        for (device, text), times in groups.items():
            first_s, last_s = min(times) - start_s, max(times) - start_s
            when = f"{first_s:.1f} s" if len(times) == 1 else f"{len(times)} times, {first_s:.1f} s to {last_s:.1f} s"
            lines.append(f"{device}: {text} ({when} into the test)")
        return lines

    def operator_action(self, action: str) -> None:
        """Site-side fault injection: a device that stops answering, acknowledges writes and ignores them,
        or refuses block writes over read-only registers (strict writes)."""
        verb, _, name = action.partition(":")
        with self._lock:
            if action in ("meter-silent", "meter-restore"):
                self.meter.responding = action == "meter-restore"
                return
            inverter = self.inverters.get(name)
            if verb in ("inverter-silent", "inverter-restore") and inverter is not None:
                inverter.emulator.responding = verb == "inverter-restore"
                return
            if verb in ("inverter-ignores-writes", "inverter-obeys-writes") and inverter is not None:
                inverter.ignores_writes = verb == "inverter-ignores-writes"
                return
            if verb in ("inverter-strict-writes", "inverter-lenient-writes") and inverter is not None:
                inverter.emulator.strict_writes = verb == "inverter-strict-writes"
                return
        raise BenchError(
            f"the controller site has no operator action {action!r} (actions: {', '.join(SITE_ACTIONS)}; "
            f"inverters: {', '.join(self.inverters)})"
        )

    def final_state(self) -> dict[str, Any]:
        grid = self.emulators.get("grid_simulator")
        return {
            "grid_output_on": bool(grid.output_on) if grid is not None else None,
            "pcc_import_w": self.pcc_import_w(),
            "devices_p_w": {n: inv.output.value for n, inv in self.inverters.items()},
        }
