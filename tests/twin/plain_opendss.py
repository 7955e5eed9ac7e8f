"""An envelope checked with plain OpenDSS, outside the twin: every site at its import limit at once.

Nothing here uses the twin's engine, model extraction or constraint arrays: the
feeder is compiled afresh, loads are set by name, constraints are read from
OpenDSS's own bus and element lists, and the extra import goes onto each site's
own load (its power factor and load model: the load-pf injection model).
"""

from __future__ import annotations

import math

import numpy as np
import opendssdirect as odd

from flexbench.twin.feeders import FeederSource

SOLVER = "set maxiterations=200 maxcontroliter=100 tolerance=1e-7"
TOL_PU = 0.001  # the base-violation rule's default tolerance
TOL_FRACTION = 0.005


class PlainFeeder:
    """One feeder in a fresh OpenDSS context, with one PV load beside every customer load."""

    def __init__(self, source: FeederSource) -> None:
        dss = self.dss = odd.NewContext()
        dss.Basic.AllowChangeDir(False)
        dss.Text.Command(f'redirect "{source.master}"')
        for cmd in source.setup_commands:
            dss.Text.Command(cmd)
        dss.Text.Command(SOLVER)
        self.loads = {}
        i = dss.Loads.First()
        while i:
            self.loads[dss.Loads.Name().lower()] = (
                dss.CktElement.BusNames()[0],
                int(dss.CktElement.NumPhases()),
                float(dss.Loads.kV()),
                "delta" if dss.Loads.IsDelta() else "wye",
                float(dss.Loads.kW()),
            )
            i = dss.Loads.Next()
        for name, (bus, phases, kv, conn, _) in self.loads.items():
            dss.Text.Command(
                f"New Load.pv_{name} bus1={bus} phases={phases} kv={kv} conn={conn} model=1 pf=1 kW=0 "
                "vminpu=0.5 vmaxpu=1.5 vlowpu=0.05"
            )
        self.solve()  # at the model's loads, then at half of them: where every interval's controls start
        self.set_loads({n: 0.5 * v[4] * 1000 for n, v in self.loads.items()}, {})
        self.solve()

    def set_loads(self, load_w: dict[str, float], pv_w: dict[str, float]) -> None:
        for name, w in load_w.items():
            self.dss.Text.Command(f"Load.{name}.kW={w / 1000}")
        for name, w in pv_w.items():
            self.dss.Text.Command(f"Load.pv_{name}.kW={-w / 1000}")

    def solve(self, controls: bool = True) -> None:
        sol = self.dss.Solution
        sol.Solve() if controls else sol.SolveNoControl()
        assert sol.Converged()

    def voltages_pu(self) -> dict[str, float]:
        """Phase-to-neutral voltage (pu) of every distribution node but the source bus'."""
        dss = self.dss
        if not hasattr(self, "_distribution"):
            dss.Vsources.First()
            source = dss.CktElement.BusNames()[0].split(".")[0].lower()
            self._distribution = set()
            for bus in dss.Circuit.AllBusNames():
                dss.Circuit.SetActiveBus(bus)
                if bus.lower() != source and 0 < float(dss.Bus.kVBase()) * math.sqrt(3) <= 35.0:
                    self._distribution.add(bus.lower())
        out = {}
        for name, pu in zip(dss.Circuit.AllNodeNames(), dss.Circuit.AllBusMagPu()):
            bus, node = name.lower().split(".")
            if bus in self._distribution and node in ("1", "2", "3") and pu > 0.5:
                out[name.lower()] = float(pu)
        return out

    def loadings(self) -> dict[str, tuple[float, float]]:
        """(largest phase current A, rating A) of every line (normamps) and transformer (winding 1 kVA)."""
        dss = self.dss
        if not hasattr(self, "_rated"):
            self._rated = {}
            for coll, kind in ((dss.Lines, "line"), (dss.Transformers, "transformer")):
                i = coll.First()
                while i:
                    nph = int(dss.CktElement.NumPhases())
                    if kind == "line":
                        rating = float(dss.Lines.NormAmps())
                    else:
                        dss.Transformers.Wdg(1)
                        kva, kv = float(dss.Transformers.kVA()), float(dss.Transformers.kV())
                        rating = kva / kv if nph == 1 else kva / (math.sqrt(3) * kv)
                    if rating > 0 and dss.CktElement.Enabled():
                        self._rated[dss.CktElement.Name().lower()] = (nph, rating)
                    i = coll.Next()
        pd = dss.PDElements
        if not hasattr(self, "_layout"):  # where each rated element's phase currents sit in the flat array
            rows, offset = [], 0
            for name, conductors, terminals in zip(pd.AllNames(), pd.AllNumConductors(), pd.AllNumTerminals()):
                if name.lower() in self._rated:
                    nph, rating = self._rated[name.lower()]
                    rows.append((name.lower(), offset, nph, rating))
                offset += conductors * terminals
            self._layout = rows
        mags = np.asarray(pd.AllCurrentsMagAng())[0::2]
        return {name: (float(mags[at : at + nph].max()), rating) for name, at, nph, rating in self._layout}


def worst_import_violation(
    plain: PlainFeeder, site_ids, load_w, pv_w, import_limit_w, vmin_pu=0.95, vmax_pu=1.05
) -> tuple[float, str]:
    """Every site at its import limit at once (extra import on its own load), controls frozen at the
    forecast's: the largest excess over a limit (pu, or fraction of a rating; <= 0 is safe) and where."""
    base = forecast_state(plain, load_w, pv_w)
    plain.set_loads({s: limit + pv_w.get(s, 0.0) for s, limit in zip(site_ids, import_limit_w)}, {})
    return frozen_excess(plain, base, "import", vmin_pu, vmax_pu)


def forecast_state(plain: PlainFeeder, load_w, pv_w) -> tuple[dict, dict]:
    """Solve the forecast with controls acting; its voltages and loadings (what the limits are relative to)."""
    plain.set_loads(load_w, pv_w)
    plain.solve()
    return plain.voltages_pu(), plain.loadings()


def frozen_excess(plain: PlainFeeder, base, direction: str, vmin_pu=0.95, vmax_pu=1.05) -> tuple[float, str]:
    """Solve the loads as set with controls frozen: the largest excess over a limit of the direction and where.

    A voltage already outside the band at the forecast may move out by TOL_PU more; a direction moving a
    voltage the unusual way (import raising it, export lowering it) may move it by TOL_PU beyond the forecast.
    """
    v0, i0 = base
    plain.solve(controls=False)
    worst, where = -np.inf, ""
    for node, pu in plain.voltages_pu().items():
        v = v0.get(node, pu)
        if direction == "import":
            low, high = (vmin_pu if v >= vmin_pu else v - TOL_PU), max(vmax_pu, v + TOL_PU)
        else:
            low, high = min(vmin_pu, v - TOL_PU), (vmax_pu if v <= vmax_pu else v + TOL_PU)
        for excess in (low - pu, pu - high):
            if excess > worst:
                worst, where = excess, f"voltage {node} {pu:.4f} pu"
    for element, (amps, rating) in plain.loadings().items():
        i = i0.get(element, (0.0, rating))[0]
        allowed = rating if i <= rating else i + TOL_FRACTION * rating
        excess = (amps - allowed) / rating
        if excess > worst:
            worst, where = excess, f"thermal {element} {amps:.1f} A of {rating:.1f} A"
    return float(worst), where
