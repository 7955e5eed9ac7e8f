"""A virtual power-control-system site: PV, battery, EV charger and a load behind one PCC.

The PCS under test senses the PCC (and the busbar that the PV and battery
inverters feed) with its own sensor, and every control period commands the PV
inverter, the battery inverter and the EV charger so that exchange with the
grid and busbar current stay within its settings. The bench sets conditions
as it would on hardware: PV simulator curve (available PV power), AC load
(uncontrolled load), a second AC load standing in for the EV behind the
charger, and the battery's own charge/discharge request (SunSpec WSet, as a
site energy manager would write it).

Sign conventions: PCC power positive = import; battery power positive = discharge.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flexbench.core import Envelope
from flexbench.core.schedules import Schedule
from flexbench.lab.virtual.dynamics import SecondOrder

if TYPE_CHECKING:  # the bench file's parser reads this module: 2030.5's models only where a site reads prices
    from flexbench.signals.csip.price_schedule import PriceSchedule


@dataclass(frozen=True)
class PCSFault:
    name: str
    description: str
    extra_delay_s: float = 0.0  # commands reach the devices this much later
    damping_ratio: float = 1.0  # of the controlled devices' response
    # PV, battery and EV, each its own: two sources ringing at one frequency cancel each other out
    # on a shared busbar when the bench's steps reach them half a period apart, hiding the fault
    natural_frequencies_rad_s: tuple[float, float, float] | None = None
    ignores_sensor_loss: bool = False  # keeps acting on its last reading instead of going fail-safe
    ignored_source: str | None = None  # a source the PCS never commands
    ignores_utility: bool = False  # takes 2030.5 limits but never applies them
    posts_no_responses: bool = False  # never posts 2030.5 Responses
    drops_schedule_on_loss_s: float | None = None  # on losing the server, falls back to defaults after this long
    poll_rate_multiple: float | None = None  # polls this many times slower than the server's pollRate
    ignores_heartbeat: bool = False  # keeps its last OPC-UA limits when the heartbeat stops
    price_over_envelope: bool = False  # in a cheap window charges past the utility's import limit
    ignores_schedule: bool = False  # takes a schedule file into its configuration and never applies it
    holds_last_interval: bool = False  # when a variable schedule runs out, keeps its last interval's limits
    ramp_multiple: float | None = None  # takes this many times longer than told to move to a new 2030.5 limit


PCS_FAULTS: dict[str, PCSFault] = {
    f.name: f
    for f in (
        PCSFault("healthy", "limits within the declared response time and accuracy"),
        PCSFault("slow", "every command reaches the devices 15 s late", extra_delay_s=15.0),
        PCSFault(
            "overshoot",
            "controlled sources ring around their commands (the fail-safe trip does not)",
            damping_ratio=0.05,
            natural_frequencies_rad_s=(1.5, 1.05, 1.25),
        ),
        PCSFault(
            "sensor-lost", "keeps acting on its last PCC reading when the sensor is lost", ignores_sensor_loss=True
        ),
        PCSFault("ignores-battery", "never commands the battery inverter", ignored_source="battery"),
        PCSFault("ignores-utility", "reads the utility's 2030.5 limits and never applies them", ignores_utility=True),
        PCSFault("no-responses", "applies 2030.5 controls but never posts Responses", posts_no_responses=True),
        PCSFault(
            "drops-schedule",
            "on losing the 2030.5 server, drops its cached schedule for the defaults",
            drops_schedule_on_loss_s=12.0,
        ),
        PCSFault("slow-poll", "polls the 2030.5 server four times slower than its pollRate", poll_rate_multiple=4.0),
        PCSFault("ignores-heartbeat", "keeps its last OPC-UA limits when the heartbeat stops", ignores_heartbeat=True),
        PCSFault(
            "price-over-envelope",
            "in a cheap-price window charges battery and EV past the utility's import limit",
            price_over_envelope=True,
        ),
        PCSFault(
            "ignores-schedule", "takes a schedule into its configuration and never applies it", ignores_schedule=True
        ),
        PCSFault(
            "holds-last-interval",
            "when a variable schedule runs out, keeps its last interval instead of the firm limits",
            holds_last_interval=True,
        ),
        PCSFault(
            "slow-ramp",
            "moves to a new 2030.5 limit three times slower than the control's rampTms (or setGradW) allows",
            ramp_multiple=3.0,
        ),
    )
}


@dataclass
class PCSSiteParameters:
    nominal_voltage_v: float = 240.0
    nominal_frequency_hz: float = 60.0
    phases: int = 3
    pv_rated_power_w: float = 10_000.0
    battery_rated_power_w: float = 5_000.0
    ev_rated_power_w: float = 7_200.0
    inverter_efficiency: float = 0.97
    device_time_constant_s: float = 0.4
    control_period_s: float = 0.2
    sensor_delay_s: float = 0.2
    sensor_timeout_s: float = 2.0
    control_margin_w: float = 100.0
    control_margin_a: float = 0.3
    cheap_price_per_kwh: float = 0.10  # at or below: charge the battery at its rating and the EV as it asks
    expensive_price_per_kwh: float = 0.30  # at or above: defer the EV, discharge to cover the site's own load


@dataclass
class PCSSettings:
    mode: str = "unrestricted"
    export_limit_w: float | None = None
    import_limit_w: float | None = None
    current_limit_a: float | None = None


@dataclass
class Conditions:
    """What the bench sets: the site's uncontrolled inputs."""

    grid_on: bool = False
    voltage_v: float = 240.0
    frequency_hz: float = 60.0
    pv_available_dc_w: float = 0.0
    load_w: float = 0.0
    ev_demand_w: float = 0.0
    battery_request_w: float = 0.0  # positive = discharge


class PCSController:
    """The PCS's control law: feed-forward from the sensed PCC and its devices' telemetry."""

    def __init__(self, params: PCSSiteParameters, fault: PCSFault) -> None:
        self.params = params
        self.fault = fault
        self.settings = PCSSettings()
        # site limits from the utility, per channel (2030.5, OPC-UA): (import W, export W); the strictest wins
        self.utility_limits: dict[str, tuple[float | None, float | None]] = {}
        # a change of a channel's limits made at a ramp: (bench time, (import, export) before, W/s per side)
        self._ramps: dict[str, tuple[float, tuple[float | None, float | None], tuple[float, float]]] = {}
        self.prices: PriceSchedule | None = None  # 2030.5 Pricing read by the PCS's client (import prices)
        # a schedule in its own configuration, read by its own clock (bench time + clock_offset_s)
        self.schedule: Schedule | None = None
        self.clock_offset_s = 0.0
        self.fail_safe = False
        self._sensor: deque[tuple[float, float]] = deque()
        self._last_reading: tuple[float, float] | None = None
        self.sensor_connected = True

    def set_utility_limits(
        self,
        channel: str,
        import_limit_w: float | None,
        export_limit_w: float | None,
        t_s: float | None = None,
        ramp_pct_per_s: float | None = None,
        ramp_time_s: float | None = None,
    ) -> None:
        """Site limits from one utility channel (2030.5, OPC-UA site, OPC-UA device server): in force at once,
        or from time `t_s` moved to over `ramp_time_s` (a DERControl's rampTms: from the site's present flow
        where no limit was in force) or at `ramp_pct_per_s` of the PV rating per second (setGradW)."""
        if self.fault.ignores_utility:
            return
        target = (import_limit_w, export_limit_w)
        slower = self.fault.ramp_multiple or 1.0
        if ramp_time_s and t_s is not None:
            start = self._present(channel, t_s, target)
            rates = [_rate_w_per_s(a, b, ramp_time_s * slower) for a, b in zip(start, target)]
            self._ramps[channel] = (t_s, start, (rates[0], rates[1]))
        elif ramp_pct_per_s and t_s is not None and channel in self.utility_limits:
            rate_w_per_s = ramp_pct_per_s / 100.0 * self.params.pv_rated_power_w / slower
            self._ramps[channel] = (t_s, self.limits_at(channel, t_s), (rate_w_per_s, rate_w_per_s))
        else:
            self._ramps.pop(channel, None)
        self.utility_limits[channel] = target

    def _present(
        self, channel: str, t_s: float, target: tuple[float | None, float | None]
    ) -> tuple[float | None, float | None]:
        """Where a rampTms ramp starts, per side: the limit in force, else the site's last sensed flow on that
        side when above the new limit (else the new limit: nothing to ramp)."""
        in_force = self.limits_at(channel, t_s) if channel in self.utility_limits else (None, None)
        reading = self._last_reading
        flows = (None, None) if reading is None else (max(reading[1], 0.0), max(-reading[1], 0.0))
        start: list[float | None] = []
        for limit, flow, new in zip(in_force, flows, target):
            if limit is None and flow is not None and new is not None and flow > new:
                limit = flow
            start.append(new if limit is None else limit)
        return start[0], start[1]

    def limits_at(self, channel: str, t_s: float) -> tuple[float | None, float | None]:
        """(import, export) of a channel in force at t_s: on its way at the ramp rate, or its target. A ramp
        from or to no limit has no length: that end applies at once."""
        target = self.utility_limits[channel]
        ramp = self._ramps.get(channel)
        if ramp is None:
            return target
        t0_s, start, rates_w_per_s = ramp
        now: list[float | None] = []
        for a, b, rate_w_per_s in zip(start, target, rates_w_per_s):
            step_w = rate_w_per_s * max(t_s - t0_s, 0.0) if rate_w_per_s < math.inf else math.inf
            if a is None or b is None or abs(b - a) <= step_w:
                now.append(b)
            else:
                now.append(a + math.copysign(step_w, b - a))
        return now[0], now[1]

    def schedule_limits(self, t_s: float) -> tuple[float | None, float | None]:
        """(import, export) of its schedule at bench time t_s, read by its own clock; (None, None) without one.

        A variable schedule that has run out (or not begun) gives its firm limits.
        """
        schedule = self.schedule
        if schedule is None or self.fault.ignores_schedule:
            return None, None
        pcs_t_s = t_s + self.clock_offset_s
        limits = schedule.at(pcs_t_s)
        if self.fault.holds_last_interval and isinstance(schedule, Envelope) and schedule.intervals:
            last = schedule.intervals[-1]
            if pcs_t_s >= last.end_s:
                limits = last.limits.or_else(schedule.firm)
        return limits.import_limit_w, limits.export_limit_w

    def sense(self, t_s: float, pcc_import_w: float) -> None:
        if self.sensor_connected:
            self._sensor.append((t_s, pcc_import_w))

    def _reading(self, t_s: float) -> tuple[float, float] | None:
        """The latest PCC reading the PCS has received (after its sensor delay)."""
        latest = None
        while self._sensor and self._sensor[0][0] <= t_s - self.params.sensor_delay_s:
            latest = self._sensor.popleft()
        if latest is not None:
            self._last_reading = latest
        return self._last_reading

    def commands(
        self, t_s: float, c: Conditions, pv_w: float, battery_w: float, ev_w: float, pv_available_ac_w: float
    ) -> dict[str, float]:
        """Limits for the devices: pv_max_w, ev_max_w, and a battery range [battery_min_w, battery_max_w].

        Devices follow their own requests within these limits, so a step in conditions shows
        at the PCC at once and the PCS catches up at its next control period, as on hardware.
        """
        p = self.params
        free = {
            "pv_max_w": math.inf,
            "ev_max_w": math.inf,
            "battery_min_w": -p.battery_rated_power_w,
            "battery_max_w": p.battery_rated_power_w,
        }
        reading = self._reading(t_s)
        stale = reading is None or t_s - reading[0] > p.sensor_timeout_s
        self.fail_safe = stale and not (self.fault.ignores_sensor_loss and reading is not None)
        if self.fail_safe:  # without a fresh PCC reading nothing may export: trip sources and controlled loads
            return {"pv_max_w": 0.0, "ev_max_w": 0.0, "battery_min_w": 0.0, "battery_max_w": 0.0, "trip": 1.0}
        assert reading is not None
        load_w = reading[1] + pv_w + battery_w - ev_w  # what the PCS infers of the uncontrolled load
        pv, battery, ev = self._dispatch(t_s, c, load_w, pv_available_ac_w)
        commands = dict(free)
        if pv < pv_available_ac_w - 1.0:
            commands["pv_max_w"] = pv
        if ev < c.ev_demand_w - 1.0:
            commands["ev_max_w"] = ev
        if self.fault.ignored_source != "battery" and abs(battery - c.battery_request_w) > 1.0:
            commands["battery_min_w"] = commands["battery_max_w"] = battery
        return commands

    def _dispatch(
        self, t_s: float, c: Conditions, load_w: float, pv_available_ac_w: float
    ) -> tuple[float, float, float]:
        """PV, battery and EV powers that keep the PCC and the busbar within the settings."""
        p = self.params
        s = self.settings
        utility = [self.limits_at(channel, t_s) for channel in self.utility_limits] + [self.schedule_limits(t_s)]
        export_limit = min([_or_inf(s.export_limit_w)] + [_or_inf(e) for _, e in utility])
        import_limit = min([_or_inf(s.import_limit_w)] + [_or_inf(i) for i, _ in utility])
        if s.mode in ("import-only", "no-exchange"):
            export_limit = 0.0
        if s.mode == "no-exchange":
            import_limit = 0.0
        export_limit = max(export_limit - p.control_margin_w, 0.0)
        import_limit = max(import_limit - p.control_margin_w, 0.0)

        pv = pv_available_ac_w
        battery = max(-p.battery_rated_power_w, min(p.battery_rated_power_w, c.battery_request_w))
        ev = min(c.ev_demand_w, p.ev_rated_power_w)
        controls_battery = self.fault.ignored_source != "battery"
        price = self.prices.price_at(t_s) if self.prices is not None else None
        if price is not None and price <= p.cheap_price_per_kwh:  # cheap: store energy now
            battery = -p.battery_rated_power_w if controls_battery else battery
            if self.fault.price_over_envelope:
                import_limit = math.inf
        elif price is not None and price >= p.expensive_price_per_kwh:  # dear: import nothing that can wait
            ev = 0.0
            battery = min(p.battery_rated_power_w, max(load_w - pv, 0.0)) if controls_battery else battery

        if s.mode == "export-only" and controls_battery and battery < 0:
            # storage may charge only from on-site surplus, never from the grid
            battery = max(battery, -max(pv - load_w - ev, 0.0))

        if s.current_limit_a is not None:  # sources on the busbar: battery discharge first, then PV
            max_source_w = max(s.current_limit_a - p.control_margin_a, 0.0) * p.phases * c.voltage_v
            over = pv + max(battery, 0.0) - max_source_w
            if over > 0 and controls_battery and battery > 0:
                cut = min(over, battery)
                battery -= cut
                over -= cut
            if over > 0:
                pv = max(pv - over, 0.0)

        net_w = load_w + ev - pv - battery  # predicted import
        if net_w < -export_limit:  # too much export: charge the battery, then curtail PV
            excess = -export_limit - net_w
            if controls_battery:
                take = min(excess, battery + p.battery_rated_power_w)
                battery -= take
                excess -= take
            pv = max(pv - excess, 0.0)
        elif net_w > import_limit:  # too much import: shed EV, stop charging, then discharge
            excess = net_w - import_limit
            take = min(excess, ev)
            ev -= take
            excess -= take
            if controls_battery and excess > 0:
                battery += min(excess, p.battery_rated_power_w - battery)
        return pv, battery, ev


class PCSSite:
    """Physics of the site; `step` advances it by a bench-time interval."""

    def __init__(self, params: PCSSiteParameters, fault: PCSFault) -> None:
        self.params = params
        self.fault = fault
        self.conditions = Conditions(voltage_v=params.nominal_voltage_v, frequency_hz=params.nominal_frequency_hz)
        self.controller = PCSController(params, fault)
        wn = 1.0 / params.device_time_constant_s
        pv_wn, battery_wn, ev_wn = fault.natural_frequencies_rad_s or (wn, wn, wn)
        self.pv = SecondOrder(pv_wn, fault.damping_ratio)
        self.battery = SecondOrder(battery_wn, fault.damping_ratio)
        self.ev = SecondOrder(ev_wn, fault.damping_ratio)
        self._pending: deque[tuple[float, dict[str, float]]] = deque()
        self._limits = {"pv_max_w": 0.0, "ev_max_w": 0.0, "battery_min_w": 0.0, "battery_max_w": 0.0}
        self._next_control_s = 0.0

    def pv_available_ac_w(self) -> float:
        return min(self.conditions.pv_available_dc_w * self.params.inverter_efficiency, self.params.pv_rated_power_w)

    def grid_ok(self) -> bool:
        c = self.conditions
        nominal = self.params.nominal_voltage_v
        return (
            c.grid_on
            and 0.88 * nominal <= c.voltage_v <= 1.10 * nominal
            and abs(c.frequency_hz - self.params.nominal_frequency_hz) <= 1.2
        )

    def step(self, t_s: float, dt_s: float) -> None:
        p = self.params
        if not self.grid_ok():
            for device in (self.pv, self.battery, self.ev):
                device.reset()
            self._pending.clear()
            return
        self.controller.sense(t_s, self.pcc_import_w())
        if t_s >= self._next_control_s:
            self._next_control_s = t_s + p.control_period_s
            commands = self.controller.commands(
                t_s, self.conditions, self.pv.value, self.battery.value, self.ev.value, self.pv_available_ac_w()
            )
            self._pending.append((t_s + self.fault.extra_delay_s, commands))
        while self._pending and self._pending[0][0] <= t_s:
            self._limits = self._pending.popleft()[1]
        lim, c = self._limits, self.conditions
        if lim.get("trip"):  # fail-safe opens the devices' outputs: no ramp, no ringing
            for device in (self.pv, self.battery, self.ev):
                device.reset()
            return
        available = self.pv_available_ac_w()
        self.pv.step(min(available, lim["pv_max_w"]), dt_s, lower=0.0, upper=available * 1.2 + 1.0)
        battery_target = min(max(c.battery_request_w, lim["battery_min_w"]), lim["battery_max_w"])
        battery_target = max(-p.battery_rated_power_w, min(p.battery_rated_power_w, battery_target))
        self.battery.step(
            battery_target, dt_s, lower=-p.battery_rated_power_w * 1.2, upper=p.battery_rated_power_w * 1.2
        )
        ev_target = min(c.ev_demand_w, lim["ev_max_w"], p.ev_rated_power_w)
        self.ev.step(ev_target, dt_s, lower=0.0, upper=p.ev_rated_power_w * 1.2)

    def load_w(self) -> float:
        return self.conditions.load_w if self.conditions.grid_on else 0.0

    def pcc_import_w(self) -> float:
        return self.load_w() + self.ev.value - self.pv.value - self.battery.value

    def busbar_current_a(self) -> float:
        """Current on the busbar the PV and battery inverters feed (sources only, per phase)."""
        v = self.conditions.voltage_v
        return (self.pv.value + max(self.battery.value, 0.0)) / (self.params.phases * v) if v > 0 else 0.0


def _rate_w_per_s(start_w: float | None, target_w: float | None, ramp_s: float) -> float:
    """The rate that moves one side from start to target in ramp_s (any rate when an end is no limit)."""
    if start_w is None or target_w is None or ramp_s <= 0:
        return math.inf
    return abs(target_w - start_w) / ramp_s


def _or_inf(limit_w: float | None) -> float:
    return math.inf if limit_w is None else limit_w
