"""Field event files: the shipped events parse and drive the twin; bad files get one-line errors naming file,
line and key (the twin's part here; the lab's bench mapping and score in tests/lab/test_replay.py)."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flexbench.lab.replay.event import REPLAY_KEYS, read_replay_event
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


def read(path: Path, twin: Twin):
    """The twin's part of an event file, the lab's keys left to the lab."""
    return read_event(path, twin, others=REPLAY_KEYS)


def edit(path: Path, old: str, new: str) -> Path:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_events_parse_with_field_traces(twin, name):
    event = read(EVENTS / f"{name}.toml", twin)
    assert event.feeder == "ieee123" and event.site.element in twin.site_ids
    assert list(event.field.columns[:2]) == ["time_s", "pcc_p_w"]
    assert event.timeline and event.duration_s >= event.timeline[-1].t_s
    replay = read_replay_event(EVENTS / f"{name}.toml", twin)
    assert replay.event.timeline == event.timeline and replay.trigger_entry() is not None
    assert 0 < replay.mapping.bench_ratio < 1 and replay.bench == "lab/benches/virtual-pcs.toml"


def test_the_twin_alone_reads_only_the_feeder_part(tmp_path, twin):
    """Without the lab's keys left to the lab, a bench mapping is an unknown key to the twin; without them it reads."""
    path = copy_event(tmp_path, "abnormal-import")
    with pytest.raises(EventError) as exc:
        read_event(path, twin)
    check_error(exc, f"{path}:41: unknown table [score] (known: event, site, timeline, twin)")
    text = path.read_text().split("[score]")[0]
    path.write_text(text)
    with pytest.raises(EventError) as exc:
        read_event(path, twin)
    check_error(exc, f"{path}:15: [event] unknown key 'bench'")
    for key in ("bench", "rating_w", "bench_ratio", "firm_import_w"):
        text = re.sub(rf"(?m)^{key} = .*\n", "", text)
    path.write_text(text)
    event = read_event(path, twin)
    assert event.site.ev_w == 55000.0 and [e.action for e in event.timeline] == ["abnormal_import", "cancel"]


def test_switching_cuts_the_sites_nonfirm_export_and_raises_its_voltage(twin):
    replay = read_replay_event(EVENTS / "ieee123-switching.toml", twin)
    states = twin_states(replay.event, twin)
    before, after = state_at(states, 59.0), state_at(states, 60.0)
    assert after.switches and not before.switches
    rating_w, firm_export_w = replay.mapping.rating_w, replay.mapping.firm_export_w
    # the site exports more than the new envelope lets it, and less than the old one did
    assert after.export_limit_w < -after.site_net_w < min(before.export_limit_w, rating_w)
    assert after.export_limit_w - firm_export_w < 0.5 * (min(before.export_limit_w, rating_w) - firm_export_w)
    assert after.pcc_voltage_pu > before.pcc_voltage_pu + 0.01


def test_cloud_lowers_pv_and_the_sites_voltage(twin):
    event = read(EVENTS / "pv-cloud-transient.toml", twin)
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
        replay = read_replay_event(EVENTS / f"{name}.toml", with_field=False)
        made = module.simulate(replay, module.MODELS[name])
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
        read(path, twin)
    check_error(exc, str(path), "timeline entry 2 (switch)", "'Line.Sw33'", "not a line or switch of feeder ieee123")


def test_unknown_load_and_unknown_pv_are_named(tmp_path, twin):
    path = copy_event(tmp_path, "pv-cloud-transient")
    edit(path, 'element = "s48"', 'element = "s48z"')
    with pytest.raises(EventError) as exc:
        read(path, twin)
    check_error(exc, "timeline entry 3 (irradiance)", "'s48z'", "not a PV system")
    path = edit(copy_event(tmp_path, "abnormal-import"), 'element = "s47"', 'element = "s470"')
    with pytest.raises(EventError) as exc:
        read(path, twin)
    check_error(exc, "[site] element", "'s470' is not a load of feeder ieee123")


def test_time_going_backwards_is_named(tmp_path, twin):
    path = edit(copy_event(tmp_path, "abnormal-import"), "t_s = 150.0", "t_s = 20.0")
    with pytest.raises(EventError) as exc:
        read(path, twin)
    check_error(exc, str(path), "timeline entry 2 (cancel)", "t_s = 20", "before entry 1", "backwards")


def test_missing_column_and_csv_time_backwards_are_named(tmp_path, twin):
    path = copy_event(tmp_path, "abnormal-import")
    csv = tmp_path / "abnormal-import.csv"
    frame = pd.read_csv(csv, comment="#")
    frame.rename(columns={"time_s": "t_s"}).to_csv(csv, index=False)
    with pytest.raises(EventError) as exc:
        read(path, twin)
    check_error(exc, f"{csv}:1: missing column 'time_s'")
    frame.loc[10, "time_s"] = 5.0
    frame.to_csv(csv, index=False)
    with pytest.raises(EventError) as exc:
        read(path, twin)
    check_error(exc, str(csv), "line 12, column 'time_s'", "backwards")


@pytest.mark.parametrize(
    "old, new, parts",
    [
        ('action = "cancel"', 'action = "trip"', (":38: timeline entry 2", "unknown action 'trip'", "actions: load")),
        (
            "max_import_w = 25000.0",
            "max_import_kw = 25.0",
            (":33: timeline entry 1 (abnormal_import)", "unknown key 'max_import_kw'"),
        ),
        ('target = "abnormal"', 'target = "everything"', (":39: timeline entry 2 (cancel)", "target")),
        ('bus = "47"', 'bus = "48"', (":20: [site] bus", "bus 47")),
    ],
)
def test_other_mistakes_are_named(tmp_path, twin, old, new, parts):
    path = edit(copy_event(tmp_path, "abnormal-import"), old, new)
    with pytest.raises(EventError) as exc:
        read(path, twin)
    check_error(exc, str(path), *parts)


@pytest.mark.parametrize(
    "old, new, expected",
    [
        # a typo: the key is unknown, the nearest known one suggested
        ("ev_w = 55000.0", "ev_kw = 55.0", ":24: [site] unknown key 'ev_kw' (did you mean ev_w?"),
        ("load_scale = 0.7", "load_scael = 0.7", ":28: [twin] unknown key 'load_scael' (did you mean load_scale?"),
        # a wrong type
        ("load_w = 70000.0", 'load_w = "70 kW"', ":23: [site] load_w: expected a number, got '70 kW'"),
        ("t_s = 150.0", 't_s = "2:30"', ":37: timeline entry 2 (cancel): t_s: expected a number, got '2:30'"),
        # a missing key: the line of its table
        ("load_w = 70000.0", "", ":18: [site] missing key 'load_w'"),
        ('feeder = "ieee123"', "", ":6: [event] missing key 'feeder'"),
        ("max_import_w = 25000.0", "", ":30: timeline entry 1 (abnormal_import): missing key 'max_import_w'"),
    ],
)
def test_typo_wrong_type_and_missing_key_name_file_line_and_key(tmp_path, twin, old, new, expected):
    path = edit(copy_event(tmp_path, "abnormal-import"), old, new)
    with pytest.raises(EventError) as exc:
        read(path, twin)
    check_error(exc, f"{path}{expected}")


def test_closing_a_tie_to_an_unknown_bus_is_named(tmp_path, twin):
    path = edit(copy_event(tmp_path, "ieee123-switching"), 'bus2 = "300"', 'bus2 = "3000"')
    with pytest.raises(EventError) as exc:
        read(path, twin)
    check_error(exc, "timeline entry 3 (switch)", "bus2: '3000' is not a bus of feeder ieee123")


def test_unit_less_column_is_refused(tmp_path):
    csv = tmp_path / "f.csv"
    csv.write_text("time_s,pcc_p_w,temperature\n0,1,20\n1,2,21\n")
    with pytest.raises(EventError, match=re.escape("column 'temperature' does not name its unit")):
        read_field(csv)
