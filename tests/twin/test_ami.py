"""Envelopes from meter data alone: reading, the per-meter fit, limits, files, and a check against the twin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flexbench.core import read_envelopes
from flexbench.lab.cli import main
from flexbench.twin import EnvelopeSet, Limits, Twin, compute_envelope, synthetic_profiles
from flexbench.twin.ami import AmiError, ami_envelope, estimate_sensitivity, headroom, limit_cap_w, read_ami
from flexbench.twin.ami_simulate import simulate_ami

START = pd.Timestamp("2025-07-01", tz="UTC")

SECONDARY = """Clear
New Circuit.sec basekv=12.47 pu=1.02 phases=3 bus1=src MVAsc3=20000 MVAsc1=20000
New Line.feeder bus1=src bus2=mid phases=3 r1=0.3 x1=0.6 r0=0.9 x0=1.8 length=3 units=km
{houses}
Set voltagebases=[12.47 0.4157]
calcv
"""
TRANSFORMER = (
    "New Transformer.t{t} phases=1 windings=2 buses=[mid.{phase} sec{t}.1] conns=[wye wye] kvs=[7.2 0.24] "
    "kvas=[100 100] xhl=2.5 %r=0.8"
)
HOUSE = (
    "New Line.s{t}_{n} bus1=sec{t}.1 bus2=h{t}_{n}.1 phases=1 r1={r} x1={x} r0={r} x0={x} length=1 units=km "
    "normamps=400\n"
    "New Load.h{t}_{n} bus1=h{t}_{n}.1 phases=1 kv=0.24 kW=4 pf=0.95 model=1"
)


def secondary_text() -> str:
    """Four service transformers on the three phases, five houses on service drops of different impedance each."""
    parts = []
    for t in range(4):
        parts.append(TRANSFORMER.format(t=t, phase=1 + t % 3))
        parts += [HOUSE.format(t=t, n=n, r=0.02 + 0.02 * n, x=0.01 + 0.005 * n) for n in range(5)]
    return SECONDARY.format(houses="\n".join(parts))


@pytest.fixture(scope="module")
def secondary(tmp_path_factory) -> Twin:
    """Twenty houses behind four service transformers."""
    folder = tmp_path_factory.mktemp("secondary")
    path = folder / "secondary.dss"
    path.write_text(secondary_text())
    return Twin.from_file(path)


def synthetic_meters(rng: np.random.Generator, n: int = 30, days: int = 10):
    """Meters whose voltage follows a known linear law: V = 1 + d ref - b P - c Q + noise."""
    idx = pd.date_range(START, periods=days * 96, freq="15min")
    hour = (idx.hour + idx.minute / 60).to_numpy()
    shape = 0.6 + 0.4 * np.sin(np.pi * (hour - 6) / 12).clip(0)
    ref = 0.01 * np.sin(2 * np.pi * hour / 24) + np.cumsum(rng.normal(0, 2e-4, len(idx)))
    ref += 0.00625 * (np.arange(len(idx)) // 200 % 3)  # regulator steps
    b = rng.uniform(0.5e-6, 2e-6, n)
    c = 0.5 * b
    d = rng.uniform(0.8, 1.1, n)
    pv = np.arange(n) % 3 == 0
    rows = []
    for i in range(n):
        load = 3000 * shape * rng.lognormal(-0.045, 0.3, len(idx))
        gen = np.where(pv[i], 5000 * np.sin(np.pi * (hour - 6) / 12).clip(0) * rng.uniform(0.6, 1, len(idx)), 0)
        p = load - gen
        q = 0.33 * load
        v = 1.0 + d[i] * ref - b[i] * p - c[i] * q + rng.normal(0, 2e-4, len(idx))
        rows.append(pd.DataFrame({"meter_id": f"m{i}", "timestamp": idx, "voltage_v": 240 * v, "p_w": p, "q_var": q}))
    return pd.concat(rows, ignore_index=True), b, c, pv


def test_known_sensitivity_is_recovered(tmp_path):
    table, b, c, pv = synthetic_meters(np.random.default_rng(3))
    path = tmp_path / "ami.csv"
    table.to_csv(path, index=False)
    data = read_ami(path)
    assert data.nominal_v.eq(240.0).all()  # inferred from the levels
    sens = estimate_sensitivity(data)
    # meters with PV: P and Q apart, the unity export sees b alone
    assert not sens.combined[pv].any()
    assert np.allclose(sens.export_rise_pu_per_w[pv], b[pv], rtol=0.1)
    assert np.allclose(sens.import_drop_pu_per_w[pv], b[pv] + 0.33 * c[pv], rtol=0.1)
    # meters without PV: one regressor, at least the true export rise (the safe side)
    assert sens.combined[~pv].all()
    assert np.allclose(sens.export_rise_pu_per_w[~pv], b[~pv] + 0.33 * c[~pv], rtol=0.1)
    # the limit from a base voltage of 1.03 pu: 0.02 pu of rise
    room, _ = headroom(sens, "export", np.full((1, len(b)), 1.03), limit_cap_w(data), Limits(), (0.0,))
    assert np.allclose(room[0.0][0, pv], 0.02 / b[pv], rtol=0.1)


def test_envelope_file_has_band_and_method(tmp_path):
    table, *_ = synthetic_meters(np.random.default_rng(4), n=6, days=8)
    path = tmp_path / "ami.parquet"
    table.to_parquet(path)
    result = ami_envelope(read_ami(path), "variable", horizon="24h", confidence=0.9)
    env = result.envelope
    assert env.shape == (6, 24) and env.method == "ami-regression" and not env.verified
    assert (env.export_limit_w <= result.export_limit_central_w + 1e-6).all()
    assert (result.export_limit_central_w <= result.export_limit_high_w + 1e-6).all()
    assert (env.import_limit_w <= result.import_limit_central_w + 1e-6).all()
    for suffix in ("csv", "json", "parquet"):
        out = result.save(tmp_path / f"env.{suffix}")
        back = EnvelopeSet.read(out)
        assert np.allclose(back.export_limit_w, env.export_limit_w, atol=1e-3)
        assert back.method == "ami-regression" and back.thermal_ratings.startswith("none")
    text = (tmp_path / "env.csv").read_text()
    assert "# ami_model: per-meter least squares" in text and "# ami_confidence: 0.9" in text
    assert "export_limit_central_w" in text.splitlines()[len([x for x in text.splitlines() if x.startswith("#")])]
    assert set(read_envelopes(tmp_path / "env.csv")) == {f"m{i}" for i in range(6)}
    # a selection of meters gets the same limits: every meter still informs the feeder term
    two = ami_envelope(read_ami(path), "variable", meters=["m4", "m1"], horizon="24h", confidence=0.9).envelope
    assert two.site_ids == ["m4", "m1"]
    assert np.allclose(two.export_limit_w, env.export_limit_w[[4, 1]])
    static = ami_envelope(read_ami(path), "static").envelope
    assert static.shape == (6, 24) and (static.intervals["month"] == 7).all()


def test_against_the_twin_on_a_secondary(secondary, tmp_path):
    """Meter data from the twin's time series: the AMI export limits are near the model's and not above them."""
    hist = synthetic_profiles(secondary.sites, START - pd.Timedelta(days=7), 7 * 96, "15min", seed=2)
    table = simulate_ami(secondary, hist, seed=1, load_variation=0.3)
    path = tmp_path / "ami.parquet"
    table.to_parquet(path)
    ami = ami_envelope(read_ami(path), "variable", start=START, horizon="6h").envelope
    model = compute_envelope(
        secondary, "variable", profiles=hist, start=START, horizon="6h", resolution="1h", allocation="none"
    )
    assert ami.site_ids == model.site_ids
    rel = (ami.export_limit_w - model.export_limit_w) / np.abs(model.export_limit_w)
    # fitted on P alone (no PV here: Q moves with P), the export sensitivity carries the Q part: conservative
    assert np.median(np.abs(rel)) < 0.4
    assert (rel > 0.02).mean() <= 0.1


def write(path, text: str):
    path.write_text(text)
    return path


GOOD_HEADER = "meter_id,timestamp,voltage_v,p_w,q_var\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("meter_id,timestamp,voltage_v,p_w\nm1,2025-07-01T00:00Z,240,1\n", "missing column q_var"),
        ("meter_id,timestamp,voltage_v,p_w,var\nm1,2025-07-01T00:00Z,240,1,1\n", "missing column q_var"),
        (GOOD_HEADER + "m1,2025-07-01T00:00Z,240,1,1\nm1,2025-07-01T00:15Z,abc,1,1\n", "line 3: column voltage_v"),
        (GOOD_HEADER + "m1,2025-07-01T00:00Z,240,1,1\nm1,yesterday,240,1,1\n", "line 3: column timestamp"),
        (GOOD_HEADER + "m1,2025-07-01T00:00Z,240,1,1\nm1,2025-07-01T00:00Z,241,1,1\n", "line 3: meter m1"),
        (GOOD_HEADER + "m1,2025-07-01T00:00Z,240,1,1\nm1,2025-07-01T00:10Z,240,1,1\n", "column timestamp"),
        (GOOD_HEADER + "m1,2025-07-01T00:00Z,240,1,1\nm1,2025-07-01T00:15Z,-3,1,1\n", "line 3: column voltage_v"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, body, message):
    path = write(tmp_path / "ami.csv", body)
    with pytest.raises(AmiError) as info:
        read_ami(path)
    text = str(info.value)
    assert str(path) in text and message in text and "\n" not in text


def test_cli_writes_an_envelope_and_names_bad_input(tmp_path, capsys):
    table, *_ = synthetic_meters(np.random.default_rng(5), n=4, days=8)
    path = tmp_path / "ami.csv"
    table.to_csv(path, index=False)
    out = tmp_path / "env.csv"
    code = main(["ami-envelope", str(path), "--horizon", "12h", "--confidence", "0.9", "--out", str(out)])
    assert code == 0 and "4 meters x 12 intervals" in capsys.readouterr().out
    assert EnvelopeSet.read(out).shape == (4, 12)
    bad = write(tmp_path / "bad.csv", GOOD_HEADER + "m1,2025-07-01T00:00Z,240,x,1\n")
    code = main(["ami-envelope", str(bad), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "bad.csv: line 2: column p_w" in err
    code = main(["ami-envelope", str(path), "--meters", "m1,zz", "--out", str(out)])
    assert code == 2 and "no meter 'zz'" in capsys.readouterr().err
