"""Feeders: embedded by name, any master file by path, independent engines, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from flexbench.twin import FeederError, SiteError, Twin, feeder_names, resolve_feeder
from flexbench.twin.feeders import FEEDER_DIR

from .conftest import write_line_feeder


def test_embedded_feeders_ship_with_license_and_attribution():
    assert set(feeder_names()) == {"ieee13", "ieee123", "ieee8500"}
    assert (FEEDER_DIR / "LICENSE-electricdss-tst.txt").is_file()
    readme = (FEEDER_DIR / "README.md").read_text()
    assert "Electric Power Research Institute" in readme and "BSD-3-Clause" in readme
    for name in feeder_names():
        assert resolve_feeder(name).master.is_file()


def test_sites_and_constraints_of_the_embedded_feeders(ieee13, ieee123, ieee8500):
    assert len(ieee8500.sites) == 1177
    # every 8500 customer is a split-phase service behind its own service transformer
    assert all(s.service_transformer and not s.polyphase for s in ieee8500.sites)
    assert all(s.x is not None for s in ieee8500.sites)
    s671 = ieee13.site("671")
    assert s671.polyphase and s671.conn == "delta" and s671.phases == 3
    assert ieee13.site("634a").service_transformer == "Transformer.xfm1"
    assert any(s.polyphase for s in ieee123.sites) and any(not s.polyphase for s in ieee123.sites)
    frame = ieee123.constraints_frame()
    assert {"voltage", "thermal"} == set(frame["kind"])
    assert (frame.loc[frame.kind == "thermal", "rating"] > 0).all()
    assert not any(e.startswith("150.") for e in frame.loc[frame.kind == "voltage", "element"])


def test_two_twins_in_one_process_are_independent(ieee13, ieee123):
    other = Twin.from_name("ieee13")
    nominal = np.array([s.nominal_w for s in ieee13.sites])
    other.set_operating_point(0.3 * nominal)
    ieee13.set_operating_point(0.9 * nominal)
    ieee123.set_operating_point(np.array([s.nominal_w for s in ieee123.sites]) * 0.5)
    v_other = other.solve_forecast().vm_pu
    v_main = ieee13.solve_forecast().vm_pu
    ieee123.solve_forecast()
    # solving one twin (and the 123-node one) does not move the other
    assert np.allclose(other.state().vm_pu, v_other)
    assert np.allclose(ieee13.state().vm_pu, v_main)
    assert v_other.min() > v_main.min() + 0.005
    # and each gives what it gives alone
    alone = Twin.from_name("ieee13")
    alone.set_operating_point(0.3 * nominal)
    assert np.allclose(alone.solve_forecast().vm_pu, v_other, atol=1e-6)


def test_any_master_file_by_path(tmp_path):
    twin = Twin.from_file(write_line_feeder(tmp_path, "line", 8.0, 2000))
    assert twin.site_ids == ["site"]
    assert twin.site("site").bus == "b1"


def test_feeder_that_does_not_compile_names_file_and_line(tmp_path):
    bad = tmp_path / "typo.dss"
    bad.write_text(
        "Clear\nNew Circuit.bad basekv=4.16\nNew Line.l1 bus1=sourcebus bus2=b2 lenght=1\n"
        "New Load.x bus1=b2 kW=100 kv=4.16\n"
    )
    with pytest.raises(FeederError) as err:
        Twin.from_file(bad)
    msg = str(err.value)
    assert "typo.dss" in msg and "lenght" in msg and "line: 3" in msg


def test_feeder_that_does_not_converge(tmp_path):
    bad = tmp_path / "heavy.dss"
    bad.write_text(
        "Clear\nNew Circuit.heavy basekv=4.16 pu=1.0 r1=50 x1=50\n"
        "New Line.l1 bus1=sourcebus bus2=b2 r1=30 x1=30\n"
        "New Load.x bus1=b2 kW=90000 kv=4.16 vminpu=0.0 vlowpu=0 model=1\n"
        "Set voltagebases=[4.16]\ncalcv\n"
    )
    with pytest.raises(FeederError, match="did not converge"):
        Twin.from_file(bad)


def test_unknown_feeder_and_site_suggest_near_names(ieee123):
    with pytest.raises(FeederError, match="ieee123"):
        Twin.from_name("ieee12")
    with pytest.raises(FeederError, match="not found"):
        Twin.load("/nowhere/Master.dss")
    with pytest.raises(SiteError, match="s99b"):
        ieee123.site_numbers(["s99x"])
