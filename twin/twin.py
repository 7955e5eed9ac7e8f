"""The feeder twin: an OpenDSS model, its customer locations and its operating point.

A Twin owns one private OpenDSS context (see engine.py), so several twins can live
in one process. Powers are in W at the API (import positive); OpenDSS speaks kW.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from flexbench.twin.controls import ControlState, ControlStateError
from flexbench.twin.engine import Engine
from flexbench.twin.errors import FeederError, SiteError, suggest
from flexbench.twin.feeders import FeederSource, resolve_feeder
from flexbench.twin.model import FeederModel, Site, extract

if TYPE_CHECKING:
    from flexbench.twin.compute import EnvelopeSettings, IntervalEngine

TYPICAL_LOAD_FRACTION = 0.5
# regulator (transformer, winding, tap pu) and capacitor (name, step states) positions
Controls = tuple[list[tuple[str, int, float]], list[tuple[str, list[int]]]]
# How a site's change of net power beyond its forecast enters the feeder:
# load-pf: extra import on the site's own load, so at its power factor and load model
# (ZIP, vminpu); extra export at unity power factor (inverter generation);
# unity: both on a separate constant-power load at unity power factor.
INJECTION_MODELS = ("load-pf", "unity")


BASE_VIOLATION_RULES = ("hold", "ignore")
# "No limit" for a voltage left out by the ignore rule (finite: the crossing formulas stay finite).
NO_LOWER_PU = 0.0
NO_UPPER_PU = 10.0


@dataclass(frozen=True)
class Limits:
    """Operating limits the envelopes respect: feeder voltage and thermal, not a site's (core.SiteLimits).

    ANSI C84.1 range A by default. The base-violation rule says what a voltage
    already outside the band at the forecast operating point may do:
    `hold` (default) lets a site push it further out by at most
    base_violation_tolerance_pu (an export lowering an already-low node, an
    import raising an already-high one, or either going the usual way);
    `ignore` leaves such nodes to the operator: they bound no envelope. A
    conductor already above its rating may carry base_violation_tolerance_fraction
    of its rating more, under either rule.

    vmin_pu/vmax_pu bound voltages to ground on grounded sections;
    vmin_ll_pu/vmax_ll_pu bound the voltages between phases on ungrounded
    (3-wire delta) sections, on the line-to-line base (None: the same band).
    """

    vmin_pu: float = 0.95
    vmax_pu: float = 1.05
    vmin_ll_pu: float | None = None
    vmax_ll_pu: float | None = None
    thermal_fraction: float = 1.0
    base_violation_rule: str = "hold"
    base_violation_tolerance_pu: float = 0.001
    base_violation_tolerance_fraction: float = 0.005

    def __post_init__(self) -> None:
        if not 0 < self.vmin_pu < self.vmax_pu:
            raise ValueError(f"voltage limits must satisfy 0 < vmin < vmax, got {self.vmin_pu}, {self.vmax_pu}")
        if not 0 < self.ll_band[0] < self.ll_band[1]:
            raise ValueError(
                f"line-to-line voltage limits must satisfy 0 < vmin < vmax, got {self.ll_band[0]}, {self.ll_band[1]}"
            )
        if self.thermal_fraction <= 0:
            raise ValueError("thermal_fraction must be positive")
        if self.base_violation_rule not in BASE_VIOLATION_RULES:
            raise ValueError(
                f"base violation rule {self.base_violation_rule!r}: use one of {', '.join(BASE_VIOLATION_RULES)}"
            )
        if not 0 <= self.base_violation_tolerance_pu < 1:
            raise ValueError(f"base violation tolerance must be 0 to 1 pu, got {self.base_violation_tolerance_pu}")
        if self.base_violation_tolerance_fraction < 0:
            raise ValueError("base violation tolerance fraction must not be negative")

    @property
    def ll_band(self) -> tuple[float, float]:
        """(vmin, vmax) pu of line-to-line voltages."""
        low = self.vmin_pu if self.vmin_ll_pu is None else self.vmin_ll_pu
        high = self.vmax_pu if self.vmax_ll_pu is None else self.vmax_ll_pu
        return low, high

    def band(self, line_to_line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(vmin, vmax) pu of each voltage row, by whether it is line-to-line."""
        low, high = self.ll_band
        return np.where(line_to_line, low, self.vmin_pu), np.where(line_to_line, high, self.vmax_pu)


@dataclass
class State:
    """Monitored quantities of one solved operating point."""

    voltages: np.ndarray  # complex node voltages (V), engine order
    vm_pu: np.ndarray  # magnitude of monitored voltages (pu; to ground or between phases, FeederModel)
    currents: np.ndarray  # complex conductor currents (A) of monitored conductors
    im_a: np.ndarray  # their magnitudes (A)
    converged: bool = True


@dataclass
class EffectiveLimits:
    """Per-constraint (voltage node, conductor) limits of one interval; not a site's (core.SiteLimits).

    A constraint already outside its limit at the forecast may not get worse by
    more than the tolerance. And a direction that moves a voltage the other way
    than it normally does (import raising a node through the other phases,
    export lowering one) may do so by the tolerance beyond the forecast value
    even at a node sitting right at its limit: the limits of that side are
    max(vmax, forecast + tolerance) for import and min(vmin, forecast -
    tolerance) for export.
    """

    vmin_pu: np.ndarray
    vmax_pu: np.ndarray
    imax_a: np.ndarray
    vmax_import_pu: np.ndarray | None = None
    vmin_export_pu: np.ndarray | None = None
    # the band itself, per voltage row (line-to-line rows have their own)
    band_min_pu: np.ndarray | None = None
    band_max_pu: np.ndarray | None = None

    @classmethod
    def from_state(
        cls, limits: Limits, base: State, rating_a: np.ndarray, line_to_line: np.ndarray | bool = False
    ) -> EffectiveLimits:
        """line_to_line: which voltage rows are line-to-line (FeederModel.vrow_ll)."""
        tol_v = limits.base_violation_tolerance_pu
        imax = rating_a * limits.thermal_fraction
        band_min, band_max = limits.band(np.broadcast_to(line_to_line, base.vm_pu.shape))
        low = base.vm_pu < band_min
        high = base.vm_pu > band_max
        vmin = np.where(low, base.vm_pu - tol_v, band_min)
        vmax = np.where(high, base.vm_pu + tol_v, band_max)
        vmax_import = np.maximum(band_max, base.vm_pu + tol_v)
        vmin_export = np.minimum(band_min, base.vm_pu - tol_v)
        if limits.base_violation_rule == "ignore":
            vmin = np.where(low, NO_LOWER_PU, vmin)
            vmax = np.where(high, NO_UPPER_PU, vmax)
            vmax_import = np.where(high, NO_UPPER_PU, vmax_import)
            vmin_export = np.where(low, NO_LOWER_PU, vmin_export)
        imax = np.where(base.im_a <= imax, imax, base.im_a + limits.base_violation_tolerance_fraction * imax)
        return cls(vmin, vmax, imax, vmax_import, vmin_export, band_min, band_max)

    def for_direction(self, direction: str | None) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) voltage limits that apply to one direction (None: both strict)."""
        if direction == "import" and self.vmax_import_pu is not None:
            return self.vmin_pu, self.vmax_import_pu
        if direction == "export" and self.vmin_export_pu is not None:
            return self.vmin_export_pu, self.vmax_pu
        return self.vmin_pu, self.vmax_pu


class Twin:
    """A feeder model with customer locations, ready for time series and envelopes."""

    def __init__(self, source: FeederSource) -> None:
        self.source = source
        self.name = source.name
        self.engine = Engine()
        self.engine.compile(source)
        self._file_controls = self._read_controls()  # before any solve moves them
        self.model: FeederModel = extract(self.engine)
        self._engines: dict[tuple[tuple[int, ...], EnvelopeSettings], IntervalEngine] = {}
        n = len(self.model.sites)
        self._load_w = np.array([s.nominal_w for s in self.model.sites])
        self._pv_w = np.zeros(n)
        self._flex_w = np.zeros(n)
        self.injection_model = INJECTION_MODELS[0]
        # Every interval's controls settle from one fixed start (see reset_controls):
        # the state at half the model's peak load, close to typical operation.
        self.set_operating_point(TYPICAL_LOAD_FRACTION * self._load_w)
        self.engine.solve_or_raise("at half of the model's peak load")
        self._half_load_controls = self._initial_controls = self._read_controls()
        self.controls = ControlState()

    # -- construction -----------------------------------------------------------
    @classmethod
    def from_name(cls, name: str) -> Twin:
        """An embedded feeder: 'ieee13', 'ieee123' or 'ieee8500'."""
        return cls(resolve_feeder(name))

    @classmethod
    def from_file(cls, master: str | Path) -> Twin:
        """Any OpenDSS master file."""
        path = Path(master)
        if not path.is_file():
            raise FeederError(f"feeder file not found: {path}")
        return cls(resolve_feeder(str(path)))

    @classmethod
    def load(cls, name_or_path: str | Path) -> Twin:
        """A feeder by embedded name or by master file path."""
        return cls(resolve_feeder(name_or_path))

    # -- sites --------------------------------------------------------------------
    @property
    def sites(self) -> list[Site]:
        return self.model.sites

    @property
    def site_ids(self) -> list[str]:
        return [s.site_id for s in self.model.sites]

    def site(self, site_id: str) -> Site:
        return self.model.sites[self.site_numbers([site_id])[0]]

    def site_numbers(self, site_ids: list[str] | None) -> np.ndarray:
        """Positions of site ids (all sites for None); SiteError suggests near names."""
        if site_ids is None:
            return np.arange(len(self.model.sites))
        out = []
        for sid in site_ids:
            key = str(sid).strip().lower()
            if key not in self.model.site_index:
                raise SiteError(f"site {sid!r} is not on feeder {self.name}{suggest(key, self.model.site_index)}")
            out.append(self.model.site_index[key])
        if len(set(out)) != len(out):
            raise SiteError("a site is listed twice")
        return np.array(out, dtype=int)

    def sites_frame(self) -> pd.DataFrame:
        """Customer locations as a table (one row per site)."""
        return pd.DataFrame([s.__dict__ for s in self.model.sites]).set_index("site_id")

    def constraints_frame(self) -> pd.DataFrame:
        """Constraint elements: voltage nodes and rated conductors."""
        m = self.model
        volts = pd.DataFrame(
            {
                "kind": "voltage",
                "element": [m.voltage_name(k) for k in range(len(m.vnode_index))],
                "rating": np.nan,
                "base_v": m.vbase_v,
            }
        )
        therm = pd.DataFrame(
            {
                "kind": "thermal",
                "element": [m.thermal_name(k) for k in range(len(m.thermal))],
                "rating": m.thermal_rating_a,
                "base_v": np.nan,
            }
        )
        return pd.concat([volts, therm], ignore_index=True)

    # -- operating point ----------------------------------------------------------
    def set_operating_point(self, load_w: np.ndarray | None = None, pv_w: np.ndarray | None = None) -> None:
        """Set every site's forecast load and PV (W, arrays over all sites)."""
        m = self.model
        if load_w is not None:
            load_w = np.asarray(load_w, dtype=float)
            self.engine.set_loads_kw(m.load_numbers, load_w / 1000.0)
            self._load_w = load_w.copy()
        if pv_w is not None:
            self._pv_w = np.asarray(pv_w, dtype=float).copy()
        self._flex_w = np.zeros(len(m.sites))
        self.engine.set_loads_kw(m.flex_numbers, -self._pv_w / 1000.0)

    @property
    def net_forecast_w(self) -> np.ndarray:
        """Net import of every site at the operating point (load minus PV)."""
        return self._load_w - self._pv_w

    def set_injection_model(self, name: str) -> None:
        """How later site deltas enter the feeder: 'load-pf' or 'unity' (see INJECTION_MODELS)."""
        if name not in INJECTION_MODELS:
            raise ValueError(f"injection model {name!r}: use one of {', '.join(INJECTION_MODELS)}")
        if name != self.injection_model:
            self.clear_deltas()
            self.injection_model = name

    def set_site_delta(self, sites: np.ndarray, delta_w: np.ndarray) -> None:
        """Add delta_w (W, import positive) to the given sites' forecast net power, by the injection model."""
        m = self.model
        delta_w = np.asarray(delta_w, dtype=float)
        self._flex_w[sites] = delta_w
        extra_load_w = np.maximum(delta_w, 0.0) if self.injection_model == "load-pf" else np.zeros(len(delta_w))
        self.engine.set_loads_kw(m.load_numbers[sites], (self._load_w[sites] + extra_load_w) / 1000.0)
        self.engine.set_loads_kw(m.flex_numbers[sites], (delta_w - extra_load_w - self._pv_w[sites]) / 1000.0)

    def clear_deltas(self) -> None:
        """Return every site to its forecast net power."""
        changed = np.flatnonzero(self._flex_w != 0)
        if len(changed):
            self.set_site_delta(changed, np.zeros(len(changed)))

    def use_controls(self, controls: ControlState) -> None:
        """Where later intervals' regulator taps and capacitor states come from (see controls.py)."""
        if controls == self.controls:
            return
        if controls.policy == "settle-half-load":
            self._initial_controls = self._half_load_controls
        elif controls.policy == "measured":
            self._initial_controls = self._measured_controls(controls)
        else:
            self._initial_controls = self._file_controls
        self.controls = controls

    def _measured_controls(self, controls: ControlState) -> Controls:
        """The model file's state with the measured taps (step numbers) and capacitor states put in."""
        dss = self.engine.dss
        regulated: dict[str, tuple[str, int]] = {}
        i = dss.RegControls.First()
        while i:
            pair = (dss.RegControls.Transformer().lower(), int(dss.RegControls.Winding()))
            regulated[f"regcontrol.{dss.RegControls.Name().lower()}"] = pair
            regulated[f"transformer.{pair[0]}"] = pair
            i = dss.RegControls.Next()
        file_taps, file_caps = self._file_controls
        taps = {(name.lower(), wdg): tap for name, wdg, tap in file_taps}
        for element, step in controls.taps:
            if element not in regulated:
                raise ControlStateError(
                    f"{controls.source}: {element} is no regulator of {self.name}{suggest(element, regulated)}"
                )
            name, wdg = regulated[element]
            dss.Transformers.Name(name)
            dss.Transformers.Wdg(wdg)
            lowest, highest = float(dss.Transformers.MinTap()), float(dss.Transformers.MaxTap())
            steps = int(dss.Transformers.NumTaps())
            if abs(step) > steps // 2:
                raise ControlStateError(f"{controls.source}: {element}: tap {step} is beyond +-{steps // 2} steps")
            taps[(name, wdg)] = 1.0 + step * (highest - lowest) / steps
        caps = {name.lower(): states for name, states in file_caps}
        for element, states in controls.capacitors:
            name = element.partition(".")[2]
            if name not in caps:
                raise ControlStateError(
                    f"{controls.source}: {element} is no capacitor of {self.name}{suggest(name, caps)}"
                )
            n = len(caps[name])
            if len(states) not in (1, n):
                raise ControlStateError(
                    f"{controls.source}: {element}: {n} steps in the model, {len(states)} in the file"
                )
            caps[name] = list(states) * n if len(states) == 1 else list(states)
        return [(name, wdg, tap) for (name, wdg), tap in taps.items()], list(caps.items())

    def _read_controls(self) -> Controls:
        dss = self.engine.dss
        taps = []
        i = dss.RegControls.First()
        while i:
            taps.append((dss.RegControls.Transformer(), int(dss.RegControls.Winding()), 0.0))
            i = dss.RegControls.Next()
        out = []
        for name, wdg, _ in taps:
            dss.Transformers.Name(name)
            dss.Transformers.Wdg(wdg)
            out.append((name, wdg, float(dss.Transformers.Tap())))
        caps = []
        i = dss.Capacitors.First()
        while i:
            caps.append((dss.Capacitors.Name(), [int(v) for v in dss.Capacitors.States()]))
            i = dss.Capacitors.Next()
        return out, caps

    def reset_controls(self) -> None:
        """Put regulator taps and capacitors back to where the control policy starts them.

        Each interval then settles from the same start, so results do not depend
        on which intervals a worker solved before. Taps are set on the
        transformers themselves so OpenDSS rebuilds its admittance matrix.
        """
        taps, caps = self._initial_controls
        dss = self.engine.dss
        # forget pending control actions and their timers, not just the positions
        dss.CtrlQueue.ClearQueue()
        self.engine.command("reset controls")
        for name, wdg, tap in taps:
            dss.Transformers.Name(name)
            dss.Transformers.Wdg(wdg)
            if dss.Transformers.Tap() != tap:
                dss.Transformers.Tap(tap)
        for name, states in caps:
            dss.Capacitors.Name(name)
            if [int(v) for v in dss.Capacitors.States()] != states:
                dss.Capacitors.States(states)

    def start_from_direct_solution(self) -> None:
        """Seed the next power flow with the direct (non-iterative) solution of the present state,
        on an admittance matrix built and factorized afresh.

        OpenDSS iterates from the last solution it holds, on a matrix it may have updated rather
        than rebuilt. Converged within its tolerance, two histories still ended 0.025 W apart in
        the limits; from a start that depends only on the loads and the reset taps, the same
        inputs give the same envelope, to the last bit, whatever the twin solved before.
        """
        sol = self.engine.dss.Solution
        sol.BuildYMatrix(2, 0)  # 2: the whole matrix, factorized afresh: not an update of an earlier one
        sol.SolveDirect()

    def solve_forecast(self, what: str = "") -> State:
        """Solve the operating point with controls (taps, capacitors) acting."""
        self.clear_deltas()
        self.engine.solve_or_raise(what or "at the forecast operating point", controls=self.controls.controls_act)
        return self.state()

    def solve_frozen(self) -> State:
        """Solve with controls frozen (a site's change within an interval)."""
        ok = self.engine.solve(controls=False)
        st = self.state()
        st.converged = ok
        return st

    def state(self) -> State:
        """Monitored voltages and currents of the last solution."""
        m = self.model
        v = self.engine.node_voltages()
        vm = np.abs(m.row_voltages(v))
        cur = m.branch_matrix @ v
        dss = self.engine.dss
        for element, rows in m.control_thermal:
            dss.Circuit.SetActiveElement(element)
            raw = np.asarray(dss.CktElement.Currents(), dtype=float)
            cur[rows] = (raw[0::2] + 1j * raw[1::2])[: len(rows)]
        return State(voltages=v, vm_pu=vm, currents=cur, im_a=np.abs(cur))

    def source_pu(self) -> float:
        """Per-unit voltage of the (first) voltage source."""
        vs = self.engine.dss.Vsources
        vs.First()
        return float(vs.PU())

    def set_source_pu(self, pu: float) -> None:
        """Set the substation source voltage (pu), e.g. from a SCADA measurement."""
        self.engine.set_source_pu(pu)

    def envelope_engine(self, positions: np.ndarray, settings: EnvelopeSettings) -> IntervalEngine:
        """The interval engine for these sites and settings, kept between calls.

        Its sensitivities (one sparse factorization and the site columns) depend
        only on the network, so repeated dynamic updates reuse them.
        """
        from flexbench.twin.compute import IntervalEngine

        key = (tuple(int(p) for p in positions), settings)
        engine = self._engines.get(key)
        if engine is None:
            if len(self._engines) >= 4:
                self._engines.pop(next(iter(self._engines)))
            engine = self._engines[key] = IntervalEngine(self, positions, settings)
        return engine

    def __repr__(self) -> str:
        return f"Twin({self.name!r}, sites={len(self.model.sites)}, nodes={len(self.model.node_names)})"
