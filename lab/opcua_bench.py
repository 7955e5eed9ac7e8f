"""The bench's OPC-UA side: the envelope server that test plans drive, and its relays into devices.

Started with the bench when its file has a [signals.opcua] table; its PKI and
accounts are made in the run folder. Time on the server (heartbeat, envelope
intervals) is bench time, so the virtual bench can run faster than real time.

A device under [signals.opcua.devices.NAME] is reached through its own OPC-UA
server instead of as a site: the bench, as the site's gateway, watches the
site's limits in force on the envelope server and writes each change into the
device's mapped setpoints (DeviceClient), subscribes to the device's mapped
measurements (handed to listeners, e.g. the recorder, as `<device>.<name>`)
and writes the device's PCC power back to the envelope server. The plans
drive the envelope server alike on both paths.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flexbench.core import channels
from flexbench.lab.bench_config import BenchError, OpcuaConfig, OpcuaDevice
from flexbench.lab.clock import Clock
from flexbench.lab.station import SAFE_LAST, Channels
from flexbench.signals.opcua import (
    ClientSecurity,
    DeviceClient,
    DeviceServerSecurity,
    EnvelopeServerConfig,
    EnvelopeServerThread,
    LoopThread,
    Measurement,
    OpcuaPKI,
    SiteClient,
    SiteSpec,
    model,
    provision,
)
from flexbench.signals.opcua.provisioning import default_hosts

if TYPE_CHECKING:
    from flexbench.lab.bench import Bench

log = logging.getLogger(__name__)
MeasurementListener = Callable[[str, float, float], None]  # channel, value (SI), bench time s
EventSink = Callable[[str, dict[str, Any]], None]
REPORT_PERIOD_S = 2.0  # bench seconds between write-backs of a device's PCC power to the envelope server
_LIMIT_SIGNALS = {model.IMPORT_LIMIT, model.EXPORT_LIMIT}


def components(bench: Bench) -> list[BenchOpcua]:
    """The bench's OPC-UA envelope server when its file has [signals.opcua]."""
    config = bench.config
    if config.opcua is None:
        return []
    if bench.work_dir is None:
        raise BenchError(f"{config.path}: [signals.opcua] needs a run folder for its state")
    return [BenchOpcua(config.opcua, bench.work_dir, bench.clock, on_event=bench.on_event)]


def device_components(bench: Bench) -> list[OpcuaDevices]:
    """The relays into devices reached through their own OPC-UA server ([signals.opcua.devices])."""
    opcua = bench.opcua
    if opcua is None or not opcua.config.devices:
        return []
    served: dict[str, str] = getattr(getattr(bench.virtual_lab, "site", None), "opcua_endpoints", dict)()
    return [OpcuaDevices(opcua, served, bench.on_event, bench.config.path)]


def device_server_security(config: OpcuaConfig, pki_dir: Path, name: str) -> DeviceServerSecurity | None:
    """A certificate from the run's PKI for a virtual device's server (None with security 'none')."""
    device = config.devices[name]
    if device.security == "none":
        return None
    cert = OpcuaPKI(pki_dir).issue_client(
        f"{name}-device", application_uri=f"urn:flexbench:device:{name}", hosts=default_hosts()
    )
    return DeviceServerSecurity(
        cert.cert_path, cert.key_path, cert.application_uri, OpcuaPKI(pki_dir).trust_dir, modes=(device.security,)
    )


class BenchOpcua:
    """The OPC-UA envelope server as a component of the bench (lab.station)."""

    name = kind = "opcua"
    safe_rank = SAFE_LAST

    def __init__(self, config: OpcuaConfig, work_dir: Path, clock: Clock, on_event: EventSink | None = None) -> None:
        self.config = config
        self.on_event = on_event or (lambda kind, data: None)
        self.clock = clock
        self.pki_dir = Path(work_dir) / "opcua-pki"
        provision(self.pki_dir, list(config.sites))
        sites = [SiteSpec(name=name, **values) for name, values in config.sites.items()]
        self.server = EnvelopeServerThread(
            EnvelopeServerConfig(
                sites=sites,
                certs_dir=self.pki_dir,
                endpoint="opc.tcp://127.0.0.1:0/flexbench/envelopes",
                heartbeat_interval_s=config.heartbeat_interval_s,
                tick_s=max(0.02, 0.2 / clock.time_scale),
                clock=clock.now,
            )
        )
        self.relays: dict[str, DeviceRelay] = {}
        self._listeners: list[MeasurementListener] = []

    def start(self) -> None:
        self.server.start()
        self.on_event("opcua_server", {"endpoint": self.endpoint, "sites": list(self.config.sites)})

    def safe_state(self) -> None:
        """The server only publishes what plans set: nothing to make safe."""

    def snapshot(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "heartbeat_interval_s": self.config.heartbeat_interval_s,
            "comm_loss_s": self.config.comm_loss_s,
            "sites": self.config.sites,
            "pki": str(self.pki_dir),
        }

    def channels(self) -> list[Channels]:
        return []

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    def __getattr__(self, name: str) -> Any:
        """Operator calls (publish_envelope, set_limits, signal_abnormal, pause_heartbeat...) go to the server."""
        if name in ("server", "relays", "_listeners", "on_event"):
            raise AttributeError(name)
        return getattr(self.server, name)

    # -- devices reached through their own server ---------------------------------------

    def device_for_site(self, site: str) -> OpcuaDevice | None:
        """The device that receives this site's limits through its own server, if any."""
        return next((d for d in self.config.devices.values() if d.site == site), None)

    def device_server_security(self, name: str) -> DeviceServerSecurity | None:
        return device_server_security(self.config, self.pki_dir, name)

    def add_measurement_listener(self, listener: MeasurementListener) -> None:
        self._listeners.append(listener)

    def connect_devices(self, virtual_endpoints: dict[str, str], on_event: EventSink, bench_path: Path) -> None:
        """Connect a relay per device; `virtual_endpoints` gives the servers of devices with endpoint 'virtual'."""
        for name, device in self.config.devices.items():
            where = f"{bench_path} [signals.opcua.devices.{name}]"
            endpoint = virtual_endpoints.get(name) if device.endpoint == "virtual" else device.endpoint
            if endpoint is None:
                raise BenchError(f"{where}: endpoint = 'virtual', but the virtual lab has no PCS named {name!r}")
            relay = DeviceRelay(device, endpoint, self, on_event)
            try:
                relay.start()
            except Exception as exc:
                relay.stop()
                reason = str(exc) or type(exc).__name__
                raise BenchError(f"{where}: cannot use the device's OPC-UA server at {endpoint}: {reason}") from None
            self.relays[name] = relay
            on_event(
                "opcua_device",
                {
                    "device": name,
                    "endpoint": endpoint,
                    "site": device.site,
                    "security": device.security,
                    "setpoints": device.setpoints,
                    "measurements": device.measurements,
                },
            )

    def close_devices(self) -> None:
        for relay in self.relays.values():
            relay.stop()
        self.relays.clear()

    def close(self) -> None:
        try:
            self.close_devices()
        finally:
            self.server.stop()


class OpcuaDevices:
    """The bench as gateway of the devices reached through their own OPC-UA servers: one component for all."""

    name = kind = "opcua_devices"
    safe_rank = SAFE_LAST

    def __init__(self, opcua: BenchOpcua, served: dict[str, str], on_event: EventSink, bench_path: Path) -> None:
        self.opcua = opcua
        self.served = served  # endpoints of virtual devices' servers
        self.on_event = on_event
        self.bench_path = bench_path

    def start(self) -> None:
        self.opcua.connect_devices(self.served, self.on_event, self.bench_path)

    def close(self) -> None:
        self.opcua.close_devices()  # the bench's writes stop before the devices do

    def safe_state(self) -> None:
        """The relays only pass on the limits in force: nothing to make safe."""

    def snapshot(self) -> dict[str, Any]:
        return {
            name: {"endpoint": relay.endpoint, "site": relay.device.site, "security": relay.device.security}
            for name, relay in self.opcua.relays.items()
        }

    def channels(self) -> list[Channels]:
        return []


class DeviceRelay:
    """The gateway of one device: site limits in force -> the device's setpoints; its measurements -> listeners."""

    def __init__(self, device: OpcuaDevice, endpoint: str, opcua: BenchOpcua, on_event: EventSink) -> None:
        self.device = device
        self.endpoint = endpoint
        self.opcua = opcua
        self.clock = opcua.clock
        self.on_event = on_event
        if device.security == "none":
            security = ClientSecurity.insecure()
        else:
            security = ClientSecurity.from_pki(opcua.pki_dir, "operator", mode=device.security, login=False)
        self.device_client = DeviceClient(
            endpoint,
            device.setpoints,
            device.measurements,
            security,
            on_measurement=self._measured,
            publishing_interval_ms=device.publishing_interval_ms,
        )
        self.site_client = SiteClient(
            opcua.endpoint,
            device.site,
            ClientSecurity.from_pki(opcua.pki_dir, device.site),
            on_change=self._changed,
            monotonic=self.clock.elapsed,
        )
        self._thread = LoopThread(f"opcua-relay-{device.name}")
        self._wanted: asyncio.Event | None = None
        self._writer: asyncio.Task | None = None
        self._written: tuple[float | None, float | None] | None = None
        self._next_report_s = 0.0

    def start(self) -> None:
        self._thread.start()
        self._thread.call(self._connect(), 120)

    async def _connect(self) -> None:
        await self.device_client.connect()  # first: a wrong node map fails before anything is written
        await self.site_client.connect()
        self._wanted = asyncio.Event()
        self._wanted.set()  # the limits in force now
        self._writer = asyncio.ensure_future(self._write_loop())

    def _changed(self, name: str, _value: Any) -> None:
        if name in _LIMIT_SIGNALS and self._wanted is not None:
            self._wanted.set()

    async def _write_loop(self) -> None:
        """Writes the latest limits in force; bursts of changes collapse into one write."""
        assert self._wanted is not None
        while True:
            await self._wanted.wait()
            self._wanted.clear()
            signals = self.site_client.signals
            limits = (signals.import_limit_w, signals.export_limit_w)
            if limits == self._written:
                continue
            mapped = {k: v for k, v in zip(("import_limit_w", "export_limit_w"), limits) if k in self.device.setpoints}
            try:
                await self.device_client.write(**mapped)
                self._written = limits
                self.on_event("opcua_device_write", {"device": self.device.name, **mapped})
            except Exception as exc:  # recorded; tried again shortly, as a gateway would
                self.on_event("opcua_device_error", {"device": self.device.name, "error": str(exc) or repr(exc)})
                await asyncio.sleep(1.0)
                self._wanted.set()

    def _measured(self, m: Measurement) -> None:
        now_s = self.clock.now()
        for listener in self.opcua._listeners:
            listener(channels.element(self.device.name, m.name), m.value, now_s)
        if m.name == "active_power_w" and now_s >= self._next_report_s:
            self._next_report_s = now_s + REPORT_PERIOD_S
            asyncio.ensure_future(self._report(m.value))

    async def _report(self, pcc_import_w: float) -> None:
        """The site's write-back to the envelope server, from what the device reports."""
        latest = self.device_client.latest

        def value(name: str) -> float | None:
            m = latest.get(name)
            return None if m is None or math.isnan(m.value) else m.value

        try:
            q_var = value("reactive_power_var")
            await self.site_client.report(
                pcc_import_w, q_var or 0.0, value("applied_import_limit_w"), value("applied_export_limit_w")
            )
        except Exception as exc:
            log.debug("write-back of %s: %s", self.device.name, exc)

    def stop(self) -> None:
        async def close() -> None:
            if self._writer is not None:
                self._writer.cancel()
            await self.device_client.disconnect()
            await self.site_client.disconnect()

        try:
            self._thread.call(close(), 30)
        except Exception as exc:
            log.debug("closing the relay of %s: %s", self.device.name, exc)
        finally:
            self._thread.stop()
