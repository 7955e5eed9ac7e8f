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


DEVICE_BENCH = "lab/benches/virtual-pcs-opcua-device.toml"
DEVICE_PATH = {"OE-NRT", "OE-FOLLOW", "ABN-IMP"}  # OPC-LOSS concerns sites of the envelope server: skipped


def test_healthy_pcs_passes_when_limits_are_written_into_its_own_server(tmp_path, plans):
    import numpy as np

    from flexbench.lab.recorder import load_samples

    run_dir = tmp_path / "device-healthy"
    proc, results = plans.run("testplans/opcua", DEVICE_BENCH, 20, run_dir)
    assert proc.returncode == 0, plans.why(results) + proc.stdout[-2000:] + proc.stderr[-2000:]
    assert {row["requirement_id"] for row in results["matrix"]} == DEVICE_PATH
    assert all(row["verdict"] == "pass" for row in results["matrix"])
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert sum(e["kind"] == "opcua_server" for e in events) == 1  # one server for the whole run, not per test
    device = next(e for e in events if e["kind"] == "opcua_device")
    assert device["endpoint"].startswith("opc.tcp://127.0.0.1:") and device["security"] == "sign-encrypt"
    writes = [e for e in events if e["kind"] == "opcua_device_write"]
    assert any(e["export_limit_w"] == 2000.0 for e in writes)  # OE-NRT's step went through the device path
    samples = load_samples(run_dir)
    applied = samples[samples.channel == "pcs.applied_export_limit_w"].value
    assert 2000.0 in set(applied.round(1))  # written in kW, read back from the device and scaled to W
    device_p = samples[samples.channel == "pcs.active_power_w"]
    pcc = samples[samples.channel == "pcc.p_w"]
    assert len(device_p) > 20
    analyzer_at = np.interp(device_p.t_s, pcc.t_s, pcc.value)
    assert np.median(np.abs(device_p.value - analyzer_at)) < 300.0  # the device's reading agrees with the analyzer


@pytest.mark.parametrize(
    "profile, time_scale, keyword, broken",
    [
        ("ignores-utility", 50, None, DEVICE_PATH),  # every check; OE-NRT watches its whole 900 s budget
        ("slow", 20, "test_schedule_followed", {"OE-FOLLOW"}),
    ],  # 15 s late: outside the schedule's window
)
def test_device_path_fault_fails_what_it_breaks(tmp_path, plans, profile, time_scale, keyword, broken):
    extra = ["--dut-profile", profile] + (["-k", keyword] if keyword else [])
    proc, results = plans.run("testplans/opcua", DEVICE_BENCH, time_scale, tmp_path / profile, *extra)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert plans.failing(results) == broken, plans.why(results)
