"""CSIP plans on the virtual PCS site over real mutual-TLS 2030.5: healthy passes, each fault fails its IDs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALL = {"CSIP-GEN-01", "CSIP-LOA-01", "CSIP-RSP", "CSIP-LOSS", "CSIP-SUP", "CSIP-POLL", "OE-FOLLOW", "ABN-IMP"}


def run_plan(run_dir: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "flexbench.lab.cli", "run", "testplans/csip", "--bench", "lab/benches/virtual-pcs.toml",
         "--time-scale", "20", "--out", str(run_dir), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    results = json.loads((run_dir / "results.json").read_text()) if (run_dir / "results.json").exists() else {}
    return proc, results


def why(results: dict) -> str:
    """The failing checks, for an assertion message."""
    return "\n".join(f"{r['requirement_id']} {t['nodeid']}: {r['message']}" for t in results.get("tests", [])
                     for r in t["requirements"] if r["verdict"] != "pass")


def failing(results: dict) -> set[str]:
    return {row["requirement_id"] for row in results["matrix"] if row["verdict"] != "pass"}


def test_healthy_dut_passes_and_server_state_is_kept_in_the_run_folder(tmp_path):
    run_dir = tmp_path / "healthy"
    proc, results = run_plan(run_dir)
    assert proc.returncode == 0, why(results) + proc.stdout[-2000:] + proc.stderr[-2000:]
    assert {row["requirement_id"] for row in results["matrix"]} == ALL and failing(results) == set(), why(results)
    assert (run_dir / "csip.sqlite").exists() and (run_dir / "pki").is_dir()
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    server = next(e for e in events if e["kind"] == "csip_server")
    assert server["url"].startswith("https://127.0.0.1:") and set(server["devices"]) == {"pcs"}


@pytest.mark.parametrize(
    "profile, broken",
    [
        ("ignores-utility", ALL - {"CSIP-RSP", "CSIP-POLL"}),  # it still polls and acknowledges every control
        ("no-responses", {"CSIP-RSP", "CSIP-SUP"}),  # CSIP-SUP checks the Response 7 of the older control
        ("drops-schedule", {"CSIP-LOSS"}),
    ],
)
def test_csip_fault_fails_exactly_what_it_breaks(tmp_path, profile, broken):
    proc, results = run_plan(tmp_path / profile, "--dut-profile", profile)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert failing(results) == broken, why(results)


def test_slow_polling_fails_poll_rate_compliance(tmp_path):
    """Polling four times too slowly also delays when controls are seen, so more may fail; CSIP-POLL must."""
    proc, results = run_plan(tmp_path / "slow-poll", "--dut-profile", "slow-poll", "-k", "poll or export_limit")
    assert proc.returncode == 1
    assert "CSIP-POLL" in failing(results)
