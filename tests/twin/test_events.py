"""Field event files: the shipped events parse and drive the twin; bad files get errors naming file, entry, field."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flexbench.twin import Twin
from flexbench.twin.event_twin import state_at, twin_states
from flexbench.twin.events import EventError, read_event, read_field

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "testplans" / "events"
SHIPPED = ("abnormal-import", "ieee123-switching", "pv-cloud-transient")


@pytest.fixture(scope="module")
def twin() -> Twin:
    return Twin.from_name("ieee123")  # its own: EventTwin moves its operating point


def copy_event(tmp_path: Path, name: str) -> Path:
    for suffix in (".toml", ".csv"):
        shutil.copy(EVENTS / f"{name}{suffix}", tmp_path / f"{name}{suffix}")
    return tmp_path / f"{name}.toml"


def edit(path: Path, old: str, new: str) -> Path:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_events_parse_with_field_traces(twin, name):
    event = read_event(EVENTS / f"{name}.toml", twin=twin)
    assert event.feeder == "ieee123" and event.site.element in twin.site_ids
    assert list(event.field.columns[:2]) == ["time_s", "pcc_p_w"]
    assert event.timeline and event.trigger_entry() is not None
    assert event.duration_s >= event.timeline[-1].t_s
    assert 0 < event.site.bench_ratio < 1


def test_switching_cuts_the_sites_nonfirm_export_and_raises_its_voltage(twin):
    event = read_event(EVENTS / "ieee123-switching.toml", twin=twin)
    states = twin_states(event, twin)
    before, after = state_at(states, 59.0), state_at(states, 60.0)
    assert after.switches and not before.switches
    site = event.site
    # the site exports more than the new envelope lets it, and less than the old one did
    assert after.export_limit_w < -after.site_net_w < min(before.export_limit_w, site.rating_w)
    assert after.export_limit_w - site.firm_export_w < 0.5 * (
        min(before.export_limit_w, site.rating_w) - site.firm_export_w
    )
    assert after.pcc_voltage_pu > before.pcc_voltage_pu + 0.01


def test_cloud_lowers_pv_and_the_sites_voltage(twin):
    event = read_event(EVENTS / "pv-cloud-transient.toml", twin=twin)
    states = twin_states(event, twin)
    sunny, cloudy = state_at(states, 0.0), state_at(states, 50.0)
    assert cloudy.site_pv_w == pytest.approx(event.site.pv_rating_w * 0.2)
    assert sunny.site_pv_w == pytest.approx(event.site.pv_rating_w * 0.95)
    assert cloudy.pcc_voltage_pu < sunny.pcc_voltage_pu
    assert state_at(states, 100.0).pcc_voltage_pu == pytest.approx(sunny.pcc_voltage_pu, abs=1e-4)


def test_shipped_traces_are_what_the_script_makes(monkeypatch):
    """The field CSVs are synthetic and reproducible: the script with its fixed seeds makes them again."""
    spec = importlib.util.spec_from_file_location("make_field_traces", EVENTS / "make_field_traces.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_field_traces", module)  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    for name in SHIPPED:
        event = read_event(EVENTS / f"{name}.toml", with_field=False)
        made = module.simulate(event, module.MODELS[name])
        shipped = read_field(EVENTS / f"{name}.csv")
        assert list(made.columns) == list(shipped.columns)
        np.testing.assert_allclose(made.to_numpy(float), shipped.to_numpy(float), rtol=1e-4, atol=0.11)


# -- bad files --------------------------------------------------------------------------------


def check_error(exc: pytest.ExceptionInfo, *parts: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, message


def test_unknown_switch_names_file_entry_and_element(tmp_path, twin):
    path = edit(copy_event(tmp_path, "ieee123-switching"), 'element = "Line.Sw3"', 'element = "Line.Sw33"')
    with pytest.raises(EventError) as exc:
        read_event(path, twin=twin)
    check_error(exc, str(path), "timeline entry 2 (switch)", "'Line.Sw33'", "not a line or switch of feeder ieee123")


def test_unknown_load_and_unknown_pv_are_named(tmp_path, twin):
    path = copy_event(tmp_path, "pv-cloud-transient")
    edit(path, 'element = "s48"', 'element = "s48z"')
    with pytest.raises(EventError) as exc:
        read_event(path, twin=twin)
    check_error(exc, "timeline entry 3 (irradiance)", "'s48z'", "not a PV system")
    path = edit(copy_event(tmp_path, "abnormal-import"), 'element = "s47"', 'element = "s470"')
    with pytest.raises(EventError) as exc:
        read_event(path, twin=twin)
    check_error(exc, "[site] element", "'s470' is not a load of feeder ieee123")


def test_time_going_backwards_is_named(tmp_path, twin):
    path = edit(copy_event(tmp_path, "abnormal-import"), "t_s = 150.0", "t_s = 20.0")
    with pytest.raises(EventError) as exc:
        read_event(path, twin=twin)
    check_error(exc, str(path), "timeline entry 2 (cancel)", "t_s = 20", "before entry 1", "backwards")


def test_missing_column_and_csv_time_backwards_are_named(tmp_path, twin):
    path = copy_event(tmp_path, "abnormal-import")
    csv = tmp_path / "abnormal-import.csv"
    frame = pd.read_csv(csv, comment="#")
    frame.rename(columns={"pcc_p_w": "pcc_power"}).to_csv(csv, index=False)
    with pytest.raises(EventError) as exc:
        read_event(path, twin=twin)
    check_error(exc, str(csv), "missing column 'pcc_p_w'")
    frame.loc[10, "time_s"] = 5.0
    frame.to_csv(csv, index=False)
    with pytest.raises(EventError) as exc:
        read_event(path, twin=twin)
    check_error(exc, str(csv), "line 12, column 'time_s'", "backwards")


@pytest.mark.parametrize(
    "old, new, parts",
    [
        ('action = "cancel"', 'action = "trip"', ("timeline entry 2", "unknown action 'trip'", "actions: load")),
        (
            "max_import_w = 25000.0",
            "max_import_kw = 25.0",
            ("timeline entry 1 (abnormal_import)", "unknown key 'max_import_kw'"),
        ),
        ('target = "abnormal"', 'target = "everything"', ("timeline entry 2 (cancel)", "target")),
        ("bench_ratio = 0.08", "bench_ratio = -1.0", ("[site]", "bench_ratio", "positive")),
        ("trigger = 1", "trigger = 7", ("[score] trigger", "1..2")),
        ('bus = "47"', 'bus = "48"', ("[site] bus", "bus 47")),
    ],
)
def test_other_mistakes_are_named(tmp_path, twin, old, new, parts):
    path = edit(copy_event(tmp_path, "abnormal-import"), old, new)
    with pytest.raises(EventError) as exc:
        read_event(path, twin=twin)
    check_error(exc, str(path), *parts)


def test_closing_a_tie_to_an_unknown_bus_is_named(tmp_path, twin):
    path = edit(copy_event(tmp_path, "ieee123-switching"), 'bus2 = "300"', 'bus2 = "3000"')
    with pytest.raises(EventError) as exc:
        read_event(path, twin=twin)
    check_error(exc, "timeline entry 3 (switch)", "bus2: '3000' is not a bus of feeder ieee123")


def test_unit_less_column_is_refused(tmp_path):
    csv = tmp_path / "f.csv"
    csv.write_text("time_s,pcc_p_w,temperature\n0,1,20\n1,2,21\n")
    with pytest.raises(EventError, match=re.escape("column 'temperature' does not name its unit")):
        read_field(csv)
