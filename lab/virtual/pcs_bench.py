"""Wiring of the PCS site: the power control system under test and the instruments around it.

Instruments by role: the grid simulator feeds the PCC; the analyzer measures
the PCC and the busbar; the PV simulator sets the PV power available; AC loads
stand for the uncontrolled load and for the EV behind the PCS-controlled
charger; the battery inverter (SunSpec) takes the site's charge/discharge
request through model 704 WSet; the PCS takes its settings through its own
register map. `[virtual.connections]` names which instrument is which part of
the site (defaults: load, ev, battery).
"""

from __future__ import annotations

import threading
from typing import Any

from flexbench.instruments.emulators import EMULATORS
from flexbench.instruments.roles import DCReading, ElementReading, PhaseReading
from flexbench.lab.bench_config import BenchConfig, BenchError, InstrumentConfig
from flexbench.lab.clock import Clock
from flexbench.lab.virtual.dynamics import substeps
from flexbench.lab.virtual.lab import site_parameters
from flexbench.lab.virtual.pcs_site import PCS_FAULTS, PCSSite, PCSSiteParameters

_CONNECTIONS = {"load": "load", "ev": "ev", "battery": "battery"}


def ac_load_power_w(emu: Any, phases: int, voltage_v: float) -> float:
    """Total site power of a per-phase AC load programmed alike on every phase."""
    if not emu.input_on:
        return 0.0
    if emu.mode == "power":
        return emu.setpoint * phases
    if emu.mode == "current":
        return emu.setpoint * voltage_v * phases
    return phases * voltage_v**2 / emu.setpoint if emu.setpoint > 0 else 0.0


def element_reading(
    voltage_v: float, power_w: float, frequency_hz: float, phases: int, current_a: float | None = None
) -> ElementReading:
    """An analyzer element at a point of the site carrying power_w (current from power when not given)."""
    v = voltage_v
    current = current_a if current_a is not None else (abs(power_w) / (phases * v) if v else 0.0)
    return ElementReading(
        v, current, power_w, 0.0, abs(power_w), 1.0 if power_w >= 0 else -1.0, frequency_hz if v else float("nan")
    )


_ACTIONS = ("disconnect-pcs-sensor", "reconnect-pcs-sensor")


class PCSBench:
    def __init__(
        self,
        config: BenchConfig,
        virtual: dict[str, Any],
        clock: Clock,
        dut_profile: str,
        csip: Any = None,
        opcua: Any = None,
    ) -> None:
        where = f"{config.path} [virtual"
        unknown = set(virtual) - {"pcs", "connections"}
        if unknown:
            raise BenchError(f"{where}]: unknown table(s) {', '.join(sorted(unknown))} (known: pcs, connections)")
        if dut_profile not in PCS_FAULTS:
            raise BenchError(
                f"{config.path}: unknown DUT profile {dut_profile!r} for a PCS site (known: {', '.join(PCS_FAULTS)})"
            )
        pcs_table = dict(virtual.get("pcs", {}))
        self.identity = {
            k: str(pcs_table.pop(k)) for k in ("manufacturer", "model", "serial", "firmware") if k in pcs_table
        }
        self.params: PCSSiteParameters = site_parameters(PCSSiteParameters, pcs_table, where + ".pcs]")
        self.connections = {**_CONNECTIONS, **virtual.get("connections", {})}
        for part, name in self.connections.items():
            if name not in config.instruments:
                raise BenchError(f"{where}.connections]: {part} = {name!r} names no instrument of the bench")
        self.site = PCSSite(self.params, PCS_FAULTS[dut_profile])
        self.clock = clock
        self.csip = csip
        pcs_names = [n for n, c in config.instruments.items() if c.role == "pcs"]
        self.csip_device = next((n for n in pcs_names if csip is not None and n in csip.lfdis), None)
        self.opcua = opcua
        # a PCS named in [signals.opcua.devices] with endpoint "virtual" serves its own OPC-UA server instead
        self.opcua_device = next(
            (
                n
                for n in pcs_names
                if opcua is not None and n in opcua.config.devices and opcua.config.devices[n].endpoint == "virtual"
            ),
            None,
        )
        self.opcua_site = next(
            (n for n in pcs_names if opcua is not None and n in opcua.config.sites and n != self.opcua_device), None
        )
        self.links: list[Any] = []
        self.emulators: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._last_step_s: float | None = None

    # -- emulators ----------------------------------------------------------------

    def make_emulator(self, inst: InstrumentConfig) -> Any:
        emulator_cls = EMULATORS[inst.driver]
        part = next((p for p, n in self.connections.items() if n == inst.name), None)
        if inst.role == "grid_simulator":
            emu = emulator_cls(phases=self.params.phases, clock=self.clock)
            emu.voltage_v = [self.params.nominal_voltage_v] * self.params.phases
            emu.frequency_hz = self.params.nominal_frequency_hz
            emu.measurement_source = self._locked(self._grid_phases)
        elif inst.role == "power_analyzer":
            measures = inst.measures or {"pcc": 1, "busbar": 2}
            emu = emulator_cls(elements=tuple(sorted(measures.values())), clock=self.clock)
            emu.source = lambda: {
                e: r for point, e in measures.items() if (r := self._locked(self._element)(point)) is not None
            }
        elif inst.role == "pv_simulator":
            emu = emulator_cls(clock=self.clock)
            emu.measurement_source = self._locked(self._pv_reading)
        elif inst.role == "ac_load" and part in ("load", "ev"):
            emu = emulator_cls(clock=self.clock, model="63804")
            emu.measurement_source = self._locked(lambda part=part: self._load_reading(part))
        elif inst.role == "der" and part == "battery":
            rated = self.params.battery_rated_power_w
            emu = emulator_cls(
                models=(1, 701, 702, 704),
                clock=self.clock,
                nameplate={
                    "WMaxRtg": rated,
                    "VAMaxRtg": rated,
                    "WMax": rated,
                    "VNomRtg": self.params.nominal_voltage_v,
                },
                identity={"Mn": "flexbench", "Md": "Virtual battery inverter", "SN": "VBAT-0001", "Vr": "1.0.0"},
            )
        elif inst.role == "pcs":
            emu = emulator_cls(clock=self.clock, identity=self.identity or None, takes_schedule=True)
        else:
            raise BenchError(
                f"{inst.name}: the PCS site has no virtual {inst.role} "
                f"(connections: {', '.join(f'{k}={v}' for k, v in self.connections.items())})"
            )
        self.emulators[part or inst.role] = emu
        return emu

    def _locked(self, fn: Any) -> Any:
        def call(*args: Any) -> Any:
            with self._lock:
                return fn(*args)

        return call

    # -- measurements ---------------------------------------------------------------

    def _voltage_v(self) -> float:
        c = self.site.conditions
        return c.voltage_v if c.grid_on else 0.0

    def _grid_phases(self) -> list[PhaseReading]:
        v = self._voltage_v()
        per_phase_w = self.site.pcc_import_w() / self.params.phases
        return [
            PhaseReading(
                v, abs(per_phase_w) / v if v else 0.0, per_phase_w if v else 0.0, 0.0, self.site.conditions.frequency_hz
            )
            for _ in range(self.params.phases)
        ]

    def _element(self, point: str) -> ElementReading | None:
        v = self._voltage_v()
        phases = self.params.phases
        if point == "pcc":
            p, current = self.site.pcc_import_w(), None
        elif point == "busbar":
            p = self.site.pv.value + max(self.site.battery.value, 0.0)
            current = self.site.busbar_current_a()
        else:
            return None
        return element_reading(v, p, self.site.conditions.frequency_hz, phases, current)

    def _pv_reading(self) -> DCReading:
        emu = self.emulators["pv_simulator"]
        dc_w = self.site.pv.value / self.params.inverter_efficiency
        v = emu.curve.max_power_voltage_v if emu.output_on else 0.0
        return DCReading(v, dc_w / v if v else 0.0, dc_w if v else 0.0)

    def _load_reading(self, part: str) -> PhaseReading:
        v = self._voltage_v()
        p = (self.site.load_w() if part == "load" else self.site.ev.value) / self.params.phases
        return PhaseReading(v, p / v if v else 0.0, p if v else 0.0, 0.0, self.site.conditions.frequency_hz)

    # -- stepping -------------------------------------------------------------------

    def _sync(self) -> None:
        c = self.site.conditions
        grid = self.emulators.get("grid_simulator")
        if grid is not None:
            c.grid_on = bool(grid.output_on)
            c.voltage_v = sum(grid.voltage_v) / len(grid.voltage_v)
            c.frequency_hz = float(grid.frequency_hz)
        else:
            c.grid_on = True
        pv = self.emulators.get("pv_simulator")
        c.pv_available_dc_w = pv.curve.max_power_w if pv is not None and pv.output_on else 0.0
        for part in ("load", "ev"):
            emu = self.emulators.get(part)
            power_w = ac_load_power_w(emu, self.params.phases, c.voltage_v) if emu is not None else 0.0
            setattr(c, "load_w" if part == "load" else "ev_demand_w", power_w)
        battery = self.emulators.get("battery")
        if battery is not None:
            enabled = battery.get(704, "WSetEna") == 1
            request = battery.get(704, "WSet")
            c.battery_request_w = float(request) if enabled and request is not None else 0.0
        pcs = self.emulators.get("pcs")
        if pcs is not None:
            self.site.controller.settings = pcs.settings()
            self.site.controller.schedule = pcs.schedule()
            self.site.controller.clock_offset_s = pcs.clock_offset_s

    def _publish(self) -> None:
        battery = self.emulators.get("battery")
        if battery is not None:
            battery.set(701, "W", round(self.site.battery.value))
            battery.set(701, "LNV", round(self._voltage_v(), 1))
            battery.set(701, "Hz", round(self.site.conditions.frequency_hz, 3))
        pcs = self.emulators.get("pcs")
        if pcs is not None:
            pcs.publish_state(
                fail_safe=self.site.controller.fail_safe,
                pcc_import_w=self.site.pcc_import_w(),
                busbar_current_a=self.site.busbar_current_a(),
            )

    def step(self, now_s: float, dt_s: float) -> None:
        with self._lock:
            self._sync()
            n, h = substeps(dt_s)
            for k in range(n):
                self.site.step(now_s - dt_s + (k + 1) * h, h)
            self._publish()

    # -- the DUT's 2030.5 client ---------------------------------------------------------

    def start_links(self) -> None:
        """The DUT's clients of the bench's utility servers (2030.5 and OPC-UA)."""
        fault = self.site.fault
        if self.csip_device is not None:
            from flexbench.lab.virtual.csip_link import CsipLink

            slow = fault.poll_rate_multiple
            self.links.append(
                CsipLink(
                    self.csip,
                    self.csip_device,
                    self.clock,
                    lambda active: self._utility_limits(
                        "csip",
                        active.values.import_limit_w,
                        active.values.export_limit_w,
                        # to its default control at the default's setGradW, to a DERControl over its rampTms
                        active.ramp_rate_pct_per_s if active.source == "default" else None,
                        active.values.ramp_time_s if active.source != "default" else None,
                    ),
                    self._locked(self.site.pcc_import_w),
                    silent=fault.posts_no_responses,
                    comm_loss_timeout_s=fault.drops_schedule_on_loss_s,
                    poll_rate_s=slow * self.csip.config.poll_rate_s if slow else None,
                    on_prices=self._locked(lambda prices: setattr(self.site.controller, "prices", prices)),
                )
            )
        if self.opcua_site is not None:
            from flexbench.lab.virtual.opcua_link import OpcuaLink

            self.links.append(
                OpcuaLink(
                    self.opcua,
                    self.opcua_site,
                    self.clock,
                    lambda i, e: self._utility_limits("opcua", i, e),
                    self._locked(self.site.pcc_import_w),
                    ignores_heartbeat=fault.ignores_heartbeat,
                )
            )
        if self.opcua_device is not None:
            from flexbench.lab.virtual.opcua_device import OpcuaDeviceServer

            self.links.append(
                OpcuaDeviceServer(
                    self.opcua_device,
                    self.clock,
                    lambda i, e: self._utility_limits("opcua-device", i, e),
                    self._locked(self._device_state),
                    self.opcua.device_server_security(self.opcua_device),
                )
            )
        for link in self.links:
            link.start()

    def opcua_endpoints(self) -> dict[str, str]:
        """Endpoints of the OPC-UA servers the virtual DUT serves, by device name."""
        return {link.name: link.endpoint for link in self.links if hasattr(link, "endpoint")}

    def _device_state(self) -> dict[str, float | bool | None]:
        """What the virtual PCS shows on its own OPC-UA server."""
        limits = self.site.controller.utility_limits.get("opcua-device", (None, None))
        return {
            "pcc_import_w": self.site.pcc_import_w(),
            "pcc_reactive_var": 0.0,
            "applied_import_limit_w": limits[0],
            "applied_export_limit_w": limits[1],
            "fail_safe": self.site.controller.fail_safe,
        }

    def stop_links(self) -> None:
        for link in self.links:
            link.stop()

    def _utility_limits(
        self,
        channel: str,
        import_limit_w: float | None,
        export_limit_w: float | None,
        ramp_pct_per_s: float | None = None,
        ramp_time_s: float | None = None,
    ) -> None:
        """Site limits from one utility channel, on top of the PCS's own settings (the strictest wins); a
        2030.5 change at its DefaultDERControl's setGradW or over its DERControl's rampTms."""
        with self._lock:
            self.site.controller.set_utility_limits(
                channel, import_limit_w, export_limit_w, self.clock.now(), ramp_pct_per_s, ramp_time_s
            )

    def operator_action(self, action: str) -> None:
        if action not in _ACTIONS:
            raise BenchError(f"the virtual PCS site has no operator action {action!r} (actions: {', '.join(_ACTIONS)})")
        with self._lock:
            self.site.controller.sensor_connected = action == "reconnect-pcs-sensor"

    def final_state(self) -> dict[str, Any]:
        grid = self.emulators.get("grid_simulator")
        return {
            "grid_output_on": bool(grid.output_on) if grid is not None else None,
            "pcc_import_w": self.site.pcc_import_w(),
            "pcs_fail_safe": self.site.controller.fail_safe,
            "utility_limits": dict(self.site.controller.utility_limits),
        }
