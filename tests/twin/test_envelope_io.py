"""Envelope objects: table form and CSV / Parquet / JSON round trips; plots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flexbench.twin import Envelope, SiteError, compute_envelope
from flexbench.twin.plots import band_svg, headroom_map_svg


@pytest.fixture(scope="module")
def env(ieee13):
    return compute_envelope(ieee13, "variable", start="2025-07-14", horizon="12h", resolution="1h")


def _same(a: Envelope, b: Envelope) -> None:
    assert a.site_ids == b.site_ids and a.meta()["kind"] == b.meta()["kind"]
    for name in ("import_limit_w", "export_limit_w", "firm_import_w", "firm_export_w", "forecast_import_w"):
        assert np.allclose(getattr(a, name), getattr(b, name), atol=1e-3), name
    assert (a.binding_import == b.binding_import).all() and (a.binding_export == b.binding_export).all()
    assert list(a.intervals["duration_s"]) == list(b.intervals["duration_s"])
    sa, sb = a.intervals["start"], b.intervals["start"]
    assert (sa.isna() == sb.isna()).all() and (sa.dropna() == sb.dropna()).all()


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_round_trip(env, tmp_path, suffix):
    path = env.save(tmp_path / f"env{suffix}")
    _same(env, Envelope.read(path))


def test_table_and_json_shapes(env, tmp_path):
    frame = env.to_frame()
    assert len(frame) == 15 * 12
    assert {
        "site_id",
        "start",
        "import_limit_w",
        "export_limit_w",
        "firm_import_w",
        "nonfirm_export_w",
        "binding_import",
    } <= set(frame.columns)
    assert frame["start"].dt.tz is not None
    data = json.loads(env.to_json(tmp_path / "e.json").read_text())
    assert data["schema"] == "flexbench-envelope/1" and len(data["sites"]) == 15
    assert len(data["sites"][0]["import_limit_w"]) == 12
    one = env.site("671")
    assert len(one) == 12 and (one["site_id"] == "671").all()
    with pytest.raises(SiteError, match="671"):
        env.site("67l")


def test_unknown_format_is_refused(env, tmp_path):
    with pytest.raises(ValueError, match=".csv, .parquet or .json"):
        env.save(tmp_path / "env.xlsx")


def test_plots_are_svg(env, ieee13, tmp_path):
    band = band_svg(env, "671", tmp_path / "band.svg").read_text()
    assert band.startswith("<svg") and "671" in band and band.count("<polygon") == 4
    fmap = headroom_map_svg(env, ieee13, 5, tmp_path / "map.svg").read_text()
    assert fmap.count("<title>") == 15
