"""The live view's server on its own: what the page gets from a recorder and the run's hooks."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flexbench.core import channels
from flexbench.lab.bench_config import load_bench
from flexbench.lab.clock import ScaledClock
from flexbench.lab.live import SEND_HZ, LiveView, panel_of
from flexbench.lab.recorder import Recorder

TEST = "testplans/ieee1547/test_limit_active_power.py::test_limit_active_power[66pct-run1]"
OTHER = "testplans/ieee1547/test_limit_active_power.py::test_limit_active_power[33pct-run1]"


@pytest.fixture
def live(tmp_path) -> Iterator[tuple[LiveView, Recorder]]:
    recorder = Recorder(tmp_path / "run", ScaledClock(1.0))
    view = LiveView("flexbench run testplans/ieee1547")
    view.show_bench(load_bench(None))
    view.watch(recorder)
    view.start()
    yield view, recorder
    view.close()
    recorder.close()


def get(view: LiveView, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(view.url + path.lstrip("/"), timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def state(view: LiveView, since: int = 0) -> dict[str, Any]:
    status, body = get(view, f"/state?since={since}")
    assert status == 200
    return json.loads(body)


def poll(view: LiveView, until: Callable[[dict[str, Any]], bool], timeout_s: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        s = state(view)
        if until(s):
            return s
        assert time.monotonic() < deadline, f"the live state never got there: {s}"
        time.sleep(0.05)


def test_page_is_served_on_loopback_at_a_port_of_its_own(live):
    view, _ = live
    assert view.url.startswith("http://127.0.0.1:") and not view.url.endswith(":0/")
    status, body = get(view, "/")
    assert status == 200 and b"<canvas" not in body  # canvases are made as channels arrive
    assert b"/state?since=" in body and b"src=" not in body and b"href=" not in body  # nothing from elsewhere
    assert get(view, "/state?since=x")[0] == 400
    assert get(view, "/nothing")[0] == 404


def test_the_page_follows_the_recorder_and_the_tests(live):
    view, recorder = live
    view.select([(TEST, ["LAP-RT", "LAP-SS"]), (OTHER, ["LAP-RT", "LAP-SS"])])
    s = state(view)
    assert s["bench"]["name"] == "virtual" and {i["role"] for i in s["bench"]["instruments"]} >= {"grid_simulator"}
    assert [(r["requirement_id"], r["verdict"], r["tests"]) for r in s["matrix"]] == [
        ("LAP-RT", "pending", 2),
        ("LAP-SS", "pending", 2),
    ]
    view.test_started(TEST)
    recorder.event("step", test=TEST, text="limit set to 66 % of rated power (run 1)")
    recorder.event("dut_limit", limit_w=6600.0)  # not a step: the page does not list it
    recorder.record(channels.LIMIT_W, 6600.0)
    recorder.record(channels.LIMIT_PCC_MAX_W, float("nan"))  # no import limit: a gap in the plot, not an error
    recorder.record("dut.modbus_errors", 1.0)  # a channel no plot shows
    s = poll(view, lambda s: {channels.LIMIT_W, channels.LIMIT_PCC_MAX_W} <= set(s["points"]))
    assert s["test"]["name"] == "test_limit_active_power[66pct-run1]"
    assert s["test"]["requirements"] == ["LAP-RT", "LAP-SS"]
    assert [text for _, text in s["steps"]] == ["limit set to 66 % of rated power (run 1)"]
    assert s["points"][channels.LIMIT_W][-1][1] == 6600.0 and s["points"][channels.LIMIT_PCC_MAX_W][-1][1] is None
    assert "dut.modbus_errors" not in s["points"]
    panels = {p["id"]: p["channels"] for p in s["panels"]}
    assert panels["dut"] == [channels.LIMIT_W] and panels["pcc"] == [channels.LIMIT_PCC_MAX_W]
    assert state(view, since=s["seq"])["points"] == {}  # only what is new after the page's last point

    view.test_ended(
        {
            "nodeid": TEST,
            "outcome": "failed",
            "requirements": [
                {"requirement_id": "LAP-RT", "verdict": "pass", "message": "reached in 4.1 s", "margin": 25.9},
                {"requirement_id": "LAP-SS", "verdict": "fail", "message": "peak 7400 W", "margin": -50.0},
            ],
        }
    )
    s = state(view)
    rows = {r["requirement_id"]: r for r in s["matrix"]}
    assert (rows["LAP-RT"]["verdict"], rows["LAP-RT"]["tests_done"], rows["LAP-RT"]["tests"]) == ("pass", 1, 2)
    assert (rows["LAP-SS"]["verdict"], rows["LAP-SS"]["note"]) == ("fail", "peak 7400 W")
    assert [t["outcome"] for t in s["tests"]] == ["failed", "pending"] and s["test"] is None
    view.finish("fail")
    assert state(view)["finished"] == "fail"


def test_samples_reach_the_page_decimated_with_the_newest_value_kept(live):
    view, recorder = live
    started = time.monotonic()
    for i in range(2000):
        recorder.record(channels.PCC_P_W, float(i))
    s = poll(view, lambda s: s["points"].get(channels.PCC_P_W, [[0, None]])[-1][1] == 1999.0)
    ticks = (time.monotonic() - started) * SEND_HZ + 1
    assert 1 <= len(s["points"][channels.PCC_P_W]) <= ticks


@pytest.mark.parametrize(
    "channel, panel",
    [
        ("pcc.p_w", "pcc"),
        ("limit.pcc_min_w", "pcc"),
        ("dut.p_w", "dut"),
        ("limit_w", "dut"),
        ("grid.v2_v", "voltage"),
        ("cond.voltage_v", "voltage"),
        ("pcc.f_hz", "frequency"),
        ("cosim.twin_f_hz", "frequency"),
        ("cosim.set_v2_v", "voltage"),
        ("cosim.twin_v48.1_v", "voltage"),
        ("cosim.p_measured_w", "dut"),
        ("pcc.q_var", None),
        ("cosim.twin_v48.1_pu", None),
    ],
)
def test_channels_go_to_their_plot(channel, panel):
    assert panel_of(channel) == panel


def test_a_test_nobody_announced_counts_in_the_matrix_by_its_checks(live):
    view, _ = live
    view.test_started("replay::abnormal-import.toml")
    assert state(view)["matrix"] == []
    view.test_ended(
        {
            "nodeid": "replay::abnormal-import.toml",
            "outcome": "passed",
            "requirements": [{"requirement_id": "REPLAY-RT", "verdict": "pass", "message": "lab 6.0 s"}],
        }
    )
    [row] = state(view)["matrix"]
    assert (row["requirement_id"], row["verdict"], row["tests_done"], row["tests"]) == ("REPLAY-RT", "pass", 1, 1)
