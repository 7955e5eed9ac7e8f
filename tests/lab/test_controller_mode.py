"""Controller mode end to end: `flexbench run` on the controller bench, the reference controller as DUT.

The bench starts the reference controller as its own process (Modbus to the
emulated site, 2030.5 to the bench's server over mutual TLS, its local API for
the bench's `pcs` instrument). The healthy controller passes the CSIP, UL 3141,
envelope and controller plans (the site's battery asking for its rating on its
own request); each fault variant fails the requirement it breaks; each
site-side fault injection is exercised; a crash leaves its evidence.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from flexbench_cli import flexbench

ROOT = Path(__file__).resolve().parents[2]
BENCH = "lab/benches/virtual-controller.toml"
# The reference controller's control period is 1 bench second with some twenty Modbus requests in it;
# a healthy run must leave it that period (on two cores, time scale 10), a faulty one only has to fail.
HEALTHY_TIME_SCALE = 10
CONTROLLER_PLANS = {"CTL-METER", "CTL-INV", "CTL-IGN", "CTL-TIME", "CTL-COMM", "CTL-IMP", "CTL-TELEM"}


def _run(
    plan_paths: list[str], time_scale: float, run_dir: Path, *extra: str
) -> tuple[subprocess.CompletedProcess, dict]:
    """`flexbench run` with several plans at once, as a user types it."""
    proc = flexbench(
        "run",
        *plan_paths,
        "--bench",
        BENCH,
        "--time-scale",
        str(time_scale),
        "--out",
        str(run_dir),
        *extra,
        timeout_s=300,
    )
    path = run_dir / "results.json"
    return proc, json.loads(path.read_text()) if path.exists() else {}


def _why(results: dict) -> str:
    return "\n".join(
        f"{r['requirement_id']} {t['nodeid']}: {r['message']}"
        for t in results.get("tests", [])
        for r in t["requirements"]
        if r["verdict"] != "pass"
    )


def _events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def short_profile(tmp_path_factory) -> Path:
    """The controller profile with shorter settling and observation, for the fault runs."""
    data = (ROOT / "testplans/profiles/controller.toml").read_text()
    data = data.replace("precondition_s = 20.0", "precondition_s = 12.0").replace("hold_s = 40.0", "hold_s = 30.0")
    path = tmp_path_factory.mktemp("profile") / "controller-short.toml"
    path.write_text(data)
    assert tomllib.loads(data)["plans"]["controller"]["hold_s"] == 30.0
    return path


def test_reference_controller_passes_the_controller_plans_and_every_site_fault_is_injected(tmp_path, plans):
    run_dir = tmp_path / "healthy-controller"
    proc, results = plans.run("testplans/controller", BENCH, 10, run_dir)
    assert proc.returncode == 0, plans.why(results) + proc.stdout[-2000:] + proc.stderr[-2000:]
    assert {row["requirement_id"] for row in results["matrix"]} == CONTROLLER_PLANS
    faults = [e["action"] for e in _events(run_dir) if e["kind"] == "site_fault"]
    assert {"meter-silent", "inverter-silent:pv2", "inverter-ignores-writes:pv1", "inverter-strict-writes:pv2"} <= set(
        faults
    )
    events = _events(run_dir)
    assert any(e["kind"] == "controller_started" for e in events)
    assert any(e["kind"] == "controller_stopped" for e in events) and not any(
        e["kind"] == "controller_exit" for e in events
    )
    site_file = tomllib.loads((run_dir / "controller-site.toml").read_text())
    assert {i["family"] for i in site_file["inverters"]} == {"sunspec-7xx", "sunspec-legacy"}
    assert site_file["utility"]["url"].startswith("https://127.0.0.1:")
    log = (run_dir / "controller.log").read_text()
    assert "Time skewed" in log and "fail-safe" in log  # the controller flagged what it saw
    writes = [json.loads(line) for line in (run_dir / "wire-log.jsonl").read_text().splitlines()]
    assert any("123.WMaxLimPct" in w.get("points", {}) for w in writes)  # the legacy family was written too
    assert any("704.WSet" in w.get("points", {}) for w in writes)


def test_reference_controller_passes_the_csip_ul3141_and_envelope_plans(tmp_path, plans):
    run_dir = tmp_path / "healthy-plans"
    proc, results = _run(
        [
            "testplans/csip/test_site_limits.py",
            "testplans/csip/test_loss_of_comms.py",
            "testplans/ul3141/test_limit_change.py",
            "testplans/ul3141/test_modes.py",
            "testplans/ul3141/test_sensor_loss.py",
            "testplans/envelopes/test_loss_of_comms.py",
        ],
        HEALTHY_TIME_SCALE,
        run_dir,
    )
    assert proc.returncode == 0, plans.why(results) + proc.stdout[-2000:] + proc.stderr[-2000:]
    assert {row["requirement_id"] for row in results["matrix"]} == {
        "CSIP-GEN-01",
        "CSIP-LOA-01",
        "CSIP-RSP",
        "CSIP-LOSS",
        "PCS-CHG",
        "PCS-MODE",
        "CTL-TELEM",
    }
    skipped = {t["nodeid"].split("::")[-1]: t["message"] for t in results["tests"] if t["outcome"] == "skipped"}
    assert "test_import_limit" not in skipped  # the battery's own request stands in for the EV
    assert "test_mode_forbids_its_direction[export-only]" not in skipped  # the battery's own request charges
    assert "CTL-METER" in skipped["test_sensor_loss_leads_to_fail_safe"]


UL3141_LIMITING = [
    "testplans/ul3141/test_export_limiting.py",
    "testplans/ul3141/test_import_limiting.py",
    "testplans/ul3141/test_current_limiting.py",
]


def _battery_writes(run_dir: Path) -> dict[str, list]:
    """Every value the controller wrote into the site's battery, by point."""
    points: dict[str, list] = {}
    for line in (run_dir / "wire-log.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["device"] == "battery":
            for point, value in record.get("points", {}).items():
                points.setdefault(point, []).append(value)
    return points


def test_reference_controller_holds_ul3141_export_and_import_against_its_declaration_and_the_battery(tmp_path):
    """PCS-EXP and PCS-IMP on the controller site: the battery asks for its rating on its own (the bench's
    `battery` instrument), the controller caps PV then the battery's discharge, caps its charging then makes
    it discharge; judged against the reference controller's declaration, which the bench names."""
    run_dir = tmp_path / "ul3141"
    proc, results = _run(UL3141_LIMITING, 10, run_dir)
    assert proc.returncode == 0, _why(results) + proc.stdout[-2000:] + proc.stderr[-2000:]
    assert {row["requirement_id"] for row in results["matrix"]} == {"PCS-EXP", "PCS-IMP", "CTL-TELEM"}
    skipped = {t["nodeid"].split("::")[-1]: t["message"] for t in results["tests"] if t["outcome"] == "skipped"}
    assert set(skipped) == {"test_current_limiting"} and "not applicable" in skipped["test_current_limiting"]
    declared = tomllib.loads((run_dir / "declaration.toml").read_text())
    assert declared["device"]["model"] == "Reference controller" and declared["ratings"]["ev_rated_power_w"] == 0
    conditions = [e for e in _events(run_dir) if e["kind"] == "conditions"]
    assert {5000.0, -5000.0} <= {e["battery_w"] for e in conditions} and not any(e["ev_w"] for e in conditions)
    writes = _battery_writes(run_dir)
    assert min(writes["704.WMaxLimPct"]) < 80.0  # export: its discharge capped well below its own request
    assert min(writes["702.WChaRteMax"]) == 0.0  # import: its charging capped ...
    assert max(writes["704.WSet"]) > 0.0  # ... then made to discharge


def test_a_slow_controller_fails_ul3141_export_and_import(tmp_path, plans):
    proc, results = _run(UL3141_LIMITING[:2], 10, tmp_path / "slow", "--dut-profile", "slow")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert plans.failing(results) == {"PCS-EXP", "PCS-IMP"}, plans.why(results)
    failed = {r["criterion"] for t in results["tests"] for r in t["requirements"] if r["verdict"] == "fail"}
    assert len(failed) == 4  # late (response time) and not held at steady state, on each side


ENVELOPES_SHORT = {
    "horizon_h": 2,
    "precondition_s": 10.0,
    "loss_hold_s": 10.0,
    "abnormal_duration_s": 45.0,
    "nrt_load_scales": [1.1, 1.3],
    "loss_cached_intervals": 1,
}
ENVELOPE_PLANS = {"OE-FOLLOW", "OE-NRT", "ABN-IMP", "CSIP-LOSS"}


@pytest.fixture(scope="module")
def envelopes_short(tmp_path_factory) -> Path:
    """The shipped envelope profile (its controller-bench conditions included) with 2 hours of envelope."""
    text = (ROOT / "testplans/profiles/envelopes.toml").read_text()
    for key, value in ENVELOPES_SHORT.items():
        text, count = re.subn(rf"(?m)^{re.escape(key)} = [^#\n]*", f"{key} = {json.dumps(value)} ", text)
        assert count == 1, key
    assert tomllib.loads(text)["benches"]["virtual-controller"]["plans"]["envelopes"]["import_stress_ev_w"] == 0
    path = tmp_path_factory.mktemp("profile") / "envelopes-short.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("fault, broken", [("healthy", set()), ("ignores-limit", ENVELOPE_PLANS)])
def test_envelope_plans_in_controller_mode(tmp_path, plans, envelopes_short, fault, broken):
    """OE-FOLLOW (export and import intervals), OE-NRT, ABN-IMP and loss of comms over 2030.5: the import
    stress is the battery charging on its own request, held by the controller; one ignoring limits fails all."""
    run_dir = tmp_path / fault
    time_scale = 20 if broken else HEALTHY_TIME_SCALE
    proc, results = plans.run(
        "testplans/envelopes", BENCH, time_scale, run_dir, "--profile", str(envelopes_short), "--dut-profile", fault
    )
    assert proc.returncode == (1 if broken else 0), plans.why(results) + proc.stdout[-2000:] + proc.stderr[-2000:]
    assert {row["requirement_id"] for row in results["matrix"]} == ENVELOPE_PLANS | {"CTL-TELEM"}
    assert plans.failing(results) == broken, plans.why(results)
    assert not any(t["outcome"] == "skipped" for t in results["tests"])
    follow = next(t for t in results["tests"] if "variable" in t["nodeid"])
    sides = [r["criterion"].split()[1] for r in follow["requirements"] if r["requirement_id"] == "OE-FOLLOW"]
    assert sorted(sides) == ["export", "import"], sides  # both stress sides were judged
    conditions = [e for e in _events(run_dir) if e["kind"] == "conditions"]
    assert -5000.0 in {e["battery_w"] for e in conditions} and not any(e["ev_w"] for e in conditions)


@pytest.mark.parametrize(
    "fault, plan, select, broken",
    [
        ("slow", "testplans/csip/test_site_limits.py", "export", {"CSIP-GEN-01"}),
        ("ignores-limit", "testplans/ul3141/test_limit_change.py", "", {"PCS-CHG"}),
        ("ignores-limit", "testplans/controller", "import", {"CTL-IMP"}),
        # CTL-TELEM too when one of its 5 s telemetry posts lands over 10 s into the meter's silence (see below)
        ("no-failsafe", "testplans/controller", "meter", {"CTL-METER"}),
        # halted, it keeps mirroring its last reading, stamped when it was read: old, never false
        ("halts-on-silent", "testplans/controller", "silent_inverter", {"CTL-INV"}),
        ("trusts-inverters", "testplans/controller", "ignoring", {"CTL-IGN"}),
        ("trusts-time", "testplans/controller", "skewed", {"CTL-TIME"}),
        ("ignores-comm-loss", "testplans/controller", "unreachable", {"CTL-COMM"}),
        ("bad-telemetry", "testplans/controller", "ignoring", {"CTL-TELEM"}),
    ],
)
def test_each_fault_variant_fails_the_requirement_it_breaks(
    tmp_path, plans, short_profile, fault, plan, select, broken
):
    extra = ["--dut-profile", fault] + (["-k", select] if select else [])
    if plan == "testplans/controller":
        extra += ["--profile", str(short_profile)]
    proc, results = plans.run(plan, BENCH, 10 if plan == "testplans/controller" else 20, tmp_path / fault, *extra)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    failing = plans.failing(results)
    if fault == "no-failsafe" and "CTL-TELEM" in failing:
        # Without its meter the controller mirrors its last reading as current. Whether one of its posts lands
        # in the silence beyond the tolerance (CTL-TELEM fails: stale) or none does on a busy host (nothing
        # stale to judge) is the host's timing, not the fault; the stale rule itself is tested below.
        telemetry = [r for t in results["tests"] for r in t["requirements"] if r["requirement_id"] == "CTL-TELEM"]
        assert all("stale" in r["message"] for r in telemetry if r["verdict"] != "pass"), plans.why(results)
        failing -= {"CTL-TELEM"}
    assert failing == broken, plans.why(results)


def test_a_strict_inverter_refuses_model_123_from_its_header_and_the_report_shows_it_beside_the_verdict(
    tmp_path, plans, short_profile
):
    """The legacy inverter as a strict device (site fault inverter-strict-writes): a controller that writes model
    123 only whole from its header (rigid-writes) is refused, fails CTL-INV, and each refused write is a
    finding beside that verdict; the same block was accepted, header ignored, before the fault."""
    run_dir = tmp_path / "strict"
    extra = ("--dut-profile", "rigid-writes", "-k", "strict", "--profile", str(short_profile))
    proc, results = plans.run("testplans/controller", BENCH, 10, run_dir, *extra)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert plans.failing(results) == {"CTL-INV"}, plans.why(results)  # its readings, stamped when read, still agree
    (test,) = results["tests"]
    refused = [f for f in test["findings"] if "refused (exception 2)" in f]
    assert refused and all(f.startswith("pv2: write to registers") and "(model 123)" in f for f in refused)
    assert "strict device: the write covers model 123 header (ID, L)" in refused[0]
    report = (run_dir / "report.html").read_text()
    row = report[report.index("<td>CTL-INV</td>") :]
    assert html.escape(f"finding: {refused[0]}") in row[: row.index("</tr>")]  # in the verdict's own row
    from flexbench.lab.report import build_report

    assert html.escape(f"finding: {refused[0]}") in build_report(run_dir).read_text()  # and under the test's checks
    writes = [json.loads(line) for line in (run_dir / "wire-log.jsonl").read_text().splitlines()]
    whole = [w for w in writes if w["device"] == "pv2" and w["op"] == "write" and w["count"] == 26]
    first_refused_s = min(w["t_s"] for w in whole if w["exception"] == 2)
    # the same block, header included, was taken before the fault, whenever the controller's rewrite period put it
    assert any(w["exception"] is None and w["t_s"] < first_refused_s for w in whole)


def test_a_controller_that_crashes_mid_plan_leaves_its_log_samples_and_a_finding(tmp_path, plans):
    run_dir = tmp_path / "crash"
    proc, results = _run(
        ["testplans/ul3141/test_limit_change.py", "testplans/ul3141/test_modes.py"],
        20,
        run_dir,
        "--dut-profile",
        "crash",
    )
    assert proc.returncode != 0, proc.stdout[-3000:] + proc.stderr[-3000:]  # the run is cut short, like an abort
    crash = [r for t in results["tests"] for r in t["requirements"] if r["requirement_id"] == "CTL-ALIVE"]
    assert len(crash) == 1 and crash[0]["verdict"] == "fail" and "crashed" in crash[0]["message"]
    assert "fault variant 'crash'" in crash[0]["message"]  # the log's last lines are in the finding
    assert "crashed" in results["summary"]["aborted"] and results["summary"]["not_run"]  # the run stopped there
    log = (run_dir / "controller.log").read_text()
    assert "Traceback" in log and "RuntimeError" in log
    exit_event = next(e for e in _events(run_dir) if e["kind"] == "controller_exit")
    import pandas as pd

    samples = pd.read_parquet(run_dir / "samples.parquet")
    pcc = samples[samples.channel == "pcc.p_w"]
    assert pcc.t_s.max() >= exit_event["t_s"] - 1.0  # samples up to the crash are kept


def test_a_controller_brought_back_by_a_wrapper_is_recorded_as_restarted(tmp_path):
    """The supervised command is a wrapper that restarts the controller: the run goes on, the restart is a finding
    (two plans, so that the restart, wherever the crash lands, is back before the run ends)."""
    text = (ROOT / BENCH).read_text()
    wrapper = (
        'command = ["/bin/sh", "-c", "while true; do {python} -m flexbench.lab.virtual.reference_controller '
        '{site_file} --fault {dut_profile}; sleep 0.2; done"]'
    )
    bench = tmp_path / "bench.toml"
    bench.write_text(text.replace(next(line for line in text.splitlines() if line.startswith("command = ")), wrapper))
    run_dir = tmp_path / "restart"
    proc = flexbench(
        "run",
        "testplans/ul3141/test_limit_change.py",
        "testplans/ul3141/test_modes.py",
        "--bench",
        str(bench),
        "--time-scale",
        "20",
        "--out",
        str(run_dir),
        "--dut-profile",
        "crash",
        timeout_s=300,
    )
    results = json.loads((run_dir / "results.json").read_text())
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    alive = [r for t in results["tests"] for r in t["requirements"] if r["requirement_id"] == "CTL-ALIVE"]
    assert alive and all(r["verdict"] == "fail" for r in alive) and "restarted" in alive[0]["message"]
    assert "aborted" not in results["summary"]  # the controller came back: the run went on
    kinds = [e["kind"] for e in _events(run_dir)]
    assert "controller_api_lost" in kinds and "controller_restart" in kinds and "controller_exit" not in kinds
    assert (run_dir / "controller.log").read_text().count("reference controller (crash) up") >= 2


def test_a_legacy_battery_is_commanded_through_model_124(tmp_path):
    """The same import limit with the battery speaking the legacy models: the controller writes 124 rates."""
    text = (ROOT / BENCH).read_text()
    battery = '[virtual.site_devices.battery]\nkind = "battery"\nfamily = "sunspec-7xx"'
    assert battery in text
    bench = tmp_path / "bench.toml"
    bench.write_text(text.replace(battery, battery.replace("sunspec-7xx", "sunspec-legacy")))
    run_dir = tmp_path / "legacy-battery"
    proc = flexbench(
        "run",
        "testplans/controller",
        "-k",
        "import",
        "--bench",
        str(bench),
        "--time-scale",
        "10",
        "--out",
        str(run_dir),
        timeout_s=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    writes = [json.loads(line) for line in (run_dir / "wire-log.jsonl").read_text().splitlines()]
    rates = [w["points"]["124.OutWRte"] for w in writes if "124.OutWRte" in w.get("points", {})]
    assert rates and max(rates) > 10.0  # discharging to hold the import limit


class _Recorder:
    """The recorder's series, from lists: the plant's PCC power and the meter's silence."""

    def __init__(self, channels: dict[str, list[tuple[float, float]]]) -> None:
        self.channels = channels

    def series(self, channel: str, start_s: float, end_s: float):
        import numpy as np

        points = [(t, v) for t, v in self.channels.get(channel, []) if start_s <= t <= end_s]
        return np.array([t for t, _ in points], float), np.array([v for _, v in points], float)


class _Bench:
    """A controller bench whose 2030.5 server holds these mirrored readings."""

    def __init__(self, readings: list[tuple[int, float]], **reading_type: Any) -> None:
        from types import SimpleNamespace

        from flexbench.signals.csip.record_types import TelemetryRecord

        site = {"description": "Site active power, import +", "role_flags": "03", "uom": 38, "kind": 37}
        mirrored = {"edev_id": 1, "mup_mrid": "AB", "mmr_mrid": "CD", "flow_direction": None, "duration_s": None}
        rows = [
            TelemetryRecord(
                **{**mirrored, **site, "phase": 0, **reading_type},
                time_s=t,
                value=int(w),
                multiplier=0,
                scaled_value=w,
                received_s=t,
            )
            for t, w in readings
        ]
        self.config = SimpleNamespace(controller=SimpleNamespace(csip_device="ctl", telemetry_tolerance_w=300.0))
        self.csip = SimpleNamespace(
            lfdis={"ctl": "LFDI"},
            headend=SimpleNamespace(telemetry=lambda lfdi, since: [r for r in rows if r.time_s >= since]),
        )


def test_telemetry_mirrored_while_the_meter_is_silent_is_stale_whatever_its_value():
    """CTL-TELEM: a reading stamped over 10 s into the meter's silence fails even when it equals the plant's power;
    one within the first 10 s (a reading taken just before) and those after the meter is back are judged by value."""
    from flexbench.lab.controller.findings import METER_SILENT_CHANNEL, TRUTH_CHANNEL, telemetry

    truth = [(float(t), -3000.0) for t in range(0, 101)]
    silent = {METER_SILENT_CHANNEL: [(40.0, 1.0), (70.0, 0.0)], TRUTH_CHANNEL: truth}
    fresh = [(30, -3000.0), (45, -3000.0), (75, -3000.0), (90, -3000.0)]
    ok = telemetry(_Bench(fresh), _Recorder(silent), 0.0, 100.0)
    assert ok is not None and ok.verdict == "pass"
    stale = telemetry(_Bench(fresh + [(55, -3000.0), (65, -3000.0)]), _Recorder(silent), 0.0, 100.0)
    assert stale is not None and stale.verdict == "fail" and stale.measured == 2.0 and "stale" in stale.message
    no_fault = telemetry(_Bench(fresh + [(55, -3000.0)]), _Recorder({TRUTH_CHANNEL: truth}), 0.0, 100.0)
    assert no_fault is not None and no_fault.verdict == "pass"
    wrong = telemetry(_Bench([(30, 3000.0)]), _Recorder({TRUTH_CHANNEL: truth}), 0.0, 100.0)
    assert wrong is not None and wrong.verdict == "fail" and wrong.measured == 6000.0


def test_telemetry_is_matched_by_its_meaning_and_not_applicable_when_nothing_compares():
    """CTL-TELEM takes the site's active power by roleFlags, uom, kind and phase, whatever the description; export
    positive when the flow direction is reverse; readings of nothing comparable give NOT APPLICABLE with the reason."""
    from flexbench.lab.controller.findings import TRUTH_CHANNEL, telemetry
    from flexbench.lab.results import matrix

    truth = _Recorder({TRUTH_CHANNEL: [(float(t), -3000.0) for t in range(0, 101)]})
    net = telemetry(_Bench([(30, -3000.0)], description="Site Avg Real Power (W) - Net"), truth, 0.0, 100.0)
    assert net is not None and net.verdict == "pass"
    exported = telemetry(_Bench([(30, 3000.0)], flow_direction=19), truth, 0.0, 100.0)
    assert exported is not None and exported.verdict == "pass"
    wrong = telemetry(_Bench([(30, -3000.0)], flow_direction=1), _Recorder({TRUTH_CHANNEL: [(30.0, 3000.0)]}), 0, 100)
    assert wrong is not None and wrong.verdict == "fail"
    for other in ({"role_flags": "31"}, {"uom": 63}, {"kind": 12}, {"phase": 128}):  # a DER, var, energy, phase A
        na = telemetry(_Bench([(30, -3000.0)], **other), truth, 0.0, 100.0)
        assert na is not None and na.verdict == "not_applicable" and "1 readings mirrored" in na.message, other
    assert telemetry(_Bench([]), truth, 0.0, 100.0) is None  # nothing mirrored in the test: no check made
    rows = matrix(
        [
            {"nodeid": "a", "requirements": [na.to_dict()]},
            {"nodeid": "b", "requirements": [net.to_dict(), {**na.to_dict(), "requirement_id": "X"}]},
        ]
    )
    by_id = {row["requirement_id"]: row for row in rows}
    assert by_id["CTL-TELEM"]["verdict"] == "pass" and by_id["CTL-TELEM"]["worst"]["test"] == "b"
    assert by_id["X"]["verdict"] == "not_applicable" and by_id["X"]["not_applicable"] == 1


def test_reference_controller_takes_an_import_limit_over_the_ramp_time_it_was_sent(tmp_path, plans, short_profile):
    """With control_ramp_s in the profile the DERControl carries rampTms, the controller ramps its import limit
    over it, and CTL-IMP is judged after the soft-limit window and the ramp, saying so."""
    text = short_profile.read_text()
    assert "# control_ramp_s = 20.0" in text
    profile = tmp_path / "controller-ramp.toml"
    profile.write_text(text.replace("# control_ramp_s = 20.0", "control_ramp_s = 20.0"))
    run_dir = tmp_path / "ramp"
    proc, results = plans.run("testplans/controller", BENCH, 10, run_dir, "--profile", str(profile), "-k", "import")
    assert proc.returncode == 0, _why(results) + proc.stdout[-2000:] + proc.stderr[-2000:]
    imp = [r for t in results["tests"] for r in t["requirements"] if r["requirement_id"] == "CTL-IMP"]
    assert imp and all(r["verdict"] == "pass" for r in imp), _why(results)
    assert any("limit 10000 W, ramp 20 s" in r["criterion"] and "+ ramp 20 s" in r["criterion"] for r in imp), imp
    assert [e["ramp_s"] for e in _events(run_dir) if e["kind"] == "csip_control"] == [20.0]
