"""Time series: synthetic shapes, AMI/SCADA import with validation, forecasts, QSTS."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from flexbench.twin import ProfileError, SiteError, forecast, read_profiles, synthetic_profiles
from flexbench.twin.profiles import month_hour_worst
from flexbench.twin.qsts import run_qsts


def test_synthetic_shapes_follow_day_and_season(ieee123):
    prof = synthetic_profiles(ieee123.sites, "2025-01-01", 24 * 365, "1h", seed=0)
    load = prof.load_w.sum(axis=1)
    by_hour = load.groupby(load.index.hour).mean()
    assert by_hour.idxmax() in range(17, 22)  # residential evening peak
    assert by_hour.idxmin() in range(1, 6)
    by_month = load.groupby(load.index.month).mean()
    assert by_month[7] > by_month[4] and by_month[1] > by_month[4]  # summer and winter peaks
    pv = prof.pv_w.sum(axis=1)
    assert pv[pv.index.hour == 2].max() == 0.0
    assert pv[pv.index.month == 6].mean() > pv[pv.index.month == 12].mean()
    q = synthetic_profiles(ieee123.sites, "2025-01-01", 96, "15min", seed=0)
    assert q.resolution == pd.Timedelta(minutes=15) and q.load_w.shape == (96, 91)


def _write(tmp_path, name, rows, header="timestamp,site_id,power_kw"):
    path = tmp_path / name
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def _good_rows(sites=("s1a", "s2b"), hours=6):
    rows = []
    for h in range(hours):
        for k, s in enumerate(sites):
            rows.append(f"2025-03-01T{h:02d}:00:00Z,{s},{1.5 + k + 0.1 * h}")
    return rows


def test_read_long_csv_and_parquet(tmp_path, ieee123):
    path = _write(tmp_path, "ami.csv", _good_rows())
    prof = read_profiles(path, site_ids=ieee123.site_ids)
    assert list(prof.load_w.columns) == ["s1a", "s2b"]
    assert prof.resolution == pd.Timedelta(hours=1)
    assert prof.load_w.iloc[2]["s2b"] == pytest.approx(2700.0)
    frame = pd.read_csv(path)
    frame.to_parquet(tmp_path / "ami.parquet")
    again = read_profiles(tmp_path / "ami.parquet", site_ids=ieee123.site_ids)
    assert np.allclose(again.load_w.to_numpy(), prof.load_w.to_numpy())


def test_read_wide_scada_csv(tmp_path):
    path = tmp_path / "scada.csv"
    idx = pd.date_range("2025-03-01", periods=8, freq="15min", tz="UTC")
    pd.DataFrame({"timestamp": idx, "671": np.linspace(5e5, 6e5, 8)}).to_csv(path, index=False)
    prof = read_profiles(path)
    assert prof.resolution == pd.Timedelta(minutes=15) and prof.load_w.shape == (8, 1)


def test_gap_names_file_and_lines(tmp_path):
    rows = [r for r in _good_rows() if not r.startswith("2025-03-01T03")]
    path = _write(tmp_path, "gap.csv", rows)
    with pytest.raises(ProfileError) as err:
        read_profiles(path)
    msg = str(err.value)
    assert "gap.csv" in msg and "gap" in msg and "02:00" in msg and "04:00" in msg and "line" in msg


def test_duplicate_timestamp_names_both_lines(tmp_path):
    rows = _good_rows()
    rows.insert(3, rows[0])
    path = _write(tmp_path, "dup.csv", rows)
    with pytest.raises(ProfileError, match=r"dup.csv: duplicate timestamp .* 's1a' \(lines 2 and 5\)"):
        read_profiles(path)


def test_site_missing_at_one_timestamp_is_a_gap(tmp_path):
    rows = _good_rows()
    del rows[5]  # s2b at 02:00
    with pytest.raises(ProfileError, match="gap: site 's2b' has no value at 2025-03-01 02:00"):
        read_profiles(_write(tmp_path, "hole.csv", rows))


def test_bad_columns_and_values(tmp_path, ieee123):
    with pytest.raises(ProfileError, match="unknown column 'powr_kw'"):
        read_profiles(_write(tmp_path, "a.csv", ["2025-03-01T00:00:00Z,s1a,1,2"], "timestamp,site_id,power_kw,powr_kw"))
    with pytest.raises(ProfileError, match="no timestamp column"):
        read_profiles(_write(tmp_path, "b.csv", ["x,s1a,1"], "when,site_id,power_kw"))
    with pytest.raises(ProfileError, match=r"c.csv: line 3: column 'power_kw': not a number: 'abc'"):
        read_profiles(_write(tmp_path, "c.csv", ["2025-03-01T00:00:00Z,s1a,1", "2025-03-01T01:00:00Z,s1a,abc"]))
    with pytest.raises(ProfileError, match=r"d.csv: line 2: cannot parse timestamp 'yesterday'"):
        read_profiles(_write(tmp_path, "d.csv", ["yesterday,s1a,1", "2025-03-01T01:00:00Z,s1a,1"]))
    with pytest.raises(ProfileError, match=r"line 3: column 'power_kw': missing value"):
        read_profiles(_write(tmp_path, "e.csv", ["2025-03-01T00:00:00Z,s1a,1", "2025-03-01T01:00:00Z,s1a,"]))
    with pytest.raises(SiteError, match="s1a"):
        read_profiles(_write(tmp_path, "f.csv", _good_rows(("s1x", "s2b"))), site_ids=ieee123.site_ids)
    with pytest.raises(ProfileError, match="off the 1h grid"):
        rows = _good_rows() + ["2025-03-01T06:30:00Z,s1a,1", "2025-03-01T06:30:00Z,s2b,1"]
        read_profiles(_write(tmp_path, "g.csv", rows), resolution="1h")
    with pytest.raises(ProfileError, match="file not found"):
        read_profiles(tmp_path / "none.csv")


def test_forecast_from_history_repeats_the_weekly_pattern(ieee13):
    hist = synthetic_profiles(ieee13.sites, "2025-06-02", 24 * 28, "1h", seed=1)
    fc = forecast(hist, "2025-06-30", 72, "1h")
    assert fc.load_w.shape == (72, 15)
    same_hour = hist.load_w[hist.index.hour == 19].mean()
    assert np.allclose(fc.load_w[fc.index.hour == 19].mean(), same_hour, rtol=0.1)


def test_month_hour_worst_cases(ieee13):
    year = synthetic_profiles(ieee13.sites, "2025-01-01", 8760, "1h", seed=2)
    keys, imp, exp = month_hour_worst(year)
    assert len(keys) == 288
    assert (imp.load_w.to_numpy() >= exp.load_w.to_numpy()).all()
    assert (imp.pv_w.to_numpy() <= exp.pv_w.to_numpy()).all()
    with pytest.raises(ProfileError, match="a year"):
        month_hour_worst(synthetic_profiles(ieee13.sites, "2025-01-01", 24 * 40, "1h"))


def test_qsts_over_a_day_moves_regulators(ieee123):
    prof = synthetic_profiles(ieee123.sites, "2025-07-14", 96, "15min", seed=4)
    res = run_qsts(ieee123, prof)
    assert res.summary.shape == (96, 5) and res.site_voltage_pu.shape == (96, 91)
    assert res.taps.nunique().max() > 1
    assert res.summary["head_power_w"].max() > 1.3 * res.summary["head_power_w"].min()
