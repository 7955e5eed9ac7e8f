"""The base-violation rule: a setting with its tolerance, and reported as what binds.

On a feeder whose phase 1 sits below the band at the forecast, a site on phase 3
exporting lowers phase 1 further (through the line's mutual impedance). Under the
`hold` rule that export stops once phase 1 has dropped by the tolerance; an
independent bisection with plain OpenDSS power flows finds the same limit.
"""

from __future__ import annotations

import numpy as np
import opendssdirect as odd
import pandas as pd
import pytest

from flexbench.twin import Profiles, Twin, compute_envelope
from flexbench.twin.twin import Limits

FEEDER = """Clear
New Circuit.low basekv=12.47 pu=1.0 phases=3 bus1=src MVAsc3=200000 MVAsc1=200000
New Line.l1 bus1=src bus2=b1 phases=3 r1=0.3 x1=0.6 r0=0.9 x0=1.8 length=6 units=km normamps=2000
New Load.heavy bus1=b1.1 phases=1 kv=7.2 kW=4500 pf=0.95 model=1
New Load.east bus1=b1.2 phases=1 kv=7.2 kW=100 pf=1 model=1
New Load.west bus1=b1.3 phases=1 kv=7.2 kW=100 pf=1 model=1
Set voltagebases=[12.47]
calcv
"""
START = pd.Timestamp("2025-07-14T12:00", tz="UTC")
FORECAST_W = {"heavy": 1_100_000.0, "east": 20_000.0, "west": 20_000.0}


@pytest.fixture(scope="module")
def feeder(tmp_path_factory):
    path = tmp_path_factory.mktemp("low") / "low.dss"
    path.write_text(FEEDER)
    return path


def _envelope(feeder, **limits):
    twin = Twin.from_file(feeder)
    load = pd.DataFrame({k: [v] for k, v in FORECAST_W.items()}, index=pd.DatetimeIndex([START]))
    return compute_envelope(
        twin,
        "variable",
        profiles=Profiles(load),
        start=START,
        horizon="1h",
        allocation="none",
        injection_model="unity",
        limits=Limits(**limits),
    )


def _bisect_export(feeder, site: str, tol_pu: float) -> float:
    """Plain OpenDSS: the most `site` exports (W, unity power factor) before a node leaves the band,
    or, for a node already outside it, before it moves further out by more than tol_pu."""
    dss = odd.NewContext()
    dss.Basic.AllowChangeDir(False)
    dss.Text.Command(f'redirect "{feeder}"')
    for name, w in FORECAST_W.items():
        dss.Text.Command(f"Load.{name}.kW={w / 1000}")
    dss.Solution.Solve()
    base = np.asarray(dss.Circuit.AllBusMagPu())
    low = np.minimum(0.95, base - tol_pu)
    high = np.maximum(1.05, np.where(base > 1.05, base + tol_pu, 1.05))
    dss.Circuit.SetActiveElement(f"Load.{site}")
    bus = dss.CktElement.BusNames()[0]
    dss.Text.Command(f"New Load.inject bus1={bus} phases=1 kv=7.2 kW=0 pf=1 model=1 vminpu=0.5 vmaxpu=1.5 vlowpu=0.05")

    def ok(export_w: float) -> bool:
        dss.Text.Command(f"Load.inject.kW={-export_w / 1000}")
        dss.Solution.Solve()
        v = np.asarray(dss.Circuit.AllBusMagPu())[3:]  # the source bus is not monitored
        return bool(dss.Solution.Converged()) and bool(np.all((v >= low[3:]) & (v <= high[3:])))

    lo, hi = 0.0, 1000.0
    while ok(hi):
        lo, hi = hi, 2 * hi
    while hi - lo > 1.0:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


@pytest.mark.parametrize("tol_pu", [0.001, 0.01])
def test_hold_stops_export_at_the_tolerance_and_says_so(feeder, tol_pu):
    env = _envelope(feeder, base_violation_tolerance_pu=tol_pu)
    west = env.site_ids.index("west")
    assert env.binding_export[west, 0] == "voltage_low:b1.1"
    assert env.binding_export_limit[west, 0].startswith("base violation rule ")
    assert env.base_violation_rule == "hold" and env.base_violation_tolerance_pu == tol_pu
    headroom_w = env.export_limit_w[west, 0] + env.forecast_import_w[west, 0]
    reference_w = _bisect_export(feeder, "west", tol_pu)
    assert headroom_w == pytest.approx(reference_w, rel=0.01, abs=50.0)


def test_ignore_lets_export_lower_a_node_already_low(feeder):
    hold = _envelope(feeder)
    ignore = _envelope(feeder, base_violation_rule="ignore")
    west = hold.site_ids.index("west")
    assert ignore.export_limit_w[west, 0] > 10 * max(hold.export_limit_w[west, 0], 1000.0)
    assert not any("base violation rule" in t for t in ignore.binding_export_limit.ravel())
    assert ignore.base_violation_rule == "ignore"


def test_unknown_rule_and_bad_tolerance_are_refused():
    with pytest.raises(ValueError, match="hold, ignore"):
        Limits(base_violation_rule="forbid")
    with pytest.raises(ValueError, match="tolerance"):
        Limits(base_violation_tolerance_pu=-0.1)


def test_cli_states_the_rule_and_the_file_records_it(feeder, tmp_path, capsys):
    from flexbench.lab.cli import main
    from flexbench.twin import EnvelopeSet

    out = tmp_path / "env.csv"
    args = ["envelope", "--feeder", str(feeder), "--horizon", "2h", "--out", str(out)]
    assert main([*args, "--base-violation-rule", "ignore", "--base-violation-tolerance", "0.005"]) == 0
    header = [line for line in out.read_text().splitlines() if line.startswith("# ")]
    assert "# base_violation_rule: ignore" in header and "# base_violation_tolerance_pu: 0.005" in header
    env = EnvelopeSet.read(out)
    assert env.base_violation_rule == "ignore" and env.base_violation_tolerance_pu == 0.005
    assert all(t.split(" ")[0] in ("vmin", "vmax", "rating", "cap") for t in env.binding_export_limit.ravel())
    capsys.readouterr()
    assert main([*args, "--base-violation-tolerance", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "base violation tolerance" in err[-1] and not any("Traceback" in line for line in err)
