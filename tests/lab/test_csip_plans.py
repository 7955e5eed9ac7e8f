"""CSIP plans on the virtual PCS site over real mutual-TLS 2030.5: healthy passes, each fault fails its IDs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ALL = {"CSIP-GEN-01", "CSIP-LOA-01", "CSIP-RSP", "CSIP-LOSS", "CSIP-SUP", "CSIP-POLL", "OE-FOLLOW", "ABN-IMP"}
BENCH = "lab/benches/virtual-pcs.toml"
PROFILE = Path(__file__).resolve().parents[2] / "testplans/profiles/csip-aus.toml"


def test_healthy_dut_passes_and_server_state_is_kept_in_the_run_folder(tmp_path, plans):
    run_dir = tmp_path / "healthy"
    proc, results = plans.run("testplans/csip", BENCH, 20, run_dir)
    assert proc.returncode == 0, plans.why(results) + proc.stdout[-2000:] + proc.stderr[-2000:]
    assert {row["requirement_id"] for row in results["matrix"]} == ALL
    assert (run_dir / "csip.sqlite").exists() and (run_dir / "pki").is_dir()
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    server = next(e for e in events if e["kind"] == "csip_server")
    assert server["url"].startswith("https://127.0.0.1:") and set(server["devices"]) == {"pcs"}
    assert (run_dir / "csip_requests.jsonl").read_text().count('"GET"') > 20


@pytest.mark.parametrize(
    "profile, broken",
    [
        ("ignores-utility", ALL - {"CSIP-RSP", "CSIP-POLL"}),  # it still polls and acknowledges every control
        ("no-responses", {"CSIP-RSP", "CSIP-SUP"}),  # CSIP-SUP checks the Response 7 of the older control
        ("drops-schedule", {"CSIP-LOSS"}),
    ],
)
def test_csip_fault_fails_exactly_what_it_breaks(tmp_path, plans, profile, broken):
    proc, results = plans.run("testplans/csip", BENCH, 20, tmp_path / profile, "--dut-profile", profile)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert plans.failing(results) == broken, plans.why(results)


def test_slow_polling_fails_poll_rate_compliance(tmp_path, plans):
    """Polling four times too slowly also delays when controls are seen, so more may fail; CSIP-POLL must."""
    proc, results = plans.run(
        "testplans/csip", BENCH, 20, tmp_path / "slow-poll", "--dut-profile", "slow-poll", "-k", "poll or export_limit"
    )
    assert proc.returncode == 1
    assert "CSIP-POLL" in plans.failing(results)


@pytest.mark.parametrize("dut_profile, passes", [("healthy", True), ("slow-ramp", False)])
def test_a_ramp_in_the_profile_is_sent_and_judged(tmp_path, plans, dut_profile, passes):
    """With control_ramp_s in the profile every DERControl carries rampTms and the export limit is judged once
    the ramp is over: a DUT ramping as told passes, one three times slower than told fails CSIP-GEN-01."""
    text = PROFILE.read_text()
    assert "# control_ramp_s = 30.0" in text
    profile = tmp_path / "csip-ramp.toml"
    profile.write_text(text.replace("# control_ramp_s = 30.0", "control_ramp_s = 30.0"))
    run_dir = tmp_path / dut_profile
    extra = ("--profile", str(profile), "--dut-profile", dut_profile, "-k", "export_limit")
    proc, results = plans.run("testplans/csip", BENCH, 20, run_dir, *extra)
    assert proc.returncode == (0 if passes else 1), plans.why(results) + proc.stdout[-2000:] + proc.stderr[-2000:]
    assert plans.failing(results) == (set() if passes else {"CSIP-GEN-01"}), plans.why(results)
    criteria = [r["criterion"] for t in results["tests"] for r in t["requirements"]]
    assert any("limit 2000 W, ramp 30 s" in c and "response window 15 s + ramp 30 s" in c for c in criteria), criteria
    sent = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["ramp_s"] for e in sent if e["kind"] == "csip_control"] == [30.0]
