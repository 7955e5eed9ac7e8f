"""Devices reached through their own OPC-UA server: the virtual PCS's server, the bench file's node maps."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from flexbench.lab.bench import Bench
from flexbench.lab.bench_config import BenchError, load_bench
from flexbench.lab.clock import ScaledClock
from flexbench.lab.virtual.opcua_device import OpcuaDeviceServer, node_id
from flexbench.lab.virtual.pcs_site import PCS_FAULTS, PCSSite, PCSSiteParameters
from flexbench.signals.opcua import ClientSecurity, DeviceClient, DeviceClientThread

ROOT = Path(__file__).resolve().parents[3]
DEVICE_BENCH = ROOT / "lab" / "benches" / "virtual-pcs-opcua-device.toml"
MAPPING = {
    "setpoints": {
        "export_limit_w": {"node": node_id("ExportLimitKW"), "scale": 0.001, "enable_node": node_id("LimitEnable")},
        "import_limit_w": {"node": node_id("ImportLimitKW"), "scale": 0.001},
    },
    "measurements": {
        "active_power_w": {"node": node_id("PccActivePowerKW"), "scale": 0.001},
        "applied_export_limit_w": {"node": node_id("AppliedExportLimitKW"), "scale": 0.001},
    },
}


class Controller:
    """A virtual PCS controller behind the device server, as the PCS bench wires it."""

    def __init__(self, profile: str) -> None:
        self.site = PCSSite(PCSSiteParameters(), PCS_FAULTS[profile])
        self.lock = threading.Lock()

    def apply(self, import_limit_w: float | None, export_limit_w: float | None) -> None:
        with self.lock:
            self.site.controller.set_utility_limits("opcua-device", import_limit_w, export_limit_w)

    def state(self) -> dict[str, float | None]:
        limits = self.site.controller.utility_limits.get("opcua-device", (None, None))
        return {"pcc_import_w": -3_456.0, "applied_export_limit_w": limits[1]}


@pytest.fixture(scope="module")
def device_servers():
    """A healthy and an ignores-utility virtual PCS, each serving its own OPC-UA server (started once)."""
    clock = ScaledClock(10.0)
    served = {}
    for profile in ("healthy", "ignores-utility"):
        controller = Controller(profile)
        server = OpcuaDeviceServer(profile, clock, controller.apply, controller.state)
        server.start()
        served[profile] = (server, controller)
    yield served
    for server, _ in served.values():
        server.stop()


def _wait(predicate, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_limits_written_in_kw_are_in_force_in_watts_and_read_back(device_servers):
    server, controller = device_servers["healthy"]
    with DeviceClientThread(
        DeviceClient.from_mapping(server.endpoint, MAPPING, ClientSecurity.insecure(), publishing_interval_ms=20)
    ) as client:
        client.write_limits(import_limit_w=9_000.0, export_limit_w=2_500.0)
        assert controller.site.controller.utility_limits["opcua-device"] == pytest.approx((9_000.0, 2_500.0))
        assert _wait(
            lambda: (
                client.latest().get("applied_export_limit_w") is not None
                and client.latest()["applied_export_limit_w"].value == pytest.approx(2_500.0)
            )
        )
        assert client.latest()["active_power_w"].value == pytest.approx(-3_456.0)


def test_limits_stay_off_while_the_device_switch_is_off(device_servers):
    server, controller = device_servers["healthy"]
    mapping = {"setpoints": {**MAPPING["setpoints"], "limit_enable": node_id("LimitEnable")}}
    with DeviceClientThread(DeviceClient.from_mapping(server.endpoint, mapping, ClientSecurity.insecure())) as client:
        client.write_limits(import_limit_w=8_000.0, export_limit_w=3_000.0)
        assert controller.site.controller.utility_limits["opcua-device"] == pytest.approx((8_000.0, 3_000.0))
        client.write(limit_enable=0)
    assert controller.site.controller.utility_limits["opcua-device"] == (None, None)


def test_a_pcs_that_ignores_the_utility_ignores_its_own_server_too(device_servers):
    server, controller = device_servers["ignores-utility"]
    with DeviceClientThread(DeviceClient.from_mapping(server.endpoint, MAPPING, ClientSecurity.insecure())) as client:
        client.write_limits(import_limit_w=1_000.0, export_limit_w=500.0)
    assert server.limits() == pytest.approx((1_000.0, 500.0))  # accepted by the device's server...
    assert "opcua-device" not in controller.site.controller.utility_limits  # ...never applied


def _bench_file(tmp_path: Path, old: str, new: str) -> Path:
    text = DEVICE_BENCH.read_text()
    assert old in text
    path = tmp_path / "bench.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('endpoint = "virtual"', 'endpoint = "http://pcs:4840"', r"devices\.pcs\.endpoint: expected opc\.tcp://"),
        (
            'site = "pcs"                    # whose',
            'site = "north" # whose',
            r"devices\.pcs\.site: names no \[signals\.opcua\.sites\.north\]",
        ),
        ('security = "sign-encrypt"', 'security = "tls"', r"devices\.pcs\.security: must be one of"),
        ("export_limit_w = { node", "export_w = { node", r"setpoints\.export_w: unknown setpoint"),
        ("scale = 0.001, enable_node", "scale = 0, enable_node", r"setpoints\.export_limit_w: scale must not be zero"),
        (
            'active_power_w = { node = "nsu',
            'active_power_w = { node = "PCS.P", x = "nsu',
            r"measurements\.active_power_w: unknown key 'x'",
        ),
        (
            'reactive_power_var = { node = "nsu=urn:flexbench:virtual-pcs;s=PCS.PccReactivePowerKVar"',
            'reactive_power_var = { node = "PCS.Q"',
            r"measurements\.reactive_power_var: not an OPC-UA node ID: 'PCS\.Q'",
        ),
    ],
)
def test_device_tables_name_file_line_and_key(tmp_path, old, new, message):
    path = _bench_file(tmp_path, old, new)
    with pytest.raises(BenchError, match=message) as error:
        load_bench(path)
    assert re.match(rf"{re.escape(str(path))}:\d+: ", str(error.value))


def test_a_real_device_needs_no_security_from_the_run_folder(tmp_path):
    path = _bench_file(tmp_path, 'endpoint = "virtual"', 'endpoint = "opc.tcp://192.0.2.30:4840"')
    with pytest.raises(BenchError, match=r"devices\.pcs\.security: a real device is reached with 'none'"):
        load_bench(path)


def test_a_node_the_device_does_not_have_stops_the_bench_with_its_name(tmp_path):
    path = _bench_file(tmp_path, "s=PCS.ExportLimitKW", "s=PCS.ExportLimit")
    events = []
    with pytest.raises(BenchError) as error:
        Bench.open(path, ScaledClock(20.0), on_event=lambda kind, data: events.append(kind), work_dir=tmp_path)
    text = str(error.value)
    assert "[signals.opcua.devices.pcs]" in text and "PCS.ExportLimit" in text and "BadNodeIdUnknown" in text
    assert "virtual_lab_stopped" in events  # everything started was stopped again
