"""OPC-UA envelope plans: the virtual PCS as a secured OPC-UA site of the bench's envelope server."""
from __future__ import annotations

import json

import pytest

ALL = {"OE-NRT", "OE-FOLLOW", "OPC-LOSS", "ABN-IMP"}
BENCH = "lab/benches/virtual-pcs.toml"


def test_healthy_site_passes_over_opcua(tmp_path, plans):
    run_dir = tmp_path / "healthy"
    proc, results = plans.run("testplans/opcua", BENCH, 20, run_dir)
    assert proc.returncode == 0, plans.why(results) + proc.stdout[-2000:] + proc.stderr[-2000:]
    assert {row["requirement_id"] for row in results["matrix"]} == ALL
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    server = next(e for e in events if e["kind"] == "opcua_server")
    assert server["endpoint"].startswith("opc.tcp://127.0.0.1:") and server["sites"] == ["pcs"]
    assert "Connection refused" not in proc.stdout  # instruments are not polled after they close


@pytest.mark.parametrize(
    "profile, broken",
    [("ignores-heartbeat", {"OPC-LOSS"}), ("ignores-utility", ALL)],
)
def test_opcua_fault_fails_exactly_what_it_breaks(tmp_path, plans, profile, broken):
    proc, results = plans.run("testplans/opcua", BENCH, 20, tmp_path / profile, "--dut-profile", profile)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert plans.failing(results) == broken, plans.why(results)
