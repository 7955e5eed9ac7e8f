"""Injection models: how a site's extra import enters the feeder, stated in the envelope and chosen.

The acceptance check is independent of the twin (plain_opendss.py): the feeder
compiled afresh in plain OpenDSS, every site at its equal-allocated import limit
at once, the extra import on each site's own load (its power factor and load
model). An envelope computed with `load-pf` passes it; one computed at unity
power factor does not, which is why load-pf is the default.
"""

from __future__ import annotations

import pandas as pd
import pytest

from flexbench.lab.cli import main
from flexbench.twin import EnvelopeSet, Twin, compute_envelope, synthetic_profiles
from flexbench.twin.verify import check_envelope

from .plain_opendss import PlainFeeder, worst_import_violation

# a summer evening and a winter morning: the feeders' import peaks
STARTS = ("2025-07-14T18:00:00Z", "2025-01-14T08:00:00Z")
CHECK_TOL = 1e-5  # pu, or fraction of a rating: well above the solver tolerance


def _import_check(twin: Twin, plain: PlainFeeder, start: str, model: str) -> tuple[float, str]:
    prof = synthetic_profiles(twin.sites, pd.Timestamp(start), 1, "1h", seed=3)
    env = compute_envelope(twin, "variable", profiles=prof, start=start, horizon="1h", injection_model=model)
    assert env.verified and env.injection_model == model
    assert check_envelope(twin, env, prof.load_w.to_numpy(), prof.pv_w.to_numpy()).ok
    load = dict(zip(prof.load_w.columns, prof.load_w.to_numpy()[0]))
    pv = dict(zip(prof.pv_w.columns, prof.pv_w.to_numpy()[0]))
    return worst_import_violation(plain, env.site_ids, load, pv, env.import_limit_w[:, 0])


@pytest.fixture(scope="module")
def plain123(ieee123) -> PlainFeeder:
    return PlainFeeder(ieee123.source)


@pytest.mark.parametrize("start", STARTS)
def test_ieee123_every_site_at_its_load_pf_import_limit_is_safe(ieee123, plain123, start):
    worst, where = _import_check(ieee123, plain123, start, "load-pf")
    assert worst <= CHECK_TOL, where


def test_ieee123_unity_import_limits_overload_when_drawn_at_the_loads_power_factor(ieee123, plain123):
    worst = [_import_check(ieee123, plain123, start, "unity") for start in STARTS]
    assert max(w for w, _ in worst) > 0.01, worst


def test_ieee8500_every_site_at_its_load_pf_import_limit_is_safe(ieee8500):
    worst, where = _import_check(ieee8500, PlainFeeder(ieee8500.source), STARTS[0], "load-pf")
    assert worst <= CHECK_TOL, where


@pytest.mark.parametrize("model", ["unity", None])
def test_the_file_states_its_assumptions(tmp_path, model):
    out = tmp_path / "env.csv"
    chosen = ["--injection-model", model] if model else []
    assert (
        main(["envelope", "--feeder", "ieee13", "--horizon", "2h", "--vmin", "0.96", *chosen, "--out", str(out)]) == 0
    )
    header = dict(line[2:].split(": ", 1) for line in out.read_text().splitlines() if line.startswith("# "))
    assert header["injection_model"] == (model or "load-pf")
    assert header["vmin_pu"] == "0.96" and header["vmax_pu"] == "1.05"
    assert "normamps" in header["thermal_ratings"] and "kVA" in header["thermal_ratings"]
    assert "half of peak load" in header["regulator_policy"]
    assert header["base_violation_rule"] == "hold" and header["base_violation_tolerance_pu"] == "0.001"
    assert EnvelopeSet.read(out).injection_model == (model or "load-pf")


def test_unknown_injection_model_is_refused(ieee13, capsys):
    with pytest.raises(ValueError, match="load-pf, unity"):
        compute_envelope(ieee13, "dynamic", injection_model="constant-z")
    with pytest.raises(SystemExit):
        main(["envelope", "--feeder", "ieee13", "--injection-model", "zip", "--out", "x.csv"])
    assert "invalid choice: 'zip'" in capsys.readouterr().err
