"""What the bench does at each time of an event: conditions and operator signals, in bench units.

Planned before the bench starts, from the event and the twin's states, so no
power flow runs while bench time is ticking (and OpenDSS stays on the main
thread). Field powers are multiplied by the event's bench ratio:

- conditions: uncontrolled load -> the bench's AC load, EV demand -> the EV load,
  PV output (AC) -> the PV simulator's maximum power point (DC, over the
  bench inverter's efficiency), battery request -> the
  battery inverter, the twin's PCC voltage (pu) -> the grid simulator;
- signals: site limits and the twin's envelope as CSIP-AUS import/export limits
  (an envelope never below the site's firm limits nor above its rating; a
  limit the entry does not give is the site's rating), abnormal operation as a
  maximum import, cancel.
"""

from __future__ import annotations

from dataclasses import dataclass

from flexbench.core import SiteLimits
from flexbench.lab.plan import Conditions as SiteConditions
from flexbench.lab.plan import SiteParams
from flexbench.lab.replay.event import ReplayEvent
from flexbench.twin.event_twin import TwinState, state_at
from flexbench.twin.events import Entry


class BenchSettings(SiteParams):
    """How the bench's site is driven (the bench's own numbers, not the field's)."""

    nominal_voltage_v: float = 240.0
    nominal_frequency_hz: float = 60.0
    precondition_s: float = 20.0
    """Pre-roll: the start's conditions set, before the event's time 0."""
    pv_mpp_voltage_v: float = 750.0
    pv_fill_factor: float = 0.8
    pv_inverter_efficiency: float = 0.97
    """The bench PV inverter's: field PV (AC) / this = PV simulator power (DC)."""
    phases: int = 3
    """The AC loads are per-phase units programmed alike."""
    default_signal_s: float = 60.0
    """A signal without duration lasts to the event's end plus this."""


@dataclass(frozen=True)
class Conditions:
    """The bench site's uncontrolled conditions, bench W and V."""

    load_w: float
    ev_w: float
    pv_dc_w: float
    battery_w: float
    voltage_v: float

    def site(self) -> SiteConditions:
        """What the site would do uncontrolled, as the plan vocabulary sets it."""
        return SiteConditions(pv_dc_w=self.pv_dc_w, load_w=self.load_w, ev_w=self.ev_w, battery_w=self.battery_w)


@dataclass(frozen=True)
class Signal:
    """An operator signal in bench units."""

    kind: str  # limits | envelope | abnormal | cancel
    limits: SiteLimits = SiteLimits()  # abnormal: the maximum import alone
    duration_s: int = 0
    target: str = "all"  # for cancel


@dataclass(frozen=True)
class Step:
    t_s: float
    entry: Entry | None  # None: the start
    conditions: Conditions
    signal: Signal | None
    twin: TwinState

    def label(self) -> str:
        return "start" if self.entry is None else f"{self.entry.number}: {self.entry.describe()}"


def conditions_of(replay: ReplayEvent, state: TwinState, settings: BenchSettings) -> Conditions:
    bench_w = replay.mapping.to_bench
    site = replay.event.site
    return Conditions(
        load_w=bench_w(state.site_load_w),
        ev_w=bench_w(site.ev_w),
        pv_dc_w=bench_w(state.site_pv_w) / settings.pv_inverter_efficiency,
        battery_w=bench_w(site.battery_w),
        voltage_v=state.pcc_voltage_pu * settings.nominal_voltage_v,
    )


def signal_of(replay: ReplayEvent, entry: Entry, state: TwinState, settings: BenchSettings) -> Signal | None:
    mapping = replay.mapping
    ratio = mapping.bench_ratio
    v = entry.values
    duration = int(round(v.get("duration_s", replay.event.duration_s - entry.t_s + settings.default_signal_s)))
    if entry.action == "site_limits":
        field = SiteLimits(
            import_limit_w=v.get("import_limit_w", mapping.rating_w),
            export_limit_w=v.get("export_limit_w", mapping.rating_w),
        )
        return Signal("limits", field.scaled(ratio, ratio), duration)
    if entry.action == "envelope":
        sent = mapping.envelope(state.import_limit_w, state.export_limit_w)
        return Signal("envelope", sent.scaled(ratio, ratio), duration)
    if entry.action == "abnormal_import":
        return Signal("abnormal", SiteLimits(import_limit_w=v["max_import_w"] * ratio), duration)
    if entry.action == "cancel":
        return Signal("cancel", target=v["target"])
    return None


def plan_steps(replay: ReplayEvent, states: list[TwinState], settings: BenchSettings) -> list[Step]:
    """The start, then one step per timeline entry, in time order."""
    steps = [Step(0.0, None, conditions_of(replay, states[0], settings), None, states[0])]
    for entry in replay.event.timeline:
        state = state_at(states, entry.t_s)
        steps.append(
            Step(
                entry.t_s,
                entry,
                conditions_of(replay, state, settings),
                signal_of(replay, entry, state, settings),
                state,
            )
        )
    return steps
