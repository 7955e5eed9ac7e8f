"""The bench's client of a device's own OPC-UA server: mapped node IDs, unit scaling, type coercion."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua

from flexbench.signals.opcua import (
    ClientSecurity,
    DeviceClient,
    DeviceClientThread,
    DevicePoint,
    DevicePointServer,
    DeviceServerSecurity,
    LoopThread,
    OpcuaPKI,
    WriteRefused,
)

F, B = ua.VariantType.Float, ua.VariantType.Boolean
POINTS = [
    DevicePoint("ExportLimitKW", F, writable=True, initial=100.0),
    DevicePoint("ImportLimitKW", F, writable=True, initial=100.0),
    DevicePoint("LimitEnable", B, writable=True, initial=False),
    DevicePoint("PKW", F, initial=0.0),
    DevicePoint("QKVar", F, initial=0.0),
    DevicePoint("Mode", ua.VariantType.Int32, writable=True, initial=0),
]


class Device:
    """A device server on its own loop thread, recording what clients wrote."""

    def __init__(self, server: DevicePointServer, thread: LoopThread) -> None:
        self.server, self.thread = server, thread
        self.writes: list[tuple[str, Any]] = []

    def set(self, name: str, value: Any) -> None:
        self.thread.call(self.server.set(name, value))

    def value(self, name: str) -> Any:
        return self.thread.call_sync(lambda: self.server.value(name))


@pytest.fixture(scope="module")
def device(opcua_pki_dir: Path) -> Iterator[Device]:
    pki = OpcuaPKI(opcua_pki_dir)
    cert = pki.issue_client("pcs-1", application_uri="urn:vendor:pcs-1")
    security = DeviceServerSecurity(
        cert.cert_path, cert.key_path, cert.application_uri, pki.trust_dir, modes=("sign-encrypt", "none")
    )
    thread = LoopThread("device-under-test")
    thread.start()
    server = DevicePointServer(POINTS, prefix="PCS", namespace_uri="urn:vendor:pcs", security=security)
    dev = Device(server, thread)
    server.on_write = lambda name, value: dev.writes.append((name, value))
    thread.call(server.start(), 60)
    yield dev
    thread.call(server.stop())
    thread.stop()


def mapping(device: Device) -> dict[str, Any]:
    ids = device.server.node_ids()
    return {
        "setpoints": {
            "export_limit_w": {
                "node": ids["ExportLimitKW"],
                "scale": 0.001,
                "enable_node": ids["LimitEnable"],
                "enable_value": True,
            },
            "import_limit_w": {"node": ids["ImportLimitKW"], "scale": 0.001},
            "mode": ids["Mode"],
        },
        "measurements": {
            "active_power_w": {"node": ids["PKW"], "scale": 0.001},
            "reactive_power_var": {"node": ids["QKVar"], "scale": 0.001},
        },
    }


def test_limits_land_in_the_devices_units_and_types_over_a_secure_channel(device, security):
    device.writes.clear()
    client = DeviceClient.from_mapping(device.server.endpoint, mapping(device), security("operator", login=False))
    with DeviceClientThread(client) as dev:
        dev.write_limits(import_limit_w=25_000.0, export_limit_w=12_500.0)
        dev.write(mode=2.0)
    assert device.value("ExportLimitKW") == pytest.approx(12.5)
    assert device.value("ImportLimitKW") == pytest.approx(25.0)
    assert device.value("LimitEnable") is True
    assert device.value("Mode") == 2
    assert {name for name, _ in device.writes} == {"ExportLimitKW", "ImportLimitKW", "LimitEnable", "Mode"}


def test_measurements_arrive_by_subscription_in_si_units(device, run):
    async def watch() -> tuple[float, float]:
        async with DeviceClient.from_mapping(
            device.server.endpoint, mapping(device), ClientSecurity.insecure(), publishing_interval_ms=20
        ) as dev:
            await asyncio.to_thread(device.set, "PKW", 7.25)
            await asyncio.to_thread(device.set, "QKVar", -1.5)
            p = await dev.wait_for("active_power_w", lambda w: w == pytest.approx(7_250.0), timeout_s=5)
            await dev.wait_for("reactive_power_var", lambda v: v == pytest.approx(-1_500.0), timeout_s=5)
            return p.value, (await dev.read_measurements())["reactive_power_var"]

    p_w, q_var = run(watch())
    assert p_w == pytest.approx(7_250.0) and q_var == pytest.approx(-1_500.0)


def test_a_refused_device_write_names_the_setpoint(device, run):
    ids = device.server.node_ids()
    read_only = {"setpoints": {"export_limit_w": {"node": ids["PKW"], "scale": 0.001}}}

    async def attempt() -> None:
        async with DeviceClient.from_mapping(device.server.endpoint, read_only, ClientSecurity.insecure()) as dev:
            await dev.write_limits(export_limit_w=1_000.0)

    with pytest.raises(WriteRefused) as refused:
        run(attempt())
    assert refused.value.statuses == {"export_limit_w": "BadUserAccessDenied"}


def test_bad_mappings_are_named():
    with pytest.raises(ValueError, match="scale"):
        DeviceClient("opc.tcp://127.0.0.1:1", {"export_limit_w": {"node": "ns=2;s=X", "scale": 0}})
    with pytest.raises(ValueError, match="unknown keys"):
        DeviceClient.from_mapping("opc.tcp://127.0.0.1:1", {"setpoint": {}})
