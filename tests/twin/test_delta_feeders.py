"""Voltage limits that fit the system: line-to-line on ungrounded 3-wire sections, line-to-neutral elsewhere.

The acceptance check is independent of the twin: the shipped delta feeder
(feeders/delta3w.dss) compiled afresh in plain OpenDSS, one site's export raised
by a generator until a line-to-line voltage, a line current or the transformer
current leaves its limit, then bisected; flexbench's single-site export limits
must agree with it within 2 %.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import opendssdirect as odd
import pandas as pd
import pytest

from flexbench.lab.cli import main
from flexbench.twin import EnvelopeSet, Limits, MeasuredState, Twin, compute_envelope

from .plain_opendss import PlainFeeder

DELTA = Path(__file__).parent / "feeders" / "delta3w.dss"
LOAD_FRACTION = 0.6  # every customer at this share of its model load
VMIN_PU, VMAX_PU = 0.95, 1.05
TOL_PU = 0.001  # the base-violation rule's default tolerance
AGREE = 0.02


@pytest.fixture(scope="module")
def delta() -> Twin:
    return Twin.from_file(DELTA)


def _single_site_export(twin: Twin, limits: Limits | None = None) -> EnvelopeSet:
    power = {s.site_id: LOAD_FRACTION * s.nominal_w for s in twin.sites}
    state = MeasuredState(pd.Timestamp("2025-07-14T12:00:00Z"), site_power_w=power)
    return compute_envelope(twin, "dynamic", measured=state, allocation="none", limits=limits)


class PlainDelta(PlainFeeder):
    """The delta feeder in a fresh OpenDSS context: loads at LOAD_FRACTION, one site's export by a generator.

    Its own set-up; only the line and transformer loadings are read as PlainFeeder reads them.
    """

    def __init__(self) -> None:
        dss = self.dss = odd.NewContext()
        dss.Basic.AllowChangeDir(False)
        dss.Text.Command(f'redirect "{DELTA}"')
        dss.Text.Command("set maxiterations=200 tolerance=1e-7")
        self.loads: dict[str, tuple[str, int, float]] = {}
        i = dss.Loads.First()
        while i:
            self.loads[dss.Loads.Name().lower()] = (
                dss.CktElement.BusNames()[0],
                int(dss.Loads.Phases()),
                dss.Loads.kW(),
            )
            i = dss.Loads.Next()
        for name, (bus, phases, kw) in self.loads.items():
            dss.Text.Command(f"Load.{name}.kW={LOAD_FRACTION * kw}")
            dss.Text.Command(
                f"New Generator.x_{name} bus1={bus} phases={phases} conn=delta kv=12.47 kW=0 pf=1 model=1 "
                "vminpu=0.5 vmaxpu=1.5"
            )
        self.v0, self.i0 = self._solve_and_read()

    def _solve_and_read(self) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
        dss = self.dss
        dss.Solution.Solve()
        assert dss.Solution.Converged()
        volts = {}
        for bus in dss.Circuit.AllBusNames():
            dss.Circuit.SetActiveBus(bus)
            base_ll = float(dss.Bus.kVBase()) * 1000.0 * math.sqrt(3)
            if base_ll > 35e3:
                continue  # the source side
            raw = np.asarray(dss.Bus.Voltages(), dtype=float)
            v = dict(zip(dss.Bus.Nodes(), raw[0::2] + 1j * raw[1::2]))
            for a, b in ((1, 2), (2, 3), (3, 1)):
                if a in v and b in v:
                    volts[f"{bus}.{a}-{b}"] = abs(v[a] - v[b]) / base_ll
        return volts, self.loadings()

    def worst(self, site: str, export_w: float) -> float:
        """Largest excess over a limit (pu, or fraction of a rating) with the site exporting export_w more."""
        self.dss.Text.Command(f"Generator.x_{site}.kW={export_w / 1000}")
        volts, amps = self._solve_and_read()
        self.dss.Text.Command(f"Generator.x_{site}.kW=0")
        out = -np.inf
        for name, pu in volts.items():
            # an export may lower a voltage by the tolerance below its forecast value
            low = min(VMIN_PU, self.v0[name] - TOL_PU)
            high = VMAX_PU if self.v0[name] <= VMAX_PU else self.v0[name] + TOL_PU
            out = max(out, low - pu, pu - high)
        for name, (a, rating) in amps.items():
            allowed = rating if self.i0[name][0] <= rating else self.i0[name][0] + 0.005 * rating
            out = max(out, (a - allowed) / rating)
        return out

    def export_limit_w(self, site: str, step_w: float = 250e3, rel_tol: float = 1e-4) -> float:
        """The site's export limit (W): steps up until a limit breaks, then bisection."""
        lo, hi = 0.0, step_w
        while self.worst(site, hi) <= 0:
            lo, hi = hi, hi + step_w
        while hi - lo > rel_tol * hi:
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if self.worst(site, mid) <= 0 else (lo, mid)
        return lo - LOAD_FRACTION * self.loads[site][2] * 1000.0


def test_ungrounded_sections_are_found_from_the_model(delta, ieee13, ieee123):
    m = delta.model
    assert m.vrow_ll.all() and len(m.vrow_ll) == 3 * 6  # three phase pairs at each 12.47 kV bus
    assert {m.voltage_name(k).split(".")[1] for k in range(len(m.vrow_ll))} == {"1-2", "2-3", "3-1"}
    assert np.allclose(m.vbase_v, 12470.0)
    assert not ieee13.model.vrow_ll.any()  # grounded-wye throughout
    # IEEE 123: only the 480 V bus behind the delta-delta transformer XFM1
    ll = ieee123.model.vrow_ll
    assert ll.sum() == 3 and all(ieee123.model.voltage_name(k).startswith("610.") for k in np.flatnonzero(ll))


def test_single_site_export_limits_agree_with_a_line_to_line_bisection(delta):
    env = _single_site_export(delta)
    assert env.verified
    plain = PlainDelta()
    reference = np.array([plain.export_limit_w(s) for s in env.site_ids])
    got = env.export_limit_w[:, 0]
    gap = np.abs(got - reference) / reference
    assert np.all(gap <= AGREE), np.c_[got, reference, gap]
    # what bound them, and which kind of voltage
    for binding, held in zip(env.binding_export[:, 0], env.binding_export_limit[:, 0]):
        if binding.startswith("voltage"):
            assert binding.split(":")[1].split(".")[1] in ("1-2", "2-3", "3-1") and held.endswith(" pu line-to-line")
        else:
            assert binding.startswith("thermal:") and held.startswith("rating ")
    assert {b.split(":")[0] for b in env.binding_export[:, 0]} >= {"voltage_high", "thermal"}


def test_line_to_line_band_is_a_setting_and_recorded(delta, tmp_path):
    default = _single_site_export(delta)
    tight = _single_site_export(delta, Limits(vmin_ll_pu=0.97))
    voltage_bound = np.array([b.startswith("voltage_low") for b in tight.binding_import[:, 0]])
    assert voltage_bound.any()
    assert np.all(tight.import_limit_w[voltage_bound, 0] < default.import_limit_w[voltage_bound, 0])
    assert all(t == "vmin 0.9700 pu line-to-line" for t in tight.binding_import_limit[voltage_bound, 0])
    assert tight.vmin_ll_pu == 0.97 and tight.vmax_ll_pu == VMAX_PU and "line-to-line at 18" in tight.voltages
    out = tmp_path / "env.csv"
    args = ["envelope", "--feeder", str(DELTA), "--kind", "dynamic", "--vmin-ll", "0.97", "--out", str(out)]
    assert main(args) == 0
    read = EnvelopeSet.read(out)
    assert read.vmin_ll_pu == 0.97 and read.vmax_ll_pu == VMAX_PU and read.voltages == tight.voltages
    with pytest.raises(ValueError, match="line-to-line"):
        Limits(vmin_ll_pu=1.1)


def test_grounded_feeders_name_line_to_neutral_limits(ieee13):
    env = compute_envelope(ieee13, "variable", start="2025-07-14", horizon="2h")
    held = [t for t in env.binding_export_limit.ravel() if " pu" in t]
    assert held and all(t.endswith(" pu line-to-neutral") for t in held)
    assert "line-to-line" not in env.voltages and env.vmin_ll_pu == VMIN_PU
