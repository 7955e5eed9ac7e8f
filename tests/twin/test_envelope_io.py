"""EnvelopeSet objects: table form, CSV / Parquet / JSON round trips, one site's core Envelope; plots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from flexbench.core import Envelope, SiteLimits, read_envelope_file, read_envelopes
from flexbench.twin import EnvelopeSet, SiteError, compute_envelope
from flexbench.twin.plots import band_svg, headroom_map_svg


@pytest.fixture(scope="module")
def env(ieee13):
    return compute_envelope(ieee13, "variable", start="2025-07-14", horizon="12h", resolution="1h")


def _same(a: EnvelopeSet, b: EnvelopeSet) -> None:
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
    _same(env, EnvelopeSet.read(path))


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


def test_one_site_as_a_core_envelope(env):
    i = env.site_ids.index("671")
    one = env.envelope("671")
    assert isinstance(one, Envelope) and one.site_id == "671" and len(one) == 12
    assert one.firm == SiteLimits(import_limit_w=env.firm_import_w[i], export_limit_w=env.firm_export_w[i])
    starts = env.intervals["start"]
    assert one[0].start_s == starts.iloc[0].timestamp() and one[-1].end_s == starts.iloc[-1].timestamp() + 3600
    assert [x.import_limit_w for x in one] == pytest.approx(np.maximum(env.import_limit_w[i], 0))
    assert [x.export_limit_w for x in one] == pytest.approx(np.maximum(env.export_limit_w[i], 0))
    with pytest.raises(SiteError, match="671"):
        env.envelope("67l")


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_the_twins_files_are_what_the_publish_commands_read(env, tmp_path, suffix):
    """`flexbench envelope --out` files, meta data lines and all, read as the twin's own Envelopes."""
    assert (env.export_limit_w < 0).any()  # the twin's signed limits are in the file: read as 0
    path = env.save(tmp_path / f"env{suffix}")
    read = read_envelopes(path)
    assert list(read) == env.site_ids
    for site_id in env.site_ids:
        expected, got = env.envelope(site_id), read[site_id]
        assert [(x.start_s, x.duration_s) for x in got] == [(x.start_s, x.duration_s) for x in expected]
        for side in ("import_limit_w", "export_limit_w"):
            assert [getattr(x, side) for x in got] == pytest.approx([getattr(x, side) for x in expected], abs=1e-3)
            assert getattr(got.firm, side) == pytest.approx(getattr(expected.firm, side), abs=1e-3)
    assert read_envelope_file(path, "671").site_id == "671"


def test_unknown_format_is_refused(env, tmp_path):
    with pytest.raises(ValueError, match=".csv, .parquet or .json"):
        env.save(tmp_path / "env.xlsx")


def test_plots_are_svg(env, ieee13, tmp_path):
    band = band_svg(env, "671", tmp_path / "band.svg").read_text()
    assert band.startswith("<svg") and "671" in band and band.count("<polygon") == 4
    fmap = headroom_map_svg(env, ieee13, 5, tmp_path / "map.svg").read_text()
    assert fmap.count("<title>") == 15
