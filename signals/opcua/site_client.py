"""The site's side of the envelope server: watch limits, mode and heartbeat; write measurements back.

A site controller (or the virtual DUT) embeds a SiteClient: it subscribes to
its site's signals, keeps the latest values in `signals`, notes when the
heartbeat last changed (by the local monotonic clock, so the operator's clock
does not matter), and writes its measurements and applied limits in one
request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from asyncua import Client, Node, ua

from flexbench.core import Envelope
from flexbench.signals.opcua import model
from flexbench.signals.opcua.connection import ClientSecurity, open_client
from flexbench.signals.opcua.model import OperatingMode

_log = logging.getLogger(__name__)


class WriteRefused(Exception):
    """A server refused a write; `statuses` maps each refused variable to its OPC-UA status name."""

    def __init__(self, statuses: dict[str, str]) -> None:
        super().__init__("write refused: " + ", ".join(f"{k}: {v}" for k, v in statuses.items()))
        self.statuses = statuses


@dataclass
class SiteSignals:
    """The latest values the site has seen from the server."""

    import_limit_w: float | None = None
    export_limit_w: float | None = None
    firm_import_limit_w: float | None = None
    firm_export_limit_w: float | None = None
    limit_source: str | None = None
    envelope_version: int = 0
    valid_until: dt.datetime | None = None
    heartbeat: int | None = None
    heartbeat_interval_s: float | None = None
    operating_mode: OperatingMode = OperatingMode.NORMAL
    abnormal_import_limit_w: float | None = None
    abnormal_until: dt.datetime | None = None
    heartbeat_changed_monotonic_s: float | None = None
    updated_monotonic_s: dict[str, float] = field(default_factory=dict)


_FIELDS = {
    model.IMPORT_LIMIT: "import_limit_w",
    model.EXPORT_LIMIT: "export_limit_w",
    model.FIRM_IMPORT_LIMIT: "firm_import_limit_w",
    model.FIRM_EXPORT_LIMIT: "firm_export_limit_w",
    model.LIMIT_SOURCE: "limit_source",
    model.ENVELOPE_VERSION: "envelope_version",
    model.VALID_UNTIL: "valid_until",
    model.HEARTBEAT: "heartbeat",
    model.HEARTBEAT_INTERVAL: "heartbeat_interval_s",
    model.OPERATING_MODE: "operating_mode",
    model.ABNORMAL_IMPORT_LIMIT: "abnormal_import_limit_w",
    model.ABNORMAL_UNTIL: "abnormal_until",
}

ChangeCallback = Callable[[str, Any], Any]


class SiteClient:
    """Async client for one site: `async with SiteClient(endpoint, site, security) as client: ...`."""

    def __init__(
        self,
        endpoint: str,
        site: str,
        security: ClientSecurity,
        on_change: ChangeCallback | None = None,
        publishing_interval_ms: float = 50.0,
        timeout_s: float = 4.0,
        monotonic: Callable[[], float] = time.monotonic,
        auto_reconnect: bool = True,
    ) -> None:
        self.endpoint = endpoint
        self.site = site
        self.security = security
        self.on_change = on_change
        self.publishing_interval_ms = publishing_interval_ms
        self.timeout_s = timeout_s
        self._monotonic = monotonic
        self.auto_reconnect = auto_reconnect
        self.signals = SiteSignals()
        self._client: Client | None = None
        self._ns = 0
        self._names_by_node: dict[ua.NodeId, str] = {}
        self._changed = asyncio.Event()
        self._subscription: Any = None
        self._keeper: asyncio.Task[None] | None = None

    async def __aenter__(self) -> SiteClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the site client is not connected")
        return self._client

    async def connect(self) -> None:
        self._client = await open_client(
            self.endpoint, self.security, self.timeout_s, f"flexbench site {self.site}", self.auto_reconnect
        )
        try:
            self._ns = await self._client.get_namespace_index(model.NAMESPACE_URI)
            nodes = [self._node(name) for name in model.SIGNALS]
            self._names_by_node = {n.nodeid: name for n, name in zip(nodes, model.SIGNALS)}
            for name, value in zip(model.SIGNALS, await self._client.read_values(nodes)):
                self._apply(name, value)
            await self._subscribe(nodes)
        except Exception:
            await self.disconnect()
            raise
        if self.auto_reconnect:
            self._keeper = asyncio.create_task(self._keep_fresh(nodes), name=f"opcua-site-{self.site}-keeper")

    async def _subscribe(self, nodes: list[Node]) -> None:
        self._subscription = await self.client.create_subscription(self.publishing_interval_ms, self)
        await self._subscription.subscribe_data_change(nodes)

    async def _keep_fresh(self, nodes: list[Node]) -> None:
        """Read the signals directly while the subscription is silent; subscribe anew when reads show it is dead.

        The client library reconnects after a lost server and restores subscriptions, but a restore that
        fails leaves a connected client that hears nothing; a site must not take that for a lost utility.
        """
        while True:
            interval_s = self.signals.heartbeat_interval_s or 5.0
            await asyncio.sleep(min(1.0, max(0.05, interval_s / 2)))
            if not self.communication_lost(2.0 * interval_s) or self._client is None:
                continue
            beat = self.signals.heartbeat
            try:
                values = await asyncio.wait_for(self._client.read_values(nodes), self.timeout_s)
            except Exception as exc:  # still reconnecting, or the server is gone: the heartbeat stays old
                _log.debug("site %s: direct read while the subscription is silent: %r", self.site, exc)
                continue
            for name, value in zip(model.SIGNALS, values):
                self._apply(name, value)
            if self.signals.heartbeat != beat:
                _log.info("site %s: the server is back but the subscription is silent; subscribing again", self.site)
                old, self._subscription = self._subscription, None
                try:
                    if old is not None:
                        await old.delete()
                except Exception as exc:
                    _log.debug("site %s: deleting the silent subscription: %r", self.site, exc)
                try:
                    await self._subscribe(nodes)
                except Exception as exc:
                    _log.warning("site %s: subscribing again failed: %r", self.site, exc)

    async def disconnect(self) -> None:
        if self._keeper is not None:
            keeper, self._keeper = self._keeper, None
            keeper.cancel()
            try:
                await keeper
            except asyncio.CancelledError:
                pass
        if self._client is not None:
            client, self._client = self._client, None
            try:
                await client.disconnect()
            except Exception as exc:  # the server may be gone already
                _log.debug("disconnect from %s: %s", self.endpoint, exc)

    def _node(self, name: str) -> Node:
        return self.client.get_node(model.node_id(self.site, name, self._ns))

    # asyncua subscription handler ------------------------------------------------
    async def datachange_notification(self, node: Node, value: Any, data: Any) -> None:
        name = self._names_by_node.get(node.nodeid)
        if name is None:
            return
        self._apply(name, value)
        if self.on_change is not None:
            result = self.on_change(name, value)
            if inspect.isawaitable(result):
                await result

    def _apply(self, name: str, value: Any) -> None:
        now = self._monotonic()
        if name == model.OPERATING_MODE:
            value = OperatingMode(value)
        if name == model.HEARTBEAT and value != self.signals.heartbeat:
            self.signals.heartbeat_changed_monotonic_s = now
        setattr(self.signals, _FIELDS[name], value)
        self.signals.updated_monotonic_s[name] = now
        self._changed.set()

    # What the site asks -------------------------------------------------------
    def snapshot(self) -> SiteSignals:
        return replace(self.signals, updated_monotonic_s=dict(self.signals.updated_monotonic_s))

    def heartbeat_age_s(self) -> float:
        """Seconds since the heartbeat last changed; the value read at connect counts as a change."""
        changed = self.signals.heartbeat_changed_monotonic_s
        return float("inf") if changed is None else self._monotonic() - changed

    def communication_lost(self, timeout_s: float | None = None) -> bool:
        """True when the heartbeat has not changed for `timeout_s` (default: 3 heartbeat intervals)."""
        if timeout_s is None:
            timeout_s = 3.0 * (self.signals.heartbeat_interval_s or 5.0)
        return self.heartbeat_age_s() > timeout_s

    async def wait_for(self, predicate: Callable[[SiteSignals], bool], timeout_s: float) -> SiteSignals:
        """Wait until predicate(signals) holds; raises TimeoutError."""
        deadline = self._monotonic() + timeout_s
        while not predicate(self.signals):
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise TimeoutError(f"site {self.site}: condition not met within {timeout_s} s")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass
        return self.signals

    async def read_envelope(self) -> Envelope:
        """The published envelope, read consistently: retried if the version moves while reading."""
        names = [
            model.ENVELOPE_VERSION,
            model.ENVELOPE_START,
            model.ENVELOPE_DURATION,
            model.ENVELOPE_IMPORT,
            model.ENVELOPE_EXPORT,
            model.ENVELOPE_VERSION,
        ]
        for _ in range(5):
            v0, starts, durations, imports, exports, v1 = await self.client.read_values([self._node(n) for n in names])
            if v0 == v1:
                rows = zip(starts or [], durations or [], imports or [], exports or [])
                return Envelope.of(rows, site_id=self.site)
        raise RuntimeError(f"site {self.site}: the envelope kept changing while being read")

    async def report(
        self,
        measured_p_w: float,
        measured_q_var: float,
        applied_import_limit_w: float | None = None,
        applied_export_limit_w: float | None = None,
        measurement_time: dt.datetime | float | None = None,
    ) -> None:
        """Write measurements at the PCC (P positive importing) and the limits applied, in one request."""
        when = measurement_time if measurement_time is not None else time.time()
        if not isinstance(when, dt.datetime):
            when = dt.datetime.fromtimestamp(float(when), dt.UTC)
        values: list[tuple[str, Any, ua.VariantType]] = [
            (model.MEASURED_P, float(measured_p_w), ua.VariantType.Double),
            (model.MEASURED_Q, float(measured_q_var), ua.VariantType.Double),
        ]
        if applied_import_limit_w is not None:
            values.append((model.APPLIED_IMPORT_LIMIT, float(applied_import_limit_w), ua.VariantType.Double))
        if applied_export_limit_w is not None:
            values.append((model.APPLIED_EXPORT_LIMIT, float(applied_export_limit_w), ua.VariantType.Double))
        values.append((model.MEASUREMENT_TIME, when, ua.VariantType.DateTime))
        await self.write(values)

    async def write(self, values: list[tuple[str, Any, ua.VariantType]]) -> None:
        """Write (variable, value, type) of this site in one request; raises WriteRefused naming each refusal."""
        await write_values(self.client, [(self._node(n).nodeid, n, v, t) for n, v, t in values])


async def write_values(client: Client, items: list[tuple[ua.NodeId, str, Any, ua.VariantType]]) -> None:
    """One Write request; refused items raise WriteRefused with their status names."""
    params = ua.WriteParameters()
    for nodeid, _label, value, vtype in items:
        wv = ua.WriteValue()
        wv.NodeId = nodeid
        wv.AttributeId = ua.AttributeIds.Value
        wv.Value = ua.DataValue(ua.Variant(value, vtype))
        params.NodesToWrite.append(wv)
    results = await client.uaclient.write(params)
    refused = {label: status.name for (_n, label, _v, _t), status in zip(items, results) if not status.is_good()}
    if refused:
        raise WriteRefused(refused)
