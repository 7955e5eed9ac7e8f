"""The site's devices as a controller meets them: SunSpec inverters and a PCC meter on Modbus.

An inverter serves the SunSpec 7xx DER models (1, 701, 702, 703, 704) or the
legacy ones (1, 101/102/103, 120, 121, 122, 123, and 124 for a battery) and
does what a device does with what the controller writes:

- active power limit: 704 WMaxLimPct (with WMaxLimPct_SF) while WMaxLimPctEna
  is 1, or 123 WMaxLimPct while WMaxLim_Ena is 1, in percent of WMax (702, or
  121 which the controller may lower);
- ramp: 704 WRmp (percent of WMax per second) limits increases, a decrease
  applies at once; 123 WMaxLimPct_RmpTms spreads any change of the limit over
  that many seconds;
- revert timers: with 704 WMaxLimPctRvrtTms (or WSetRvrtTms) set, a limit not
  written again within that time reverts to WMaxLimPctRvrt / WMaxLimPctEnaRvrt
  (WMaxLimPctRvrtRem counts down); 123 WMaxLimPct_RvrtTms disables the limit
  (WMaxLim_Ena = 0), Conn_RvrtTms reconnects, 124 InOutWRte_RvrtTms returns
  the battery to holding;
- connect: 703 ES = 0 or 123 Conn = 0 ceases output at once;
- battery: it follows a request of its own (its local dispatch, the site's
  EMS: on the bench, the `battery` instrument writing WSet into its own port,
  see site.py), which the controller caps or overrides. 7xx: 704 WMaxLimPct
  (while WMaxLimPctEna is 1) caps discharge, 702 WChaRteMax caps charging (W),
  704 WSet (WSetMod 1, watts, positive = discharge; WSetMod 0: WSetPct) while
  WSetEna is 1 replaces the own request, within both caps. Legacy: 124
  StorCtl_Mod bit DISCHARGE holds the output at or below OutWRte, bit CHARGE at
  or above -InWRte (percent of WChaMax; a negative InWRte forces a discharge,
  a negative OutWRte a charge: OutWRte = p, InWRte = -p with both bits holds
  p), and 123 WMaxLimPct caps discharge;
- out-of-range setpoints answer exception 3 (WMaxLimPct beyond 0-100 %, WSet
  beyond the rating, ...), writes to read-only points alone exception 2, and a
  block write of a whole model, from its ID/L header, has its header and
  read-only points ignored (instruments.emulators.sunspec_device).

Faults the bench injects: ``ignores_writes`` (writes are acknowledged and read
back, the device acts on none of them: its output keeps the state it had),
the emulator's ``responding`` (the device stops answering) and its
``strict_writes`` (a block write over a header or read-only point is refused
with exception 2, as strict devices do).
"""

from __future__ import annotations

import math
from typing import Any

from flexbench.instruments.emulators.modbus_meter import ModbusMeterEmulator
from flexbench.instruments.emulators.sunspec_der import VALUE_RANGES, SunSpecDEREmulator
from flexbench.instruments.emulators.sunspec_meter import SunSpecMeterEmulator
from flexbench.lab.clock import Clock
from flexbench.lab.virtual.controller_site.config import ControllerPlantParameters, DeviceSpec
from flexbench.lab.virtual.dynamics import SecondOrder

MODELS_7XX = (1, 701, 702, 703, 704)
LEGACY_MEASUREMENT_MODEL = {1: 101, 2: 102, 3: 103}
LEGACY_PHASES = {101: "A", 102: "AB", 103: "ABC"}


def inverter_models(spec: DeviceSpec, phases: int) -> tuple[int, ...]:
    if spec.family == "sunspec-7xx":
        return MODELS_7XX
    return (1, LEGACY_MEASUREMENT_MODEL[phases], 120, 121, 122, 123) + ((124,) if spec.kind == "battery" else ())


class SiteInverter:
    """One inverter: its SunSpec map, what it makes of the controller's writes, and its output power."""

    def __init__(self, spec: DeviceSpec, params: ControllerPlantParameters, clock: Clock) -> None:
        self.spec = spec
        self.params = params
        self.clock = clock
        self.legacy = spec.family == "sunspec-legacy"
        self.models = inverter_models(spec, params.phases)
        rated = spec.rated_w
        self.emulator = SunSpecDEREmulator(
            self.models,
            spec.unit_id,
            clock=clock,
            link=spec.transport,
            baud=spec.baud,
            nameplate={"rated_power_w": rated, "nominal_voltage_v": params.nominal_voltage_v},
            identity={
                "manufacturer": "flexbench",
                "model": f"Virtual {spec.kind} inverter",
                "serial": f"{spec.name.upper()}-{spec.unit_id:04d}",
            },
        )
        self.emulator.listen = spec.listen
        self.emulator.value_ranges = {
            **VALUE_RANGES,
            (704, "WSet"): (-rated, rated),
            (704, "WSetRvrt"): (-rated, rated),
            (121, "WMax"): (0.0, rated),
            (124, "WChaMax"): (0.0, rated),
            (702, "WChaRteMax"): (0.0, rated),
            (702, "WDisChaRteMax"): (0.0, rated),
            (124, "InWRte"): (-100.0, 100.0),
            (124, "OutWRte"): (-100.0, 100.0),
        }
        self.emulator.on_write = self._written
        self._populate()
        self.ignores_writes = False
        self._written_at: dict[str, float] = {}
        self._started_s = clock.now()
        self.output = SecondOrder(1.0 / params.device_time_constant_s)
        self.applied_limit_pct = 100.0
        self._ramp_to_pct = 100.0
        self._ramp_rate_pct_s = math.inf
        self.own_request_w = 0.0  # battery: its local dispatch's request, + discharge (not the controller's)
        self.controls = self._read_controls()
        self.energy_out_wh = 0.0
        self.energy_in_wh = 0.0

    @property
    def name(self) -> str:
        return self.spec.name

    # -- the map ------------------------------------------------------------------------------
    def _populate(self) -> None:
        emu, p = self.emulator, self.params
        if 703 in self.models:
            emu.set_raw(703, "V_SF", -1)
            emu.set_raw(703, "Hz_SF", -2)
            for point, value in (
                ("ES", 1),
                ("ESVHi", 105.0),
                ("ESVLo", 91.7),
                ("ESHzHi", p.nominal_frequency_hz + 0.1),
                ("ESHzLo", p.nominal_frequency_hz - 0.5),
                ("ESDlyTms", 0),
                ("ESRndTms", 0),
                ("ESRmpTms", 0),
                ("ESDlyRemTms", 0),
            ):
                emu.set(703, point, value)
        if 120 in self.models and self.spec.kind == "battery":
            emu.set(120, "DERTyp", 82)  # PV_STOR
        if 702 in self.models and self.spec.kind == "battery":
            for point in ("WChaRteMaxRtg", "WDisChaRteMaxRtg", "WChaRteMax", "WDisChaRteMax"):
                emu.set(702, point, self.spec.rated_w)
        if 122 in self.models:
            emu.set(122, "ECPConn", 1)
            emu.set(122, "PVConn", 0)  # until the first publish()
            emu.set(122, "StorConn", 0)
        if 124 in self.models:
            for sf, exponent in (
                ("WChaMax_SF", emu.blocks[121].raw("WMax_SF")),
                ("WChaDisChaGra_SF", 0),
                ("VAChaMax_SF", emu.blocks[121].raw("WMax_SF")),
                ("MinRsvPct_SF", 0),
                ("ChaState_SF", 0),
                ("StorAval_SF", 0),
                ("InBatV_SF", -1),
                ("InOutWRte_SF", -1),
            ):
                emu.set_raw(124, sf, exponent)
            for point, value in (
                ("WChaMax", self.spec.rated_w),
                ("WChaGra", 100),
                ("WDisChaGra", 100),
                ("StorCtl_Mod", 0),
                ("VAChaMax", self.spec.rated_w),
                ("MinRsvPct", 10),
                ("ChaState", p.battery_soc_pct),
                ("InBatV", 400.0),
                ("ChaSt", 6),
                ("OutWRte", 0.0),
                ("InWRte", 0.0),
                ("InOutWRte_WinTms", 0),
                ("InOutWRte_RvrtTms", 0),
                ("InOutWRte_RmpTms", 0),
            ):
                emu.set(124, point, value)

    def _written(self, model_id: int, point: str, value: object) -> None:
        self._written_at[f"{model_id}.{point}"] = self.clock.now()

    def _get(self, model_id: int, point: str, default: float = 0.0) -> float:
        value = self.emulator.get(model_id, point)
        return default if value is None else float(value)

    def wmax_w(self) -> float:
        if self.legacy:
            return min(self._get(121, "WMax", self.spec.rated_w), self.spec.rated_w)
        return self._get(702, "WMax", self.spec.rated_w)

    # -- what the controller wrote ----------------------------------------------------------------
    def _read_controls(self) -> dict[str, float]:
        g = self._get
        if self.legacy:
            controls = {
                "limit_enabled": g(123, "WMaxLim_Ena"),
                "limit_pct": g(123, "WMaxLimPct", 100.0),
                "ramp_time_s": g(123, "WMaxLimPct_RmpTms"),
                "connected": g(123, "Conn", 1.0),
                "wmax_w": self.wmax_w(),
            }
            if 124 in self.models:
                mode = int(g(124, "StorCtl_Mod"))
                full_w = g(124, "WChaMax", self.spec.rated_w)
                controls["battery_max_w"] = g(124, "OutWRte") / 100.0 * full_w if mode & 2 else math.inf  # DISCHARGE
                controls["battery_min_w"] = -g(124, "InWRte") / 100.0 * full_w if mode & 1 else -math.inf  # CHARGE
            return controls
        controls = {
            "limit_enabled": g(704, "WMaxLimPctEna"),
            "limit_pct": g(704, "WMaxLimPct", 100.0),
            "ramp_pct_s": g(704, "WRmp"),
            "connected": g(703, "ES", 1.0),
            "wmax_w": self.wmax_w(),
        }
        if self.spec.kind == "battery":
            if g(704, "WSetEna") == 1:
                controls["battery_setpoint_w"] = (
                    g(704, "WSet") if g(704, "WSetMod") == 1 else g(704, "WSetPct") / 100.0 * controls["wmax_w"]
                )
            controls["battery_min_w"] = -g(702, "WChaRteMax", self.spec.rated_w)
        return controls

    def battery_target_w(self) -> float:
        """What the battery aims at: its own request (or the controller's WSet) within the controller's caps."""
        c = self.controls
        request = c.get("battery_setpoint_w", self.own_request_w)
        target = min(max(request, c.get("battery_min_w", -math.inf)), c.get("battery_max_w", math.inf))
        ceiling_w = self.applied_limit_pct / 100.0 * c["wmax_w"]  # WMaxLimPct caps discharge
        return min(max(target, -c["wmax_w"]), ceiling_w, c["wmax_w"])

    def _since_write(self, now_s: float, *points: str) -> float:
        last = max((self._written_at.get(p, self._started_s) for p in points), default=self._started_s)
        return now_s - last

    def _revert(self, now_s: float) -> None:
        """Revert timers: a setting the controller stopped refreshing returns to its default."""
        emu, g = self.emulator, self._get
        if self.legacy:
            timeout_s = g(123, "WMaxLimPct_RvrtTms")
            if (
                timeout_s > 0
                and g(123, "WMaxLim_Ena") == 1
                and self._since_write(now_s, "123.WMaxLimPct", "123.WMaxLim_Ena", "123.WMaxLimPct_RvrtTms") >= timeout_s
            ):
                emu.set(123, "WMaxLim_Ena", 0)
            timeout_s = g(123, "Conn_RvrtTms")
            if (
                timeout_s > 0
                and g(123, "Conn", 1) == 0
                and self._since_write(now_s, "123.Conn", "123.Conn_RvrtTms") >= timeout_s
            ):
                emu.set(123, "Conn", 1)
            if 124 in self.models:
                timeout_s = g(124, "InOutWRte_RvrtTms")
                if (
                    timeout_s > 0
                    and g(124, "StorCtl_Mod") != 0
                    and self._since_write(
                        now_s, "124.StorCtl_Mod", "124.InWRte", "124.OutWRte", "124.InOutWRte_RvrtTms"
                    )
                    >= timeout_s
                ):
                    emu.set(124, "StorCtl_Mod", 0)
            return
        for prefix, values in (("WMaxLimPct", ("WMaxLimPct",)), ("WSet", ("WSet", "WSetPct"))):
            enable, timeout_s = f"{prefix}Ena", g(704, f"{prefix}RvrtTms")
            remaining_s = 0.0
            if timeout_s > 0 and g(704, enable) == 1:
                elapsed_s = self._since_write(
                    now_s, *(f"704.{v}" for v in values), f"704.{enable}", f"704.{prefix}RvrtTms"
                )
                remaining_s = timeout_s - elapsed_s
                if remaining_s <= 0:
                    for v in values:
                        emu.set(704, v, emu.get(704, f"{v}Rvrt"))
                    emu.set(704, enable, emu.get(704, f"{prefix}EnaRvrt"))
                    remaining_s = 0.0
            emu.set(704, f"{prefix}RvrtRem", math.ceil(remaining_s))

    # -- physics ---------------------------------------------------------------------------------
    def _ramp(self, dt_s: float) -> None:
        c = self.controls
        commanded = min(max(c["limit_pct"], 0.0), 100.0) if c["limit_enabled"] == 1 else 100.0
        if self.legacy:
            if commanded != self._ramp_to_pct:
                ramp_s = c["ramp_time_s"]
                self._ramp_rate_pct_s = abs(commanded - self.applied_limit_pct) / ramp_s if ramp_s > 0 else math.inf
                self._ramp_to_pct = commanded
            rate = self._ramp_rate_pct_s
        else:
            rate = c["ramp_pct_s"] if commanded > self.applied_limit_pct and c["ramp_pct_s"] > 0 else math.inf
        step = rate * dt_s
        if abs(commanded - self.applied_limit_pct) <= step:
            self.applied_limit_pct = commanded
        else:
            self.applied_limit_pct += math.copysign(step, commanded - self.applied_limit_pct)

    def sync(self, now_s: float) -> None:
        """Revert timers, then what the controller wrote: once a plant step, before its integration substeps."""
        if not self.ignores_writes:
            self._revert(now_s)
            self.controls = self._read_controls()

    def step(self, dt_s: float, available_w: float, grid_ok: bool) -> None:
        """Advance by dt_s: the limit's ramp, then the output toward its target (controls as of the last sync)."""
        self._ramp(dt_s)
        c = self.controls
        if not grid_ok or c["connected"] == 0:
            self.output.reset()
        else:
            ceiling_w = self.applied_limit_pct / 100.0 * c["wmax_w"]
            if self.spec.kind == "battery":
                target_w = self.battery_target_w()
            else:
                target_w = min(available_w, ceiling_w)
            self.output.step(target_w, dt_s, lower=-1.2 * self.spec.rated_w, upper=1.2 * self.spec.rated_w)
        p_w = self.output.value
        self.energy_out_wh += max(p_w, 0.0) * dt_s / 3600.0
        self.energy_in_wh += max(-p_w, 0.0) * dt_s / 3600.0

    def publish(self, voltage_v: float, frequency_hz: float) -> None:
        """Measurements into the map, as the device reports them."""
        emu, p_w, phases = self.emulator, self.output.value, self.params.phases
        connected = self.controls["connected"] != 0 and voltage_v > 0
        current_a = abs(p_w) / (phases * voltage_v) if voltage_v > 0 else 0.0
        throttled = self.applied_limit_pct < 100.0
        if not self.legacy:
            for point, value in (
                ("W", p_w),
                ("VA", abs(p_w)),
                ("Var", 0.0),
                ("PF", 1.0),
                ("A", current_a * phases),
                ("LNV", voltage_v),
                ("LLV", voltage_v * (math.sqrt(3) if phases == 3 else 1.0)),
                ("Hz", frequency_hz),
                ("ConnSt", int(connected)),
                ("St", int(connected)),
                ("InvSt", (4 if throttled else 3) if connected else 7),
                ("TotWhInj", max(1, round(self.energy_out_wh))),
                ("TotWhAbs", max(1, round(self.energy_in_wh))),
            ):
                emu.set(701, point, value)
            return
        model = LEGACY_MEASUREMENT_MODEL[phases]
        updates: dict[str, float] = {
            "W": p_w,
            "VA": abs(p_w),
            "VAr": 0.0,
            "PF": 100.0,
            "A": current_a * phases,
            "Hz": frequency_hz,
            "WH": max(1, round(self.energy_out_wh)),
            "St": (5 if throttled else 4) if connected else 8,
        }
        for letter in LEGACY_PHASES[model]:
            updates[f"Aph{letter}"] = current_a
            updates[f"PhVph{letter}"] = voltage_v
        for point, value in updates.items():
            emu.set(model, point, value)
        state = 7 if connected else 2  # CONNECTED | AVAILABLE | OPERATING, or AVAILABLE
        battery = self.spec.kind == "battery"
        emu.set(122, "StorConn", state if battery else 0)  # 0: nothing of that kind connected
        emu.set(122, "PVConn", 0 if battery else state)
        if 124 in self.models:
            emu.set(124, "ChaSt", 3 if p_w > 1.0 else 4 if p_w < -1.0 else 6)

    def truth(self) -> dict[str, Any]:
        c = self.controls
        limited = c["limit_enabled"] == 1 or self.applied_limit_pct < 100.0
        return {
            "kind": self.spec.kind,
            "family": self.spec.family,
            "p_w": self.output.value,
            "connected": c["connected"] != 0,
            "limit_pct": self.applied_limit_pct if limited else None,
            "limit_w": self.applied_limit_pct / 100.0 * c["wmax_w"] if limited else None,
            "wmax_w": c["wmax_w"],
            "battery_request_w": self.own_request_w if self.spec.kind == "battery" else None,
            "battery_target_w": self.battery_target_w() if self.spec.kind == "battery" else None,
            "ignores_writes": self.ignores_writes,
            "responding": self.emulator.responding,
        }


def make_meter(spec: DeviceSpec, clock: Clock) -> Any:
    """The PCC meter's emulator: a SunSpec 201-204 meter or a register-map meter."""
    if spec.family == "sunspec":
        emu: Any = SunSpecMeterEmulator(
            spec.model,
            spec.unit_id,
            clock,
            rated_power_w=spec.rated_w,
            identity={"SN": f"{spec.name.upper()}-{spec.unit_id:04d}"},
            link=spec.transport,
            baud=spec.baud,
        )
    else:
        emu = ModbusMeterEmulator(spec.register_map, spec.unit_id, clock, link=spec.transport, baud=spec.baud)
    emu.listen = spec.listen
    return emu
