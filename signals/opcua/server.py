"""The OPC-UA envelope server: the operator's side of a flexible connection.

It keeps, per site, the limits in force now (ImportLimitW, ExportLimitW),
derived every tick from, in order of precedence:

1. abnormal operation: import capped at the signalled maximum while it lasts;
2. a direct operator write of ImportLimitW/ExportLimitW: holds until the active
   envelope interval changes or a new envelope is published;
3. the active interval of the published envelope;
4. the firm limits, when no interval is active (no envelope, or it expired).

The heartbeat counts up every `heartbeat_interval_s`; a site that sees it stop
changing has lost communication and falls back to its firm limits. Sites write
their measurements back; listeners registered with `add_report_listener` hear
each write-back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from asyncua import Server, ua
from asyncua.crypto.permission_rules import User

from flexbench.core import Envelope, Interval, SiteLimits
from flexbench.signals.opcua import address_space, model
from flexbench.signals.opcua.access import (
    AccountUserManager,
    GuardedAttributeService,
    RolePermissions,
    SiteScope,
    WritePolicy,
    WriteRule,
)
from flexbench.signals.opcua.accounts import AccountStore
from flexbench.signals.opcua.envelope import EnvelopeError, check_within, checked, from_rows
from flexbench.signals.opcua.ids import ua_status
from flexbench.signals.opcua.lockout import LoginGuard, LoginPolicy
from flexbench.signals.opcua.model import OperatingMode, SiteSpec, Writer
from flexbench.signals.opcua.pki import OpcuaPKI
from flexbench.signals.opcua.security import server_policies
from flexbench.signals.opcua.standard_nodes import use_cached_standard_nodes
from flexbench.signals.opcua.trust import TrustList

_log = logging.getLogger(__name__)
DEFAULT_ENDPOINT = "opc.tcp://127.0.0.1:4840/flexbench/envelopes"


@dataclass
class EnvelopeServerConfig:
    """What `flexbench opcua serve` and the lab configure; `certs_dir` is an OpcuaPKI directory."""

    sites: list[SiteSpec]
    certs_dir: Path
    endpoint: str = DEFAULT_ENDPOINT
    heartbeat_interval_s: float = 5.0
    tick_s: float = 0.2
    allow_anonymous: bool = False
    security_modes: tuple[str, ...] = ("sign", "sign-encrypt")
    policies: tuple[str, ...] = ("Basic256Sha256", "Aes128Sha256RsaOaep", "Aes256Sha256RsaPss")
    accounts: AccountStore | None = None  # default: certs_dir/users.json
    login_policy: LoginPolicy = field(default_factory=LoginPolicy)  # wrong passwords: slowed, then locked out
    clock: Callable[[], float] = time.time  # Unix seconds; injectable for faster-than-real-time runs

    def __post_init__(self) -> None:
        names = [s.name for s in self.sites]
        if not names:
            raise ValueError("the envelope server needs at least one site")
        if len(set(names)) != len(names):
            raise ValueError("site names must be unique")
        if self.heartbeat_interval_s <= 0 or self.tick_s <= 0:
            raise ValueError("heartbeat_interval_s and tick_s must be > 0")


@dataclass(frozen=True)
class SiteReport:
    """A site's write-back as the server holds it after the site wrote."""

    site: str
    measured_p_w: float
    measured_q_var: float
    applied_import_limit_w: float
    applied_export_limit_w: float
    measurement_time: dt.datetime
    received_s: float  # server clock
    variables: tuple[str, ...]  # which variables this write touched


@dataclass
class SiteSnapshot:
    """Everything the server holds for a site, read in one go (for tools and test plans)."""

    site: str
    import_limit_w: float
    export_limit_w: float
    firm_import_limit_w: float
    firm_export_limit_w: float
    limit_source: str
    operating_mode: OperatingMode
    abnormal_import_limit_w: float
    heartbeat: int
    envelope_version: int
    envelope: Envelope
    valid_until: dt.datetime
    measured_p_w: float
    measured_q_var: float
    applied_import_limit_w: float
    applied_export_limit_w: float
    measurement_time: dt.datetime


@dataclass
class _SiteState:
    spec: SiteSpec
    firm_import_w: float
    firm_export_w: float
    envelope: Envelope = field(default_factory=Envelope)  # every limit set (signals.opcua.envelope.checked)
    version: int = 0
    override_import_w: float | None = None
    override_export_w: float | None = None
    override_key: tuple[int, int | None] | None = None  # (version, interval) the override was made in
    abnormal_import_w: float | None = None
    abnormal_until_s: float | None = None
    heartbeat: int = 0
    heartbeat_paused: bool = False
    applied: tuple[float, float, str] | None = None


ReportListener = Callable[[SiteReport], Any]


class EnvelopeServer:
    """Async envelope server: `async with EnvelopeServer(config) as server: ...`."""

    def __init__(self, config: EnvelopeServerConfig) -> None:
        self.config = config
        self._clock = config.clock
        self._sites = {s.name: _SiteState(s, s.firm_import_w, s.firm_export_w) for s in config.sites}
        self._server: Server | None = None
        self._ns = 0
        self._site_by_node: dict[ua.NodeId, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[ReportListener] = []
        self._endpoint = config.endpoint
        self._next_heartbeat_s = 0.0
        self._lock = asyncio.Lock()

    # Lifecycle -----------------------------------------------------------------
    async def __aenter__(self) -> EnvelopeServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        pki = OpcuaPKI(self.config.certs_dir)
        if not pki.exists():
            raise FileNotFoundError(f"no OPC-UA PKI in {pki.directory}: run `flexbench opcua certs` first")
        trust = TrustList.from_dir(pki.trust_dir)
        accounts = self.config.accounts
        if accounts is None:
            accounts = AccountStore.load(pki.directory / "users.json")
        if not len(accounts) and not self.config.allow_anonymous:
            raise ValueError(f"no accounts in {pki.directory / 'users.json'} and anonymous access is off")
        server_cert = pki.server
        url = urlparse(self.config.endpoint)
        if url.scheme != "opc.tcp" or not url.hostname:
            raise ValueError(f"endpoint {self.config.endpoint!r}: expected opc.tcp://HOST:PORT/PATH")
        host = "127.0.0.1" if url.hostname == "localhost" and not url.port else url.hostname

        # asyncua's user_manager and ruleset parameters name its own classes, though it calls only get_user and
        # check_validity (its PermissiveUserManager is no UserManager either).
        guard = LoginGuard(self.config.login_policy, self.config.clock)
        users = AccountUserManager(accounts, trust, self.config.allow_anonymous, guard)
        server = Server(user_manager=users)  # type: ignore[arg-type]
        use_cached_standard_nodes(server)
        await server.init()
        try:
            await self._configure(
                server,
                server_cert.application_uri,
                server_cert.cert_path,
                server_cert.key_path,
                host,
                url.port or 0,
                accounts,
                trust,
            )
            await server.start()
        except BaseException:
            try:
                await server.iserver.stop()
            except Exception as exc:  # already stopped by asyncua, or never started
                _log.debug("stopping a server that failed to start: %s", exc)
            raise
        assert server.bserver is not None
        self._endpoint = url._replace(netloc=f"{url.hostname}:{server.bserver.port}").geturl()
        self._advertise(server, self._endpoint)
        self._server = server
        self._next_heartbeat_s = self._clock() + self.config.heartbeat_interval_s
        async with self._lock:
            for name in self._sites:
                await self._refresh(name)
        self._task = asyncio.create_task(self._run(), name="opcua-envelope-server")

    async def _configure(
        self,
        server: Server,
        application_uri: str,
        cert_path: Path,
        key_path: Path,
        host: str,
        port: int,
        accounts: AccountStore,
        trust: TrustList,
    ) -> None:
        """Identity, endpoints, security, the address space and the write guard, before listening."""
        server.set_server_name("flexbench envelope server")
        server.product_uri = "urn:flexbench:opcua"
        server.manufacturer_name = "flexbench"
        await server.set_application_uri(application_uri)
        await server.load_certificate(str(cert_path))
        await server.load_private_key(str(key_path))
        url = urlparse(self.config.endpoint)
        server.set_endpoint(url._replace(netloc=f"{host}:{port}").geturl())
        self._ns = await server.register_namespace(model.NAMESPACE_URI)
        scope = SiteScope(self._ns, list(self._sites))
        server.set_security_policy(
            server_policies(self.config.policies, self.config.security_modes),
            RolePermissions(accounts, scope),  # type: ignore[arg-type]  # see Server() above
        )
        tokens: list[type] = [ua.UserNameIdentityToken]
        if self.config.allow_anonymous:
            tokens.append(ua.AnonymousIdentityToken)
        server.set_identity_tokens(tokens)
        server.set_certificate_validator(trust.validator("client"))

        handlers = {
            model.PUBLISH_ENVELOPE: self._method_publish,
            model.SIGNAL_ABNORMAL: self._method_signal_abnormal,
            model.CLEAR_ABNORMAL: self._method_clear_abnormal,
        }
        rules = await address_space.build(
            server, self._ns, list(self.config.sites), self.config.heartbeat_interval_s, handlers
        )
        self._site_by_node = {model.site_node_id(name, self._ns): name for name in self._sites}
        iserver = server.iserver
        iserver.attribute_service = GuardedAttributeService(iserver.aspace, WritePolicy(accounts, rules), self._written)

    @staticmethod
    def _advertise(server: Server, endpoint: str) -> None:
        """Advertise the bound port (port 0 picks a free one) in every endpoint description."""
        for edp in server.iserver.endpoints:
            edp.EndpointUrl = endpoint
            edp.Server.DiscoveryUrls = [endpoint]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._server is not None:
            await self._server.stop()
            self._server = None

    @property
    def endpoint(self) -> str:
        """The URL clients connect to, with the bound port."""
        return self._endpoint

    @property
    def namespace_index(self) -> int:
        return self._ns

    @property
    def sites(self) -> list[str]:
        return list(self._sites)

    def node_id(self, site: str, variable: str) -> ua.NodeId:
        self._state(site)
        return model.node_id(site, variable, self._ns)

    # Operator API -----------------------------------------------------------
    async def publish_envelope(self, site: str, envelope: Envelope | Sequence[Interval]) -> int:
        """Replace the site's envelope (an empty one withdraws it); returns its version.

        A limit of None takes the envelope's firm limit, else the site's firm limit now.
        Raises EnvelopeError (with the OPC-UA status a method call would return) and changes nothing
        when intervals overlap or a limit exceeds the site's physical range.
        """
        state = self._state(site)
        firm = SiteLimits(import_limit_w=state.firm_import_w, export_limit_w=state.firm_export_w)
        parsed = checked(envelope, firm)
        check_within(parsed, state.spec.rated_import_w, state.spec.rated_export_w, site)
        async with self._lock:
            state.envelope = parsed
            state.version += 1
            state.override_import_w = state.override_export_w = None
            state.override_key = None
            await self._write_envelope(site, state)
            await self._refresh(site)
        return state.version

    async def signal_abnormal(
        self, max_import_w: float, duration_s: float | None = None, sites: Iterable[str] | None = None
    ) -> None:
        """Abnormal operation: cap import at max_import_w for duration_s (None or 0: until cleared)."""
        names = list(sites) if sites is not None else list(self._sites)
        for name in names:
            state = self._state(name)
            if not (0 <= max_import_w <= state.spec.rated_import_w):
                raise EnvelopeError(
                    f"site {name}: max import {max_import_w} W outside [0, {state.spec.rated_import_w}] W",
                    ua.StatusCodes.BadOutOfRange,
                )
        if duration_s is not None and not duration_s >= 0:
            raise EnvelopeError(f"duration_s must be >= 0, got {duration_s}", ua.StatusCodes.BadOutOfRange)
        until_s = self._clock() + duration_s if duration_s else None
        async with self._lock:
            for name in names:
                state = self._sites[name]
                state.abnormal_import_w = float(max_import_w)
                state.abnormal_until_s = until_s
                await self._write_abnormal(name, state)
                await self._refresh(name)

    async def clear_abnormal(self, sites: Iterable[str] | None = None) -> None:
        async with self._lock:
            for name in list(sites) if sites is not None else list(self._sites):
                state = self._state(name)
                state.abnormal_import_w = state.abnormal_until_s = None
                await self._write_abnormal(name, state)
                await self._refresh(name)

    async def set_limits(
        self, site: str, import_limit_w: float | None = None, export_limit_w: float | None = None
    ) -> None:
        """A dynamic update, as an operator write of ImportLimitW/ExportLimitW would make."""
        state = self._state(site)
        for label, value, high in (
            ("import", import_limit_w, state.spec.rated_import_w),
            ("export", export_limit_w, state.spec.rated_export_w),
        ):
            if value is not None and not (0 <= value <= high):
                raise EnvelopeError(
                    f"site {site}: {label} limit {value} W outside [0, {high}] W", ua.StatusCodes.BadOutOfRange
                )
        async with self._lock:
            self._set_override(state, import_limit_w, export_limit_w)
            await self._refresh(site)

    async def set_firm_limits(
        self, site: str, import_limit_w: float | None = None, export_limit_w: float | None = None
    ) -> None:
        state = self._state(site)
        async with self._lock:
            if import_limit_w is not None:
                state.firm_import_w = float(import_limit_w)
                await self._write(site, model.FIRM_IMPORT_LIMIT, state.firm_import_w, ua.VariantType.Double)
            if export_limit_w is not None:
                state.firm_export_w = float(export_limit_w)
                await self._write(site, model.FIRM_EXPORT_LIMIT, state.firm_export_w, ua.VariantType.Double)
            await self._refresh(site)

    def pause_heartbeat(self, sites: Iterable[str] | None = None) -> None:
        """Stop the heartbeat (simulated loss of communication) for some or all sites."""
        for name in list(sites) if sites is not None else list(self._sites):
            self._state(name).heartbeat_paused = True

    def resume_heartbeat(self, sites: Iterable[str] | None = None) -> None:
        for name in list(sites) if sites is not None else list(self._sites):
            self._state(name).heartbeat_paused = False

    def add_report_listener(self, listener: ReportListener) -> None:
        """Call `listener(SiteReport)` (plain or async) after each write-back of a site."""
        self._listeners.append(listener)

    def remove_report_listener(self, listener: ReportListener) -> None:
        self._listeners.remove(listener)

    def read(self, site: str) -> SiteSnapshot:
        state = self._state(site)
        v = self._value
        return SiteSnapshot(
            site=site,
            import_limit_w=v(site, model.IMPORT_LIMIT),
            export_limit_w=v(site, model.EXPORT_LIMIT),
            firm_import_limit_w=v(site, model.FIRM_IMPORT_LIMIT),
            firm_export_limit_w=v(site, model.FIRM_EXPORT_LIMIT),
            limit_source=v(site, model.LIMIT_SOURCE),
            operating_mode=OperatingMode(v(site, model.OPERATING_MODE)),
            abnormal_import_limit_w=v(site, model.ABNORMAL_IMPORT_LIMIT),
            heartbeat=v(site, model.HEARTBEAT),
            envelope_version=v(site, model.ENVELOPE_VERSION),
            envelope=state.envelope,
            valid_until=v(site, model.VALID_UNTIL),
            measured_p_w=v(site, model.MEASURED_P),
            measured_q_var=v(site, model.MEASURED_Q),
            applied_import_limit_w=v(site, model.APPLIED_IMPORT_LIMIT),
            applied_export_limit_w=v(site, model.APPLIED_EXPORT_LIMIT),
            measurement_time=v(site, model.MEASUREMENT_TIME),
        )

    # Internals ---------------------------------------------------------------
    def _state(self, site: str) -> _SiteState:
        try:
            return self._sites[site]
        except KeyError:
            raise KeyError(f"no site {site!r} on this server (sites: {', '.join(self._sites)})") from None

    def _require_server(self) -> Server:
        if self._server is None:
            raise RuntimeError("the envelope server is not running")
        return self._server

    def _value(self, site: str, variable: str) -> Any:
        dv = self._require_server().read_attribute_value(model.node_id(site, variable, self._ns))
        return dv.Value.Value if dv.Value is not None else None

    async def _write(self, site: str, variable: str, value: Any, vtype: ua.VariantType, array: bool = False) -> None:
        now = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
        variant = ua.Variant(value, vtype, is_array=array)
        # asyncua annotates timestamps with its datetime subclass, and itself passes plain datetimes
        dv = ua.DataValue(variant, SourceTimestamp=now, ServerTimestamp=now)  # type: ignore[arg-type]
        await self._require_server().write_attribute_value(model.node_id(site, variable, self._ns), dv)

    async def _write_envelope(self, site: str, state: _SiteState) -> None:
        D, T = ua.VariantType.Double, ua.VariantType.DateTime
        intervals = state.envelope.intervals
        await self._write(site, model.ENVELOPE_START, [i.start for i in intervals], T, array=True)
        await self._write(site, model.ENVELOPE_DURATION, [i.duration_s for i in intervals], D, array=True)
        await self._write(site, model.ENVELOPE_IMPORT, [i.import_limit_w for i in intervals], D, array=True)
        await self._write(site, model.ENVELOPE_EXPORT, [i.export_limit_w for i in intervals], D, array=True)
        valid_until = address_space.as_datetime(intervals[-1].end_s) if intervals else address_space.NO_TIME
        await self._write(site, model.VALID_UNTIL, valid_until, T)
        # The version last: a site that watches it reads a complete envelope.
        await self._write(site, model.ENVELOPE_VERSION, state.version, ua.VariantType.UInt32)

    async def _write_abnormal(self, site: str, state: _SiteState) -> None:
        active = state.abnormal_import_w is not None
        cap = state.abnormal_import_w if state.abnormal_import_w is not None else state.spec.rated_import_w
        until = address_space.as_datetime(state.abnormal_until_s) if state.abnormal_until_s else address_space.NO_TIME
        await self._write(site, model.ABNORMAL_IMPORT_LIMIT, float(cap), ua.VariantType.Double)
        await self._write(site, model.ABNORMAL_UNTIL, until, ua.VariantType.DateTime)
        mode = OperatingMode.ABNORMAL if active else OperatingMode.NORMAL
        await self._write(site, model.OPERATING_MODE, int(mode), ua.VariantType.UInt32)

    def _interval_key(self, state: _SiteState) -> tuple[int, int | None]:
        return state.version, state.envelope.index_at(self._clock())

    def _set_override(self, state: _SiteState, import_w: float | None, export_w: float | None) -> None:
        key = self._interval_key(state)
        if state.override_key != key:
            state.override_import_w = state.override_export_w = None
        state.override_key = key
        if import_w is not None:
            state.override_import_w = float(import_w)
        if export_w is not None:
            state.override_export_w = float(export_w)

    def _limits(self, state: _SiteState) -> tuple[float, float, str]:
        """The limits in force now, by the precedence in the module docstring."""
        now_s = self._clock()
        if state.abnormal_until_s is not None and now_s >= state.abnormal_until_s:
            state.abnormal_import_w = state.abnormal_until_s = None
        key = self._interval_key(state)
        k = key[1]
        if k is not None:
            interval = state.envelope.intervals[k]
            import_w, export_w, source = interval.import_limit_w or 0.0, interval.export_limit_w or 0.0, "envelope"
        else:
            import_w, export_w, source = state.firm_import_w, state.firm_export_w, "firm"
        if state.override_key is not None and state.override_key != key:
            state.override_import_w = state.override_export_w = None
            state.override_key = None
        if state.override_import_w is not None or state.override_export_w is not None:
            source = "operator"
            import_w = state.override_import_w if state.override_import_w is not None else import_w
            export_w = state.override_export_w if state.override_export_w is not None else export_w
        if state.abnormal_import_w is not None and state.abnormal_import_w < import_w:
            import_w, source = state.abnormal_import_w, "abnormal"
        return import_w, export_w, source

    async def _refresh(self, site: str) -> None:
        """Write the limits in force if they changed (caller holds the lock)."""
        state = self._sites[site]
        was_abnormal = state.abnormal_import_w is not None
        limits = self._limits(state)
        if was_abnormal and state.abnormal_import_w is None:
            await self._write_abnormal(site, state)
        if limits == state.applied:
            return
        import_w, export_w, source = limits
        previous = state.applied
        if previous is None or previous[0] != import_w:
            await self._write(site, model.IMPORT_LIMIT, import_w, ua.VariantType.Double)
        if previous is None or previous[1] != export_w:
            await self._write(site, model.EXPORT_LIMIT, export_w, ua.VariantType.Double)
        if previous is None or previous[2] != source:
            await self._write(site, model.LIMIT_SOURCE, source, ua.VariantType.String)
        state.applied = limits

    async def _run(self) -> None:
        while True:
            try:
                async with self._lock:
                    now_s = self._clock()
                    beat = now_s >= self._next_heartbeat_s
                    if beat:
                        self._next_heartbeat_s = max(self._next_heartbeat_s + self.config.heartbeat_interval_s, now_s)
                    for name, state in self._sites.items():
                        if beat and not state.heartbeat_paused:
                            state.heartbeat = (state.heartbeat + 1) & 0xFFFFFFFF
                            await self._write(name, model.HEARTBEAT, state.heartbeat, ua.VariantType.UInt32)
                        await self._refresh(name)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep serving; a bug in one tick must not silence the heartbeat for good
                _log.exception("envelope server tick failed")
            await asyncio.sleep(self.config.tick_s)

    async def _written(self, user: User, rules: list[WriteRule]) -> None:
        """After a client's successful writes: operator limit changes, site write-backs."""
        by_site: dict[str, list[WriteRule]] = {}
        for rule in rules:
            by_site.setdefault(rule.site, []).append(rule)
        for site, site_rules in by_site.items():
            names = {r.variable for r in site_rules}
            if site_rules[0].writer == Writer.OPERATOR:
                await self._operator_wrote(site, names)
            else:
                await self._notify(site, tuple(sorted(names)))

    async def _operator_wrote(self, site: str, names: set[str]) -> None:
        state = self._sites[site]
        async with self._lock:
            if model.FIRM_IMPORT_LIMIT in names:
                state.firm_import_w = self._value(site, model.FIRM_IMPORT_LIMIT)
            if model.FIRM_EXPORT_LIMIT in names:
                state.firm_export_w = self._value(site, model.FIRM_EXPORT_LIMIT)
            if names & {model.IMPORT_LIMIT, model.EXPORT_LIMIT}:
                self._set_override(
                    state,
                    self._value(site, model.IMPORT_LIMIT) if model.IMPORT_LIMIT in names else None,
                    self._value(site, model.EXPORT_LIMIT) if model.EXPORT_LIMIT in names else None,
                )
                state.applied = None  # the node already holds the written value; rewrite what is in force
            await self._refresh(site)

    async def _notify(self, site: str, names: tuple[str, ...]) -> None:
        if not self._listeners:
            return
        v = self._value
        report = SiteReport(
            site=site,
            measured_p_w=v(site, model.MEASURED_P),
            measured_q_var=v(site, model.MEASURED_Q),
            applied_import_limit_w=v(site, model.APPLIED_IMPORT_LIMIT),
            applied_export_limit_w=v(site, model.APPLIED_EXPORT_LIMIT),
            measurement_time=v(site, model.MEASUREMENT_TIME),
            received_s=self._clock(),
            variables=names,
        )
        for listener in list(self._listeners):
            try:
                result = listener(report)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                _log.exception("report listener failed")

    # Methods (the operator role is checked per request by RolePermissions) ----
    def _site_of(self, parent: ua.NodeId) -> str:
        return self._site_by_node[parent]

    async def _method_publish(self, parent: ua.NodeId, *args: ua.Variant) -> Any:
        if len(args) != 4:
            return ua_status(ua.StatusCodes.BadArgumentsMissing)
        starts, durations, imports, exports = (list(a.Value or []) for a in args)
        if not len(starts) == len(durations) == len(imports) == len(exports):
            return ua_status(ua.StatusCodes.BadInvalidArgument)
        rows = [
            {"start": s, "duration_s": d, "import_limit_w": i, "export_limit_w": e}
            for s, d, i, e in zip(starts, durations, imports, exports)
        ]
        try:
            version = await self.publish_envelope(self._site_of(parent), from_rows(rows))
        except EnvelopeError as exc:
            _log.info("PublishEnvelope refused: %s", exc)
            return ua_status(exc.status)
        return [ua.Variant(version, ua.VariantType.UInt32)]

    async def _method_signal_abnormal(self, parent: ua.NodeId, *args: ua.Variant) -> Any:
        if len(args) != 2:
            return ua_status(ua.StatusCodes.BadArgumentsMissing)
        try:
            max_import_w, duration_s = float(args[0].Value), float(args[1].Value)
            await self.signal_abnormal(max_import_w, duration_s or None, [self._site_of(parent)])
        except (TypeError, ValueError) as exc:
            _log.info("SignalAbnormal refused: %s", exc)
            return ua_status(getattr(exc, "status", ua.StatusCodes.BadInvalidArgument))
        return []

    async def _method_clear_abnormal(self, parent: ua.NodeId, *args: ua.Variant) -> Any:
        await self.clear_abnormal([self._site_of(parent)])
        return []
