import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np

from flexbench.lab.clock import ScaledClock
from flexbench.lab.recorder import Recorder, consolidate, load_events, load_samples
from flexbench.lab.station import Channels


def test_samples_and_events_round_trip_through_parquet(tmp_path):
    rec = Recorder(tmp_path, ScaledClock(1.0), flush_interval_s=0.1)
    for i in range(100):
        rec.record("a.p_w", float(i), t_s=1000.0 + i)
    rec.record_many({"b.v_v": 240.0, "b.f_hz": 60.0}, t_s=1050.5)
    rec.event("command", limit_w=3300)
    t, v = rec.series("a.p_w", 1010.0, 1019.0)
    assert list(v) == [float(i) for i in range(10, 20)]
    rec.close()
    df = load_samples(tmp_path)
    assert (tmp_path / "samples.parquet").exists()
    assert not list((tmp_path / "samples").glob("part-*.parquet"))
    assert len(df) == 102 and set(df["channel"]) == {"a.p_w", "b.v_v", "b.f_hz"}
    assert np.all(np.diff(df["t_s"].to_numpy()) >= 0)
    assert load_events(tmp_path)[0]["limit_w"] == 3300


def test_polled_source_errors_become_events_not_crashes(tmp_path):
    clock = ScaledClock(100.0)
    rec = Recorder(tmp_path, clock, flush_interval_s=0.05)
    calls = {"n": 0}

    def flaky():
        calls["n"] += 1
        if 5 <= calls["n"] < 10:
            raise TimeoutError("analyzer did not answer")
        return {"x": float(calls["n"])}

    rec.add_source("analyzer", flaky, period_s=0.5)
    time.sleep(0.2)
    rec.close()
    kinds = [e["kind"] for e in load_events(tmp_path)]
    assert kinds.count("source_error") == 1 and "source_recovered" in kinds
    assert len(load_samples(tmp_path)) >= 10


CHILD = textwrap.dedent(
    """
    import sys, time
    from flexbench.lab.clock import ScaledClock
    from flexbench.lab.recorder import Recorder
    rec = Recorder(sys.argv[1], ScaledClock(1.0), flush_interval_s=1.0)
    i = 0
    print("ready", flush=True)
    while True:
        rec.record("counter", float(i))
        i += 1
        time.sleep(0.01)
    """
)


def test_the_recorder_polls_each_group_of_channels_a_component_names_at_its_own_period(tmp_path):
    clock = ScaledClock(10.0)
    rec = Recorder(tmp_path, clock, flush_interval_s=0.05)
    fast = Channels("meter", lambda: {"meter.p_w": 1200.0, "meter.v_v": 230.0}, 0.5)
    slow = Channels("grid", lambda: {"grid.f_hz": 50.0}, 5.0)
    rec.add_channels([fast, slow])
    clock.sleep(20.0)
    rec.close()
    df = load_samples(tmp_path)
    counts = df["channel"].value_counts()
    assert set(counts.index) == {"meter.p_w", "meter.v_v", "grid.f_hz"}
    assert counts["meter.p_w"] == counts["meter.v_v"] > 2 * counts["grid.f_hz"] > 0
    assert not [e for e in load_events(tmp_path) if e["kind"] == "source_error"]


def test_an_emulated_source_is_not_polled_faster_than_its_plant_changes(tmp_path):
    """At time scale 1000 a 0.1 s period asks for 10,000 polls per wall second: a source with min_wall_s
    0.02 (the virtual plant's step) gets at most one per 20 ms of wall time, one without gets many more."""
    clock = ScaledClock(1000.0)
    rec = Recorder(tmp_path, clock, flush_interval_s=0.05)
    rec.add_channels(
        [
            Channels("plant", lambda: {"plant.p_w": 1.0}, 0.1, min_wall_s=0.02),
            Channels("free", lambda: {"free.p_w": 1.0}, 0.1),
        ]
    )
    started = time.monotonic()
    time.sleep(0.5)
    rec.close()
    wall_s = time.monotonic() - started
    counts = load_samples(tmp_path)["channel"].value_counts()
    assert 5 <= counts["plant.p_w"] <= wall_s / 0.02 + 1
    assert counts["free.p_w"] > 3 * counts["plant.p_w"]


def test_a_frame_of_named_channels_holds_only_those(tmp_path):
    rec = Recorder(tmp_path, ScaledClock(1.0))
    for i in range(5):
        rec.record_many({"a.p_w": float(i), "b.p_w": -float(i), "c.v_v": 230.0}, t_s=100.0 + i)
    df = rec.frame(channels=["b.p_w", "a.p_w", "missing"])
    whole = rec.frame()
    rec.close()
    assert set(df["channel"]) == {"a.p_w", "b.p_w"} and len(df) == 10
    assert list(df[df["channel"] == "b.p_w"]["value"]) == [0.0, -1.0, -2.0, -3.0, -4.0]
    assert len(whole) == 15


def test_sigkill_keeps_every_sample_up_to_the_last_second(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(3.4)
        killed_at_s = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    df = load_samples(tmp_path)
    counters = df["value"].to_numpy()
    # nothing lost before the last flush: the counter is contiguous from 0
    assert counters[0] == 0 and np.array_equal(counters, np.arange(len(counters)))
    # and the last flush is less than a second (plus scheduling slack) before the kill
    assert df["t_s"].max() >= killed_at_s - 1.5
    # the folder can be consolidated afterwards
    consolidate(tmp_path)
    assert len(load_samples(tmp_path)) == len(counters)
