"""The operator's remote client of an envelope server: publish, signal abnormal operation, write limits.

The CLI's `opcua publish` and `opcua signal-abnormal` use it; so can a SCADA
bridge. It calls the server's methods, so the server checks the operator role.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from asyncua import Client, ua

from flexbench.core import Envelope, Interval
from flexbench.signals.opcua import model
from flexbench.signals.opcua.connection import ClientSecurity, open_client
from flexbench.signals.opcua.envelope import check_within, checked
from flexbench.signals.opcua.site_client import write_values

_log = logging.getLogger(__name__)

READ_VARIABLES = tuple(v.name for v in model.VARIABLES if not v.array)


class OperatorClient:
    """Async: `async with OperatorClient(endpoint, security) as op: await op.publish_envelope(...)`."""

    def __init__(self, endpoint: str, security: ClientSecurity, timeout_s: float = 4.0) -> None:
        self.endpoint = endpoint
        self.security = security
        self.timeout_s = timeout_s
        self._client: Client | None = None
        self._ns = 0

    async def __aenter__(self) -> OperatorClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the operator client is not connected")
        return self._client

    async def connect(self) -> None:
        self._client = await open_client(self.endpoint, self.security, self.timeout_s, "flexbench operator")
        try:
            self._ns = await self._client.get_namespace_index(model.NAMESPACE_URI)
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

    def node_id(self, site: str, name: str) -> ua.NodeId:
        return model.node_id(site, name, self._ns)

    async def _call(self, site: str, method: str, *args: ua.Variant) -> list[Any]:
        site_node = self.client.get_node(model.site_node_id(site, self._ns))
        result = await site_node.call_method(self.node_id(site, method), *args)
        if result is None:
            return []
        return result if isinstance(result, list) else [result]

    async def publish_envelope(self, site: str, envelope: Envelope | Sequence[Interval]) -> int:
        """Call PublishEnvelope; returns the envelope version. Raises asyncua's status error if refused.

        A limit of None takes the envelope's firm limit (EnvelopeError when it has none):
        the call carries numbers only.
        """
        parsed = checked(envelope)
        D = ua.VariantType.Double
        try:
            (version,) = await self._call(
                site,
                model.PUBLISH_ENVELOPE,
                ua.Variant([i.start for i in parsed], ua.VariantType.DateTime, is_array=True),
                ua.Variant([i.duration_s for i in parsed], D, is_array=True),
                ua.Variant([i.import_limit_w for i in parsed], D, is_array=True),
                ua.Variant([i.export_limit_w for i in parsed], D, is_array=True),
            )
        except ua.UaStatusCodeError as exc:
            if exc.code == ua.StatusCodes.BadOutOfRange:  # the status alone does not say which limit: name it
                check_within(parsed, *await self.rated_w(site), site)
            raise
        return int(version)

    async def rated_w(self, site: str) -> tuple[float, float]:
        """The site's rated import and export, W: the EURange of its limits, which the server holds them to."""
        names = (model.IMPORT_LIMIT, model.EXPORT_LIMIT)
        ranges = await self.client.read_values(
            [self.client.get_node(self.node_id(site, f"{n}.EURange")) for n in names]
        )
        return float(ranges[0].High), float(ranges[1].High)

    async def signal_abnormal(self, site: str, max_import_w: float, duration_s: float = 0.0) -> None:
        D = ua.VariantType.Double
        await self._call(
            site, model.SIGNAL_ABNORMAL, ua.Variant(float(max_import_w), D), ua.Variant(float(duration_s), D)
        )

    async def clear_abnormal(self, site: str) -> None:
        await self._call(site, model.CLEAR_ABNORMAL)

    async def set_limits(
        self, site: str, import_limit_w: float | None = None, export_limit_w: float | None = None
    ) -> None:
        """Write ImportLimitW/ExportLimitW (a dynamic update); raises WriteRefused."""
        items = []
        for name, value in ((model.IMPORT_LIMIT, import_limit_w), (model.EXPORT_LIMIT, export_limit_w)):
            if value is not None:
                items.append((self.node_id(site, name), name, float(value), ua.VariantType.Double))
        if items:
            await write_values(self.client, items)

    async def read(self, site: str) -> dict[str, Any]:
        """The site's scalar variables by name; LookupError when the server has no such site."""
        nodeids = [self.node_id(site, n) for n in READ_VARIABLES]
        datavalues = await self.client.uaclient.read_attributes(nodeids, ua.AttributeIds.Value)
        if datavalues and datavalues[0].StatusCode is not None and not datavalues[0].StatusCode.is_good():
            raise LookupError(f"no site {site!r} on {self.endpoint} ({datavalues[0].StatusCode.name})")
        out: dict[str, Any] = {}
        for name, dv in zip(READ_VARIABLES, datavalues):
            value: Any = dv.Value.Value if dv.Value is not None else None
            if name == model.OPERATING_MODE:
                value = model.OperatingMode(value).name.lower()
            elif isinstance(value, dt.datetime) and value <= ua.get_win_epoch():
                value = None
            out[name] = value
        return out
