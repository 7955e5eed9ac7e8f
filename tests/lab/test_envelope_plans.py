"""Envelope plans: the twin's envelope for a feeder location, sent over 2030.5 and OPC-UA to the virtual PCS site.

The plans run as a user runs them (`flexbench run` in a subprocess) with a
shortened copy of the shipped profile (2 hours of envelope, shorter holds);
the healthy site passes every plan over both transports, and each fault
profile fails exactly the requirement IDs it breaks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from flexbench.lab.envelope_plan import EnvelopeParams, EnvelopePlan, IntervalWindow, follows_schedule, near_real_time
from flexbench.lab.errors import UserError
from flexbench.lab.evaluate import ERROR, FAIL, PASS
from flexbench.lab.plan.params import validate_table
from flexbench.lab.profile import Profile

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "testplans" / "profiles" / "envelopes.toml"
PLANS = "testplans/envelopes"
BENCH = "lab/benches/virtual-pcs.toml"
ALL = {"OE-FOLLOW", "OE-NRT", "ABN-IMP", "CSIP-LOSS", "OPC-LOSS"}
SHORT = {
    "horizon_h": 2,
    "precondition_s": 10.0,
    "loss_hold_s": 10.0,
    "abnormal_duration_s": 45.0,
    "nrt_load_scales": [1.1, 1.3],
    "loss_cached_intervals": 1,
}


def profile_file(tmp_path: Path, name: str = "envelopes-test", **overrides) -> Path:
    """The shipped profile with some `key = value` lines replaced (each key must be there once)."""
    text = SHIPPED.read_text(encoding="utf-8")
    for key, value in overrides.items():
        text, count = re.subn(rf"(?m)^{re.escape(key)} = [^#\n]*", f"{key} = {json.dumps(value)} ", text)
        assert count == 1, key
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run(plans, tmp_path: Path, dut_profile: str, *extra: str, **overrides):
    profile = profile_file(tmp_path, f"profile-{dut_profile}", **{**SHORT, **overrides})
    return plans.run(
        PLANS, BENCH, 20, tmp_path / dut_profile, "--profile", str(profile), "--dut-profile", dut_profile, *extra
    )


# -- on the virtual PCS bench, through the wire protocols -----------------------------------


def test_healthy_site_follows_the_twins_envelopes_over_both_transports(tmp_path, plans):
    proc, results = run(plans, tmp_path, "healthy")
    assert proc.returncode == 0, plans.why(results) + proc.stdout[-2000:] + proc.stderr[-2000:]
    assert {row["requirement_id"] for row in results["matrix"]} == ALL
    ids = {t["nodeid"].rsplit("[", 1)[-1].rstrip("]") for t in results["tests"]}
    assert ids == {"csip", "opcua"} and len(results["tests"]) == 8
    envelopes = sorted((tmp_path / "healthy" / "envelopes").glob("*.json"))  # computed once, kept with the run
    assert [p.name.split("-")[0] for p in envelopes].count("variable") == 1
    assert [p.name.split("-")[0] for p in envelopes].count("dynamic") == 3  # base + two load steps
    events = [json.loads(line) for line in (tmp_path / "healthy" / "events.jsonl").read_text().splitlines()]
    env = next(e for e in events if e["kind"] == "envelope")
    assert env["feeder"] == "ieee123" and env["site_id"] == "s47" and env["intervals"] == 2
    assert 0 < env["firm_export_w"] < 8000.0 and 0 < env["import_scale"] < 1.0  # hundreds of kW mapped to the site
    follow = next(t for t in results["tests"] if "variable" in t["nodeid"])
    limits = [i["limit_w"] for r in follow["requirements"] for i in r["details"]["intervals"]]
    assert max(limits) == pytest.approx(8100.0)  # the largest limit maps to the site's 8 kW (+ accuracy)
    for r in follow["requirements"]:  # Measured: the PCC power at the worst interval, under its limit by Margin
        peaks = [i["peak_w"] for i in r["details"]["intervals"]]
        assert r["unit"] == "W" and r["measured"] in peaks and r["measured"] + r["margin"] == pytest.approx(r["limit"])
    assert "interval 2/2" in proc.stdout  # the console says where the long step is


def test_a_site_ignoring_the_utility_fails_every_plan(tmp_path, plans):
    proc, results = run(plans, tmp_path, "ignores-utility")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert plans.failing(results) == ALL, plans.why(results)
    assert all(t["outcome"] == "failed" for t in results["tests"]) and len(results["tests"]) == 8
    loss = [r for t in results["tests"] if "loss" in t["nodeid"] for r in t["requirements"]]
    assert {r["verdict"] for r in loss if "kept" in r["criterion"]} == {PASS}  # it exports all it can: never drops


def test_a_slow_site_misses_the_typical_15_minutes_but_not_the_hour(tmp_path, plans):
    proc, results = run(plans, tmp_path, "slow", "-k", "dynamic")
    assert proc.returncode == 1
    assert plans.failing(results) == {"OE-NRT"}, plans.why(results)
    for test in results["tests"]:
        typical, every = test["requirements"]
        assert typical["verdict"] == FAIL and every["verdict"] == PASS, plans.why(results)
        assert 900.0 < typical["measured"] < 3600.0  # envelope seconds


def test_a_site_dropping_its_cached_schedule_fails_csip_loss(tmp_path, plans):
    proc, results = run(plans, tmp_path, "drops-schedule", "-k", "loss and csip")
    assert proc.returncode == 1
    assert plans.failing(results) == {"CSIP-LOSS"}, plans.why(results)
    failed = [r["criterion"] for t in results["tests"] for r in t["requirements"] if r["verdict"] != PASS]
    assert failed and all("kept" in c for c in failed), plans.why(results)  # it still obeys every limit


def test_a_site_ignoring_the_heartbeat_fails_opc_loss(tmp_path, plans):
    proc, results = run(plans, tmp_path, "ignores-heartbeat", "-k", "loss and opcua")
    assert proc.returncode == 1
    assert plans.failing(results) == {"OPC-LOSS"}, plans.why(results)


def test_single_phase_site_of_ieee8500_as_the_location(tmp_path, plans):
    """The option the shipped profile documents: a single-phase customer, its updates tightening export."""
    proc, results = run(
        plans,
        tmp_path,
        "healthy",
        "-k",
        "csip and (variable or dynamic)",
        feeder="ieee8500",
        site_id="138236b0",
        nrt_stress="export",
        nrt_load_scales=[1.2, 1.3],
    )
    assert proc.returncode == 0, plans.why(results) + proc.stdout[-2000:] + proc.stderr[-2000:]
    assert {row["requirement_id"] for row in results["matrix"]} == {"OE-FOLLOW", "OE-NRT"}
    events = [json.loads(line) for line in (tmp_path / "healthy" / "events.jsonl").read_text().splitlines()]
    env = next(e for e in events if e["kind"] == "envelope")
    assert env["feeder"] == "ieee8500" and env["site_id"] == "138236b0"


# -- the pieces, without a bench --------------------------------------------------------------


def _plan(tmp_path: Path, **overrides) -> EnvelopePlan:
    profile = Profile.load(profile_file(tmp_path, **overrides))
    params = validate_table(profile, "plans", "envelopes", EnvelopeParams)
    return EnvelopePlan(params, profile, tmp_path / "run")


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("resolution", "5min", r":\d+: plans.envelopes.resolution: must be one of '15min' or '1h', got '5min'"),
        (
            "stress_cycle",
            ["sideways"],
            r":\d+: plans.envelopes.stress_cycle: must be one of 'import' or 'export', got 'sideways'",
        ),
        ("bench_s_per_envelope_h", 30.5, r":\d+: plans.envelopes.bench_s_per_envelope_h: .* whole seconds"),
        ("envelope_start", "2026-07-01T00:00:00", r":\d+: plans.envelopes.envelope_start: .* needs its zone"),
        ("horizon_h", "72 h", r":\d+: plans.envelopes.horizon_h: expected a number, got a string '72 h'"),
        ("injection_model", "zip", r":\d+: plans.envelopes.injection_model: must be one of 'load-pf' or 'unity'"),
        ("base_violation_tolerance_pu", -0.1, r":\d+: plans.envelopes.base_violation_tolerance_pu: "),
        ("vmax_ll_pu", 0.5, r":\d+: plans.envelopes.vmax_ll_pu: must be above vmin_ll_pu \(0.95\), got 0.5"),
    ],
)
def test_bad_plan_settings_are_one_line_errors_naming_the_key(tmp_path, key, value, expected):
    with pytest.raises(UserError, match=r"envelopes-test.toml" + expected):
        _plan(tmp_path, **{key: value})


def test_a_location_the_twin_cannot_use_names_the_key(tmp_path):
    with pytest.raises(UserError, match=r"envelopes-test.toml:\d+: plans.envelopes.site_id: .*s999"):
        _plan(tmp_path, site_id="s999").variable()
    with pytest.raises(UserError, match=r"envelopes-test.toml:\d+: plans.envelopes.feeder: "):
        _plan(tmp_path, feeder="ieee9999").variable()


def test_compression_gives_whole_bench_seconds_per_interval(tmp_path):
    plan = _plan(tmp_path, bench_s_per_envelope_h=60.0)
    assert plan.bench_s(900.0) == 15.0 and plan.envelope_s(15.0) == 900.0 and plan.interval_bench_s == 60


def test_envelope_is_mapped_to_the_site_and_cached(tmp_path):
    plan = _plan(tmp_path, horizon_h=6)
    env = plan.variable()
    assert len(env.intervals) == 6
    assert max(i.import_limit_w for i in env.intervals) == 8000.0
    assert max(i.export_limit_w for i in env.intervals) == 8000.0
    for i, twin_w in zip(env.intervals, env.twin_import_w):  # one ratio per direction, whole watts
        assert i.import_limit_w == pytest.approx(max(twin_w * env.import_scale, 0.0), abs=0.5)
    assert env.firm.export_limit_w == min(i.export_limit_w for i in env.intervals)
    assert env.envelope.site_id == "s47" and env.intervals[1].start_s - env.intervals[0].start_s == 3600.0
    schedule = plan.on_bench(env.intervals[2:4], 1000)
    assert [(b.start_s, b.duration_s) for b in schedule] == [(1000, 60), (1060, 60)]
    mtime = env.file.stat().st_mtime_ns
    assert plan.variable().intervals == env.intervals and env.file.stat().st_mtime_ns == mtime  # read back


def test_follows_schedule_judges_each_window():
    t = np.arange(0.0, 100.0, 0.5)
    y = np.where(t < 50, 900.0, 1500.0)
    windows = [IntervalWindow(10, 48, 1000.0, "interval 0"), IntervalWindow(60, 98, 1400.0, "interval 1")]
    result = follows_schedule("OE-FOLLOW", t, y, windows, side="export")
    assert result.verdict == FAIL and "1 of 2" in result.message
    # Measured is the PCC power at the worst window, Limit that window's limit, Margin their difference
    assert (result.measured, result.limit, result.margin) == pytest.approx((1500.0, 1400.0, -100.0))
    windows[1] = IntervalWindow(60, 98, 1600.0, "interval 1")
    result = follows_schedule("OE-FOLLOW", t, y, windows, side="export")
    assert result.verdict == PASS and (result.measured, result.limit, result.margin) == pytest.approx(
        (900.0, 1000.0, 100.0)
    )  # closest: interval 0
    assert follows_schedule("OE-FOLLOW", t, y, [IntervalWindow(200, 210, 1.0, "late")], side="export").verdict == ERROR


def test_near_real_time_typical_and_outer_bound():
    typical, every = near_real_time("OE-NRT", [300.0, 1200.0, 1300.0], typical_s=900, max_s=3600, bench_s_per_h=60)
    assert (typical.verdict, every.verdict) == (FAIL, PASS) and typical.measured == 1200.0
    typical, every = near_real_time("OE-NRT", [300.0, None, 400.0], typical_s=900, max_s=3600, bench_s_per_h=60)
    assert (typical.verdict, every.verdict) == (PASS, FAIL) and every.measured is None
