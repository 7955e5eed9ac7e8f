"""`flexbench replay` on the virtual PCS bench: each shipped event replays with an overlay and a score,
a DUT that ignores the utility scores clearly worse, bad event files are one-line errors naming file, line and
key before anything runs (exit 2)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flexbench_cli import flexbench

from flexbench.lab.replay.event import read_replay_event
from flexbench.lab.replay.score import score
from flexbench.twin.events import EventError

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "testplans" / "events"
TIME_SCALE = "20"


def replay(event: str, run_dir: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = flexbench("replay", str(EVENTS / f"{event}.toml"), "--time-scale", TIME_SCALE, "--out", str(run_dir), *extra)
    path = run_dir / "results.json"
    return proc, json.loads(path.read_text()) if path.exists() else {}


@pytest.fixture(scope="module")
def healthy_abnormal(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict, Path]:
    run_dir = tmp_path_factory.mktemp("replay") / "abnormal-import"
    proc, results = replay("abnormal-import", run_dir)
    return proc, results, run_dir


def check_healthy(proc: subprocess.CompletedProcess, results: dict, run_dir: Path) -> dict:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    score_ = results["replay"]["score"]
    assert score_["verdict"] == "pass"
    band = results["replay"]["pass_band"]
    assert score_["nrmse"] <= band["nrmse_max"]
    assert abs(score_["response_diff_s"]) <= band["response_time_tolerance_s"]
    assert {r["requirement_id"] for r in results["tests"][0]["requirements"]} == {"REPLAY-NRMSE", "REPLAY-RT"}
    html = (run_dir / "report.html").read_text()
    assert "data:image/png;base64," in html and "REPLAY-NRMSE" in html and "PASS" in html
    assert (run_dir / "overlay.png").stat().st_size > 10_000
    samples = pd.read_parquet(run_dir / "samples.parquet")
    channels = set(samples["channel"])
    assert {"pcc.p_w", "field.pcc_p_w", "twin.pcc_v_pu", "cond.pv_dc_w"} <= channels
    assert "match: PASS" in proc.stdout
    return score_


def test_abnormal_import_replays_and_matches(healthy_abnormal):
    proc, results, run_dir = healthy_abnormal
    score_ = check_healthy(proc, results, run_dir)
    # the field site answered in about 30 s; the lab's virtual PCS polls every 5 s and answers sooner
    assert 20.0 <= score_["field_response_s"] <= 32.0
    assert score_["lab_response_s"] < score_["field_response_s"]
    # the signal went over 2030.5 to the DUT, scaled by the event's ratio (25 kW x 0.08)
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    sent = next(e for e in events if e["kind"] == "operator_signal")
    assert sent["signal"] == "abnormal" and sent["import_limit_w"] == pytest.approx(2000.0)
    assert '"POST"' in (run_dir / "csip_requests.jsonl").read_text()  # the DUT posted its Responses


def test_switching_replay_sends_the_twins_new_envelope(tmp_path):
    run_dir = tmp_path / "switching"
    proc, results = replay("ieee123-switching", run_dir)
    check_healthy(proc, results, run_dir)
    rows = {r["entry"]: r for r in results["replay"]["timeline"]}
    before, after = rows[1]["envelope_sent_w"], rows[4]["envelope_sent_w"]
    assert after["nonfirm_export_w"] < 0.5 * before["nonfirm_export_w"]
    assert rows[4]["twin"]["switches"] and rows[4]["bench"]["voltage_v"] > rows[1]["bench"]["voltage_v"] + 2.0
    # the lab's export ended at the new limit (bench W), not at the site's uncurtailed export
    samples = pd.read_parquet(run_dir / "samples.parquet")
    pcc = samples[samples["channel"] == "pcc.p_w"]
    t_end = results["replay"]["t0_s"] + 170.0
    export_end_w = -pcc[pcc["t_s"] > t_end - 20]["value"].mean()
    assert export_end_w == pytest.approx(rows[4]["signal"]["export_limit_w"], abs=250.0)


def test_cloud_transient_replays_and_matches(tmp_path):
    run_dir = tmp_path / "cloud"
    proc, results = replay("pv-cloud-transient", run_dir, "--live")
    check_healthy(proc, results, run_dir)
    assert re.match(r"live view: http://127\.0\.0\.1:\d+/\n", proc.stdout)  # what --live serves: first line


def test_dut_ignoring_the_utility_scores_clearly_worse(tmp_path, healthy_abnormal):
    _, healthy, _ = healthy_abnormal
    proc, results = replay("abnormal-import", tmp_path / "ignores", "--dut-profile", "ignores-utility")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    score_ = results["replay"]["score"]
    assert score_["verdict"] == "fail" and "match: FAIL" in proc.stdout
    assert score_["nrmse"] > 2 * healthy["replay"]["score"]["nrmse"]
    assert score_["nrmse"] > results["replay"]["pass_band"]["nrmse_max"]
    assert score_["lab_response_s"] is None  # it never dropped its import
    verdicts = {r["requirement_id"]: r["verdict"] for r in results["tests"][0]["requirements"]}
    assert verdicts == {"REPLAY-NRMSE": "fail", "REPLAY-RT": "fail"}


def test_report_rebuilds_from_the_replay_folder(healthy_abnormal):
    _, _, run_dir = healthy_abnormal
    proc = flexbench("report", str(run_dir))
    assert proc.returncode == 0, proc.stderr
    rebuilt = (run_dir / "report-rebuilt.html").read_text()
    assert "replay::abnormal-import.toml" in rebuilt and "data:image/png;base64," in rebuilt


# -- scoring without a bench --------------------------------------------------------------------


def test_score_passes_the_field_itself_and_fails_a_lab_that_never_moves():
    event = read_replay_event(EVENTS / "abnormal-import.toml")
    t = event.event.field["time_s"].to_numpy(float)
    y = event.event.field["pcc_p_w"].to_numpy(float)
    same = score(event, t, y)
    assert same.verdict == "pass" and same.nrmse == pytest.approx(0.0) and same.response_diff_s == 0.0
    flat = score(event, t, np.full(len(t), y[0]))
    assert flat.verdict == "fail" and flat.lab_response_s is None and flat.nrmse > 0.5
    late = score(event, t + 45.0, y)  # the same response 45 s late: outside the 30 s band
    assert {r.requirement_id: r.verdict for r in late.results}["REPLAY-RT"] == "fail"


# -- bad event files ----------------------------------------------------------------------------


def bad_copy(tmp_path: Path, name: str, old: str, new: str, csv: bool = False) -> Path:
    for suffix in (".toml", ".csv"):
        shutil.copy(EVENTS / f"{name}{suffix}", tmp_path / f"{name}{suffix}")
    target = tmp_path / f"{name}{'.csv' if csv else '.toml'}"
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new, 1))
    return tmp_path / f"{name}.toml"


@pytest.mark.parametrize(
    "name, old, new, csv, expected",
    [
        (
            "ieee123-switching",
            'element = "Line.Sw3"',
            'element = "Line.Sw9"',
            False,
            "timeline entry 2 (switch): element 'Line.Sw9' is not a line or switch of feeder ieee123",
        ),
        (
            "abnormal-import",
            "t_s = 150.0",
            "t_s = 10.0",
            False,
            "timeline entry 2 (cancel): t_s = 10 comes before entry 1's t_s = 30 (time going backwards)",
        ),
        (
            "pv-cloud-transient",
            "time_s,pcc_p_w,pcc_v_pu",
            "time_s,pcc_v_pu,pcc_q_var",
            True,
            "[score] channel: missing column 'pcc_p_w'",
        ),
        # the lab's part: a typo, a wrong type, a missing key, each with its line
        ("abnormal-import", "nrmse_max = 0.4", "nrmse_mx = 0.4", False, ":44: [score] unknown key 'nrmse_mx'"),
        ("abnormal-import", "bench_ratio = 0.08", 'bench_ratio = "8 %"', False, ":22: [site] bench_ratio: "),
        ("abnormal-import", "rating_w = 150000.0", "", False, ":18: [site] missing key 'rating_w'"),
        # and the twin's
        ("abnormal-import", "ev_w = 55000.0", "ev_kw = 55.0", False, ":24: [site] unknown key 'ev_kw'"),
    ],
)
def test_bad_event_files_are_one_line_errors(tmp_path, name, old, new, csv, expected):
    path = bad_copy(tmp_path, name, old, new, csv)
    proc = flexbench("replay", str(path), "--time-scale", TIME_SCALE, "--out", str(tmp_path / "run"), timeout_s=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("flexbench replay: "), proc.stderr
    assert expected in lines[0] and name in lines[0]
    assert not (tmp_path / "run").exists()  # nothing started


@pytest.mark.parametrize(
    "old, new, expected",
    [
        # a typo: unknown key, the nearest known one suggested
        (
            "bench_ratio = 0.08",
            "bench_ration = 0.08",
            ":22: [site] unknown key 'bench_ration' (did you mean bench_ratio",
        ),
        ("trigger = 1", "triger = 1", ":43: [score] unknown key 'triger' (did you mean trigger?"),
        # a wrong type
        ("bench_ratio = 0.08", 'bench_ratio = "0.08"', ":22: [site] bench_ratio: input should be a valid number"),
        ("trigger = 1", "trigger = 1.5", ":43: [score] trigger: input should be a valid integer"),
        ("nrmse_max = 0.4", "nrmse_max = true", ":44: [score] nrmse_max: input should be a valid number"),
        ('bench = "lab/benches/virtual-pcs.toml"', "bench = 3", ":15: [event] bench: expected a bench file name"),
        # out of range
        ("bench_ratio = 0.08", "bench_ratio = -1.0", ":22: [site] bench_ratio: input should be greater than 0"),
        ("trigger = 1", "trigger = 7", ":43: [score] trigger: expected a timeline entry number 1..2, got 7"),
        # a missing key: the line of its table
        ("bench_ratio = 0.08", "", ":18: [site] missing key 'bench_ratio'"),
    ],
)
def test_the_labs_part_of_an_event_file_names_file_line_and_key(tmp_path, old, new, expected):
    path = bad_copy(tmp_path, "abnormal-import", old, new)
    with pytest.raises(EventError) as exc:
        read_replay_event(path)
    message = str(exc.value)
    assert "\n" not in message and message.startswith(f"{path}{expected}"), message


def test_the_score_settings_default_when_the_file_has_none(tmp_path):
    path = bad_copy(tmp_path, "abnormal-import", "[score]", "[ignored]")
    path.write_text(path.read_text().split("[ignored]")[0])
    event = read_replay_event(path)
    assert (event.score.channel, event.score.nrmse_max, event.score.response_window_s) == ("pcc_p_w", 0.2, 60.0)
    assert event.trigger_entry() is event.event.timeline[0]  # the first entry after the start
    assert event.mapping.firm_export_w == 0.0 and event.mapping.envelope(500000.0, -10.0).export_limit_w == 0.0


def test_a_replay_stopped_midway_leaves_the_bench_safe_and_keeps_its_samples(tmp_path):
    run_dir = tmp_path / "stopped"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flexbench.lab.cli",
            "replay",
            str(EVENTS / "abnormal-import.toml"),
            "--time-scale",
            TIME_SCALE,
            "--out",
            str(run_dir),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stdout:  # stop it once the abnormal signal has been sent
            if "abnormal_import(" in line:
                break
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    safe = {e["instrument"]: e["ok"] for e in events if e["kind"] == "safe_state"}
    assert safe.get("grid") is True and safe.get("pv") is True
    stopped = next(e for e in events if e["kind"] == "virtual_lab_stopped")
    assert stopped["grid_output_on"] is False
    samples = pd.read_parquet(run_dir / "samples.parquet")
    assert (samples["channel"] == "pcc.p_w").sum() > 50
