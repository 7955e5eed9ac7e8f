"""Writes limits into a device's or site controller's own OPC-UA server, and watches its measurements.

Every device names its nodes differently, so the bench file maps the bench's
names (in SI units: `export_limit_w`, `active_power_w`) to node IDs, each with
a scale from W to the device's unit (0.001 for kW) and, where the device wants
it, an enable flag written in the same request:

    [dut.opcua.setpoints]
    export_limit_w = { node = "nsu=urn:vendor:pcs;s=PCS.ExportLimit", scale = 0.001 }
    import_limit_w = "ns=2;s=PCS.ImportLimitW"
    [dut.opcua.measurements]
    active_power_w = "ns=2;s=PCS.P"

Values are coerced to each node's declared data type (read at connect), since
OPC-UA servers refuse a Double written to a Float or Int32 node.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from asyncua import Client, Node, ua

from flexbench.signals.opcua.connection import ClientSecurity, open_client
from flexbench.signals.opcua.ids import ua_node_id
from flexbench.signals.opcua.site_client import write_values

_log = logging.getLogger(__name__)
_INTEGER_TYPES = {
    ua.VariantType.SByte,
    ua.VariantType.Byte,
    ua.VariantType.Int16,
    ua.VariantType.UInt16,
    ua.VariantType.Int32,
    ua.VariantType.UInt32,
    ua.VariantType.Int64,
    ua.VariantType.UInt64,
}


@dataclass(frozen=True)
class Point:
    """One mapped node: device value = SI value x scale (+ offset)."""

    node: str
    scale: float = 1.0
    offset: float = 0.0
    enable_node: str | None = None  # written with enable_value alongside the setpoint
    enable_value: Any = True

    @classmethod
    def parse(cls, name: str, spec: str | Mapping[str, Any] | Point) -> Point:
        if isinstance(spec, Point):
            return spec
        if isinstance(spec, str):
            return cls(spec)
        if isinstance(spec, Mapping):
            unknown = set(spec) - {"node", "scale", "offset", "enable_node", "enable_value"}
            if "node" not in spec or unknown:
                raise ValueError(f"point {name!r}: expected keys node, scale, offset, enable_node, enable_value")
            point = cls(**spec)
            if not (math.isfinite(point.scale) and point.scale != 0 and math.isfinite(point.offset)):
                raise ValueError(f"point {name!r}: scale must be finite and non-zero, offset finite")
            return point
        raise ValueError(f"point {name!r}: expected a node ID string or a table with 'node'")

    def to_device(self, si_value: float) -> float:
        return si_value * self.scale + self.offset

    def to_si(self, device_value: float) -> float:
        return (device_value - self.offset) / self.scale


@dataclass(frozen=True)
class Measurement:
    name: str
    value: float  # SI units
    source_time: Any  # datetime from the device, None when it gives none
    received_monotonic_s: float


MeasurementCallback = Callable[[Measurement], Any]


class DeviceClient:
    """Async client of a device's server: `async with DeviceClient(endpoint, setpoints, measurements) as dev:`."""

    def __init__(
        self,
        endpoint: str,
        setpoints: Mapping[str, Any],
        measurements: Mapping[str, Any] | None = None,
        security: ClientSecurity | None = None,
        on_measurement: MeasurementCallback | None = None,
        publishing_interval_ms: float = 100.0,
        timeout_s: float = 4.0,
    ) -> None:
        self.endpoint = endpoint
        self.setpoints = {name: Point.parse(name, spec) for name, spec in setpoints.items()}
        self.measurements = {name: Point.parse(name, spec) for name, spec in (measurements or {}).items()}
        self.security = security or ClientSecurity.insecure()
        self.on_measurement = on_measurement
        self.publishing_interval_ms = publishing_interval_ms
        self.timeout_s = timeout_s
        self.latest: dict[str, Measurement] = {}
        self._client: Client | None = None
        self._resolved: dict[str, ua.NodeId] = {}
        self._types: dict[str, ua.VariantType] = {}
        self._names_by_node: dict[ua.NodeId, str] = {}
        self._changed = asyncio.Event()

    @classmethod
    def from_mapping(
        cls, endpoint: str, mapping: Mapping[str, Any], security: ClientSecurity | None = None, **kwargs: Any
    ) -> DeviceClient:
        """From a bench-file table with `setpoints` and `measurements` sub-tables."""
        unknown = set(mapping) - {"setpoints", "measurements"}
        if unknown:
            raise ValueError(f"unknown keys in the OPC-UA node mapping: {', '.join(sorted(unknown))}")
        return cls(endpoint, mapping.get("setpoints", {}), mapping.get("measurements", {}), security, **kwargs)

    async def __aenter__(self) -> DeviceClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the device client is not connected")
        return self._client

    async def connect(self) -> None:
        self._client = await open_client(self.endpoint, self.security, self.timeout_s, "flexbench device client")
        try:
            namespaces = await self._client.get_namespace_array()
            node_strings = {p.node for p in (*self.setpoints.values(), *self.measurements.values())}
            node_strings |= {p.enable_node for p in self.setpoints.values() if p.enable_node}
            for text in node_strings:
                self._resolved[text] = resolve_node_id(text, namespaces)
            ordered = sorted(node_strings)
            datatypes = await self._client.read_attributes(
                [self._client.get_node(self._resolved[t]) for t in ordered], ua.AttributeIds.DataType
            )
            for text, dv in zip(ordered, datatypes):
                if dv.StatusCode is not None and not dv.StatusCode.is_good():
                    raise ValueError(f"device node {text}: {dv.StatusCode.name}")
                if dv.Value is None:
                    raise ValueError(f"device node {text}: the server gave no data type")
                self._types[text] = variant_type_of(dv.Value.Value)
            if self.measurements:
                nodes = [self._client.get_node(self._resolved[p.node]) for p in self.measurements.values()]
                self._names_by_node = {n.nodeid: name for n, name in zip(nodes, self.measurements)}
                subscription = await self._client.create_subscription(self.publishing_interval_ms, self)
                await subscription.subscribe_data_change(nodes)
        except Exception:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            try:
                await client.disconnect()
            except Exception as exc:
                _log.debug("disconnect from %s: %s", self.endpoint, exc)

    # Writing ---------------------------------------------------------------------
    async def write(self, **si_values: float | None) -> None:
        """Write setpoints by their bench names (SI units) in one request; raises WriteRefused."""
        items: list[tuple[ua.NodeId, str, Any, ua.VariantType]] = []
        enables: list[tuple[ua.NodeId, str, Any, ua.VariantType]] = []
        for name, si_value in si_values.items():
            if si_value is None:
                continue
            point = self.setpoints.get(name)
            if point is None:
                raise KeyError(f"no setpoint {name!r} in the node mapping (have: {', '.join(self.setpoints)})")
            vtype = self._types[point.node]
            items.append((self._resolved[point.node], name, coerce(point.to_device(float(si_value)), vtype), vtype))
            if point.enable_node:
                etype = self._types[point.enable_node]
                enables.append(
                    (self._resolved[point.enable_node], f"{name} enable", coerce(point.enable_value, etype), etype)
                )
        if items:
            await write_values(self.client, items + enables)

    async def write_limits(self, import_limit_w: float | None = None, export_limit_w: float | None = None) -> None:
        await self.write(import_limit_w=import_limit_w, export_limit_w=export_limit_w)

    # Reading -----------------------------------------------------------------------
    async def read_measurements(self) -> dict[str, float]:
        names = list(self.measurements)
        nodes = [self.client.get_node(self._resolved[self.measurements[n].node]) for n in names]
        values = await self.client.read_values(nodes)
        return {n: self.measurements[n].to_si(float(v)) for n, v in zip(names, values)}

    async def read_setpoints(self) -> dict[str, float]:
        names = list(self.setpoints)
        nodes = [self.client.get_node(self._resolved[self.setpoints[n].node]) for n in names]
        values = await self.client.read_values(nodes)
        return {n: self.setpoints[n].to_si(float(v)) for n, v in zip(names, values)}

    async def wait_for(self, name: str, predicate: Callable[[float], bool], timeout_s: float) -> Measurement:
        """Wait until the measurement `name` satisfies predicate; raises TimeoutError."""
        deadline = time.monotonic() + timeout_s
        while True:
            latest = self.latest.get(name)
            if latest is not None and predicate(latest.value):
                return latest
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"measurement {name}: condition not met within {timeout_s} s")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass

    async def datachange_notification(self, node: Node, value: Any, data: Any) -> None:
        name = self._names_by_node.get(node.nodeid)
        if name is None or value is None:
            return
        source_time = getattr(getattr(data, "monitored_item", None), "Value", None)
        measurement = Measurement(
            name,
            self.measurements[name].to_si(float(value)),
            getattr(source_time, "SourceTimestamp", None),
            time.monotonic(),
        )
        self.latest[name] = measurement
        self._changed.set()
        if self.on_measurement is not None:
            result = self.on_measurement(measurement)
            if inspect.isawaitable(result):
                await result


def resolve_node_id(text: str, namespaces: list[str]) -> ua.NodeId:
    """A NodeId from 'ns=2;s=X', 'i=85' or 'nsu=URI;s=X' (resolved against the server's namespace array)."""
    try:
        parsed = ua.NodeId.from_string(text)
    except Exception as exc:
        raise ValueError(f"node ID {text!r}: {exc}") from exc
    uri = getattr(parsed, "NamespaceUri", None)
    if uri:
        if uri not in namespaces:
            raise ValueError(f"node ID {text!r}: the server has no namespace {uri!r}")
        return ua_node_id(parsed.Identifier, namespaces.index(uri))
    return parsed


def variant_type_of(datatype: ua.NodeId) -> ua.VariantType:
    """VariantType for a built-in DataType node (ns=0, i<=25); Double when the device uses its own type."""
    if datatype.NamespaceIndex == 0 and isinstance(datatype.Identifier, int) and 1 <= datatype.Identifier <= 25:
        return ua.VariantType(datatype.Identifier)
    return ua.VariantType.Double


def coerce(value: Any, vtype: ua.VariantType) -> Any:
    if vtype == ua.VariantType.Boolean:
        return bool(value)
    if vtype in _INTEGER_TYPES:
        return int(round(float(value)))
    if vtype in (ua.VariantType.Float, ua.VariantType.Double):
        return float(value)
    return value
