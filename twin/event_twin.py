"""The twin through a field event: each timeline change applied, the site's state recomputed.

The event file is read and checked by flexbench.twin.events; this module
replays its feeder changes (load, switching, irradiance) on the feeder (OpenDSS in the calling thread) and
gives the site's PCC voltage and envelope after each.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from flexbench.twin.errors import TwinError
from flexbench.twin.events import TWIN_ACTIONS, Entry, FieldEvent
from flexbench.twin.limits import binding_name

if TYPE_CHECKING:
    from flexbench.twin.twin import Twin


@dataclass(frozen=True)
class TwinState:
    """What the twin computes after the changes up to time t_s (field W, import positive)."""

    t_s: float
    entry: int  # the timeline entry just applied (0: the start)
    site_net_w: float  # the site's uncontrolled net power (load + EV - PV - battery)
    site_load_w: float  # its uncontrolled load (without EV)
    site_pv_w: float  # its PV output
    pcc_voltage_pu: float  # mean of the site bus's phase voltages
    import_limit_w: float  # the site's envelope: largest import ...
    export_limit_w: float  # ... and export the feeder takes now (negative: must import)
    binding_import: str
    binding_export: str
    switches: tuple[str, ...]  # switching commands in force


class EventTwin:
    """The feeder through an event: applies each twin change and recomputes the site's state.

    Loads and PV are set from the event's start values and scales; a switching
    operation rebuilds the feeder with the switching applied, so customer
    locations, constraints and the envelope engine follow the new topology.
    The site's own net power is its uncontrolled conditions: the lab's response
    is not fed back (that is the PHIL loop's job). OpenDSS runs in the calling
    thread.
    """

    def __init__(self, event: FieldEvent, twin: Twin | None = None) -> None:
        from flexbench.twin.compute import EnvelopeSettings
        from flexbench.twin.feeders import resolve_feeder
        from flexbench.twin.twin import Twin

        self.event = event
        self._Twin = Twin
        self.source = twin.source if twin is not None else resolve_feeder(event.feeder)
        self.twin = twin if twin is not None else Twin(self.source)
        self.settings = EnvelopeSettings()
        self.switches: list[str] = []
        self.pvsystem_commands: dict[str, str] = {}
        self.scales: dict[str, float] = {}  # per load, relative to the start
        self.other_scale = 1.0  # every other load, relative to the start
        site = event.site
        self.irradiance = {load: site.irradiance_w_m2 for load in event.pv_systems}
        self.nominal_w = {s.site_id: s.nominal_w for s in self.twin.sites}

    # -- changes ----------------------------------------------------------------------
    def apply(self, entry: Entry) -> None:
        """Apply one timeline entry (operator signals change nothing in the feeder)."""
        v = entry.values
        if entry.action == "load":
            if v["element"] == "*":
                self.other_scale = float(v["scale"])
                self.scales = {k: s for k, s in self.scales.items() if k == self.event.site.element}
            else:
                self.scales[v["element"]] = float(v["scale"])
        elif entry.action == "irradiance":
            element = v["element"]
            if element.startswith("PVSystem."):
                cmd = f"Edit {element} irradiance={v['irradiance_w_m2'] / 1000.0:g}"
                self.pvsystem_commands[element] = cmd
                self._command(entry, cmd)
            else:
                self.irradiance[element] = float(v["irradiance_w_m2"])
        elif entry.action == "switch":
            element = v["element"]
            if v["state"] == "open":
                self.switches += [f"open {element} term=1"]
            else:
                if "bus2" in v:
                    self.switches += [f"Edit {element} bus2={v['bus2']}"]
                self.switches += [f"close {element} term=1", f"close {element} term=2"]
            self._rebuild(entry)

    def _command(self, entry: Entry, cmd: str) -> None:
        try:
            self.twin.engine.command(cmd)
        except TwinError as exc:
            raise self.event.error_at(entry.number, f"timeline entry {entry.number} ({entry.action}): {exc}") from None

    def _rebuild(self, entry: Entry) -> None:
        from dataclasses import replace

        source = replace(self.source, setup_commands=self.source.setup_commands + tuple(self.switches))
        try:
            self.twin = self._Twin(source)
        except TwinError as exc:
            raise self.event.error_at(
                entry.number, f"timeline entry {entry.number} ({entry.action}): the feeder after switching: {exc}"
            ) from None
        for cmd in self.pvsystem_commands.values():
            self._command(entry, cmd)

    # -- state ----------------------------------------------------------------------------
    def site_conditions(self) -> tuple[float, float, float]:
        """(load W, PV W, net W) of the site now, field scale."""
        site = self.event.site
        load = site.load_w * self.scales.get(site.element, 1.0)
        pv = self.event.pv_systems.get(site.element, 0.0) * self.irradiance.get(site.element, 0.0) / 1000.0
        return load, pv, load + site.ev_w - pv - site.battery_w

    def operating_point(self) -> tuple[np.ndarray, np.ndarray]:
        """Load and PV of every customer location (W), the site at its own conditions."""
        site = self.event.site
        ids = self.twin.site_ids
        load = np.array([self.nominal_w[i] * self.event.load_scale * self.scales.get(i, self.other_scale) for i in ids])
        pv = np.array([self.event.pv_systems.get(i, 0.0) * self.irradiance.get(i, 0.0) / 1000.0 for i in ids])
        k = ids.index(site.element)
        site_load, site_pv, _ = self.site_conditions()
        load[k] = site_load + site.ev_w - site.battery_w
        pv[k] = site_pv
        return load, pv

    def solve(self, t_s: float, entry: int) -> TwinState:
        """The site's PCC voltage and envelope at the current changes."""
        tw = self.twin
        site = self.event.site
        load, pv = self.operating_point()
        tw.reset_controls()
        tw.set_operating_point(load, pv)
        try:
            state = tw.solve_forecast(f"after timeline entry {entry}")
        except TwinError as exc:
            raise self.event.error_at(entry, f"timeline entry {entry}: {exc}" if entry else str(exc)) from None
        m = tw.model
        pos = tw.site_numbers([site.element])
        s = m.sites[int(pos[0])]
        nodes = [m.node_index[f"{s.bus}.{n}"] for n in s.nodes if f"{s.bus}.{n}" in m.node_index]
        v = state.voltages[nodes]
        vpu = float(np.mean(np.abs(v) / m.base_v[nodes])) if nodes else float("nan")
        engine = tw.envelope_engine(pos, self.settings)
        base_pv = pv.copy()
        base_pv[int(pos[0])] = 0.0  # the site's forecast is its load: how far it may export from there
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # de-energized nodes have no sensitivity
            result = engine.interval(load, base_pv)
        forecast = float(result.forecast_net_w[0])
        site_load, site_pv, net = self.site_conditions()
        return TwinState(
            t_s=t_s,
            entry=entry,
            site_net_w=net,
            site_load_w=site_load,
            site_pv_w=site_pv,
            pcc_voltage_pu=vpu,
            import_limit_w=forecast + float(result.import_headroom_w[0]),
            export_limit_w=float(result.export_headroom_w[0]) - forecast,
            binding_import=binding_name(m, int(result.binding_import[0])),
            binding_export=binding_name(m, int(result.binding_export[0])),
            switches=tuple(self.switches),
        )


def twin_states(event: FieldEvent, twin: Twin | None = None) -> list[TwinState]:
    """The twin's state at the start and after each timeline entry that changes the feeder.

    Entries at the same time are applied together; signals get the state in force.
    """
    et = EventTwin(event, twin)
    states = [et.solve(0.0, 0)]
    pending: list[Entry] = []
    for k, entry in enumerate(event.timeline):
        if entry.action in TWIN_ACTIONS:
            et.apply(entry)
            pending.append(entry)
        nxt = event.timeline[k + 1] if k + 1 < len(event.timeline) else None
        if pending and (nxt is None or nxt.t_s != entry.t_s):
            states.append(et.solve(entry.t_s, pending[-1].number))
            pending = []
    return states


def state_at(states: list[TwinState], t_s: float) -> TwinState:
    """The twin state in force at time t_s."""
    current = states[0]
    for s in states:
        if s.t_s <= t_s:
            current = s
    return current
