"""A device's own OPC-UA server, reduced to named points: what a PCS or site controller exposes.

The virtual DUT serves its setpoints and measurements through this class, so
the bench's DeviceClient writes into a real OPC-UA server; the tests use it the
same way. Writable points call `on_write(name, value)` right after a client's
write lands. It speaks the None policy with anonymous access by default (as
many devices on a lab network do), or Basic256Sha256 when given a certificate.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from asyncua import Server, ua
from asyncua.common.callback import CallbackType, ServerItemCallback

from flexbench.signals.opcua.ids import ua_node_id
from flexbench.signals.opcua.security import server_policies
from flexbench.signals.opcua.standard_nodes import use_cached_standard_nodes
from flexbench.signals.opcua.trust import TrustList

_log = logging.getLogger(__name__)
DEVICE_NAMESPACE_URI = "urn:flexbench:opcua:device"


@dataclass(frozen=True)
class DevicePoint:
    """A variable of the device: string node ID `<prefix>.<name>`, its type, writable or not."""

    name: str
    variant_type: ua.VariantType = ua.VariantType.Double
    writable: bool = False
    initial: Any = 0.0


@dataclass(frozen=True)
class DeviceServerSecurity:
    """A certificate for the device server, and the trust list its clients' certificates must pass.

    `modes` may include "none" to also offer the None policy, as mixed lab networks do.
    """

    certificate: Path
    private_key: Path
    application_uri: str
    trust_dir: Path
    modes: tuple[str, ...] = ("sign-encrypt",)


WriteCallback = Callable[[str, Any], Any]


class DevicePointServer:
    """Async: `async with DevicePointServer(points) as device:`; `device.node_ids()` feeds a DeviceClient."""

    def __init__(
        self,
        points: Iterable[DevicePoint],
        endpoint: str = "opc.tcp://127.0.0.1:0/flexbench/device",
        prefix: str = "Device",
        namespace_uri: str = DEVICE_NAMESPACE_URI,
        security: DeviceServerSecurity | None = None,
        on_write: WriteCallback | None = None,
    ) -> None:
        self.points = {p.name: p for p in points}
        self.prefix = prefix
        self.namespace_uri = namespace_uri
        self.security = security
        self.on_write = on_write
        self._requested_endpoint = endpoint
        self._endpoint = endpoint
        self._server: Server | None = None
        self._ns = 0
        self._name_by_node: dict[ua.NodeId, str] = {}

    async def __aenter__(self) -> DevicePointServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        url = urlparse(self._requested_endpoint)
        server = Server()
        use_cached_standard_nodes(server)
        await server.init()
        server.set_server_name(f"flexbench device {self.prefix}")
        server.set_endpoint(url._replace(netloc=f"{url.hostname}:{url.port or 0}").geturl())
        if self.security is None:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
            server.set_identity_tokens([ua.AnonymousIdentityToken])
        else:
            await server.set_application_uri(self.security.application_uri)
            await server.load_certificate(str(self.security.certificate))
            await server.load_private_key(str(self.security.private_key))
            secure_modes = tuple(m for m in self.security.modes if m != "none")
            policies = server_policies(("Basic256Sha256",), secure_modes) if secure_modes else []
            if "none" in self.security.modes:
                policies.append(ua.SecurityPolicyType.NoSecurity)
            server.set_security_policy(policies)
            server.set_identity_tokens([ua.AnonymousIdentityToken])
            server.set_certificate_validator(TrustList.from_dir(self.security.trust_dir).validator("client"))
        self._ns = await server.register_namespace(self.namespace_uri)
        folder = await server.nodes.objects.add_object(ua_node_id(self.prefix, self._ns), self.prefix)
        for point in self.points.values():
            node = await folder.add_variable(
                ua_node_id(f"{self.prefix}.{point.name}", self._ns),
                ua.QualifiedName(point.name, self._ns),
                ua.Variant(point.initial, point.variant_type),
                datatype=ua_node_id(point.variant_type.value),
            )
            if point.writable:
                await node.set_writable()
            self._name_by_node[node.nodeid] = point.name
        server.subscribe_server_callback(CallbackType.PostWrite, self._post_write)
        await server.start()
        assert server.bserver is not None
        self._endpoint = url._replace(netloc=f"{url.hostname}:{server.bserver.port}").geturl()
        for edp in server.iserver.endpoints:
            edp.EndpointUrl = self._endpoint
            edp.Server.DiscoveryUrls = [self._endpoint]
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await server.stop()

    @property
    def endpoint(self) -> str:
        return self._endpoint

    def node_id(self, name: str) -> str:
        """The node ID string of a point, namespace by URI so it survives namespace reordering."""
        if name not in self.points:
            raise KeyError(f"no point {name!r}")
        return f"nsu={self.namespace_uri};s={self.prefix}.{name}"

    def node_ids(self) -> dict[str, str]:
        return {name: self.node_id(name) for name in self.points}

    def value(self, name: str) -> Any:
        if self._server is None:
            raise RuntimeError("the device server is not running")
        dv = self._server.read_attribute_value(ua_node_id(f"{self.prefix}.{name}", self._ns))
        return dv.Value.Value if dv.Value is not None else None

    async def set(self, name: str, value: Any) -> None:
        """The device updates a point (a measurement, or a setpoint it changed itself)."""
        if self._server is None:
            raise RuntimeError("the device server is not running")
        point = self.points[name]
        await self._server.write_attribute_value(
            ua_node_id(f"{self.prefix}.{name}", self._ns), ua.DataValue(ua.Variant(value, point.variant_type))
        )

    async def _post_write(self, event: ServerItemCallback, _dispatcher: Any) -> None:
        if self.on_write is None or not event.is_external:
            return
        for item, status in zip(event.request_params.NodesToWrite, event.response_params or []):
            name = self._name_by_node.get(item.NodeId)
            if name is None or not status.is_good():
                continue
            try:
                result = self.on_write(name, item.Value.Value.Value)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                _log.exception("device write callback failed for %s", name)
