"""Access control of the envelope server, at the three places asyncua lets a server decide.

1. Session activation (`AccountUserManager`): a secure channel with a trusted
   certificate and valid credentials, or nothing. asyncua lets a client open a
   None channel even when no None endpoint is offered; such a channel carries
   no certificate, so activation is refused there and every later service
   needs an activated session.
2. Request (`RolePermissions`): only the operator may call methods; viewers
   and anonymous readers may not write; a site may read and subscribe to its
   own site's nodes only (neighbours' measurements are customer data).
3. Each written value (`GuardedAttributeService`): the writer's role and site
   must own the variable, the type must match and the value must lie in the
   site's physical range, else the item gets a Bad status and nothing changes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from asyncua import ua
from asyncua.common.utils import Buffer
from asyncua.crypto.permission_rules import USER_TYPES, PermissionRuleset, User, UserRole
from asyncua.server.address_space import AddressSpace, AttributeService

from flexbench.signals.opcua.accounts import OPERATOR, SITE, AccountStore
from flexbench.signals.opcua.ids import ua_node_id, ua_status
from flexbench.signals.opcua.lockout import LoginGuard, LoginPolicy
from flexbench.signals.opcua.trust import TrustList

_log = logging.getLogger(__name__)
_USER_TYPE_IDS = {ua_node_id(t) for t in USER_TYPES}
_CALL = ua_node_id(ua.ObjectIds.CallRequest_Encoding_DefaultBinary)
_WRITE = ua_node_id(ua.ObjectIds.WriteRequest_Encoding_DefaultBinary)
_READ_ONLY_TYPE_IDS = _USER_TYPE_IDS - {_CALL, _WRITE}
_SITE_TYPE_IDS = _USER_TYPE_IDS - {_CALL}
_READ = ua_node_id(ua.ObjectIds.ReadRequest_Encoding_DefaultBinary)
_MONITOR = ua_node_id(ua.ObjectIds.CreateMonitoredItemsRequest_Encoding_DefaultBinary)
_HISTORY_READ = ua_node_id(ua.ObjectIds.HistoryReadRequest_Encoding_DefaultBinary)


class SiteScope:
    """Which site a node of the envelope namespace belongs to: `<site>.<Variable>` or `Sites/<site>`."""

    def __init__(self, namespace_index: int, sites: list[str]) -> None:
        self.namespace_index = namespace_index
        self.sites = set(sites)

    def owner(self, nodeid: ua.NodeId) -> str | None:
        if nodeid.NamespaceIndex != self.namespace_index or not isinstance(nodeid.Identifier, str):
            return None
        ident = nodeid.Identifier
        name = ident[len("Sites/") :] if ident.startswith("Sites/") else ident.split(".", 1)[0]
        return name if name in self.sites else None

    def requested_nodes(self, action_type_id: ua.NodeId, body: Buffer) -> list[ua.NodeId]:
        """The nodes a Read, HistoryRead or CreateMonitoredItems request names (parsed from a copy of the body)."""
        from asyncua.ua.ua_binary import struct_from_binary

        if action_type_id == _READ:
            return [r.NodeId for r in struct_from_binary(ua.ReadParameters, body.copy()).NodesToRead]
        if action_type_id == _MONITOR:
            items = struct_from_binary(ua.CreateMonitoredItemsParameters, body.copy()).ItemsToCreate
            return [i.ItemToMonitor.NodeId for i in items]
        if action_type_id == _HISTORY_READ:
            return [r.NodeId for r in struct_from_binary(ua.HistoryReadParameters, body.copy()).NodesToRead]
        return []


class AccountUserManager:
    """asyncua user manager: an account's user, a read-only anonymous user when allowed, else None (refused)."""

    def __init__(
        self,
        accounts: AccountStore,
        trust: TrustList,
        allow_anonymous: bool = False,
        guard: LoginGuard | None = None,
    ) -> None:
        self.accounts = accounts
        self.trust = trust
        self.allow_anonymous = allow_anonymous
        self.guard = guard or LoginGuard(LoginPolicy(), time.time)

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: bytes | None = None,
    ) -> User | None:
        # `certificate` is the secure channel's client certificate: None on an unsecured channel.
        if certificate is None or not self.trust.is_trusted(certificate):
            return None
        if username:
            return self._login(username, password or "", certificate)
        if self.allow_anonymous:
            return User(role=UserRole.Anonymous, name=None)
        return None

    def _login(self, username: str, password: str, certificate: bytes) -> User | None:
        """An account's login, slowed down and then locked out after wrong passwords (signals.opcua.lockout)."""
        refusal = self.guard.refusal(username)
        if refusal is not None:
            _log.info("login refused unchecked: %s", refusal)
            return None
        account = self.accounts.authenticate(username, password, certificate)
        if account is None:
            if self.accounts.get(username) is not None:  # unknown names are not kept: memory stays bounded
                self.guard.failed(username)
            return None
        self.guard.succeeded(username)
        return User(role=UserRole.User, name=account.name)


class RolePermissions(PermissionRuleset):
    """Request types per role; what a write may touch is decided per value by GuardedAttributeService."""

    def __init__(self, accounts: AccountStore, scope: SiteScope | None = None) -> None:
        self.accounts = accounts
        self.scope = scope

    def check_validity(self, user: User | None, action_type_id: ua.NodeId, body: Any) -> bool:
        if user is None:
            return False
        if user.role == UserRole.Admin:
            return True
        account = self.accounts.get(user.name)
        if account is None:
            return action_type_id in _READ_ONLY_TYPE_IDS and user.role == UserRole.Anonymous
        if account.role == OPERATOR:
            return action_type_id in _USER_TYPE_IDS
        if account.role == SITE:
            return action_type_id in _SITE_TYPE_IDS and self._own_site_only(account.site, action_type_id, body)
        return action_type_id in _READ_ONLY_TYPE_IDS

    def _own_site_only(self, site: str | None, action_type_id: ua.NodeId, body: Any) -> bool:
        if self.scope is None or not isinstance(body, Buffer):
            return True
        try:
            nodes = self.scope.requested_nodes(action_type_id, body)
        except Exception:  # a request we cannot parse is not one we let through
            return False
        return all(self.scope.owner(n) in (None, site) for n in nodes)


@dataclass(frozen=True)
class WriteRule:
    """Who may write one variable from outside, and what it accepts."""

    site: str
    variable: str
    writer: str  # model.Writer.OPERATOR or model.Writer.SITE
    variant_type: ua.VariantType
    low: float | None = None
    high: float | None = None


def _status(code: int) -> ua.StatusCode:
    return ua_status(code)


class WritePolicy:
    """The per-value decision: returns a Bad status to refuse, None to let the write through."""

    def __init__(self, accounts: AccountStore, rules: dict[ua.NodeId, WriteRule]) -> None:
        self.accounts = accounts
        self.rules = rules

    def refuse(self, user: User, item: ua.WriteValue) -> ua.StatusCode | None:
        rule = self.rules.get(item.NodeId)
        if item.AttributeId != ua.AttributeIds.Value or rule is None:
            return _status(ua.StatusCodes.BadNotWritable)
        account = self.accounts.get(user.name)
        if account is None or account.role != rule.writer or (account.role == SITE and account.site != rule.site):
            return _status(ua.StatusCodes.BadUserAccessDenied)
        if item.IndexRange:
            return _status(ua.StatusCodes.BadIndexRangeInvalid)
        dv = item.Value
        variant = dv.Value if dv is not None else None
        if variant is None or variant.Value is None or variant.VariantType != rule.variant_type or variant.is_array:
            return _status(ua.StatusCodes.BadTypeMismatch)
        if dv.StatusCode is not None and not dv.StatusCode.is_good():
            return _status(ua.StatusCodes.BadTypeMismatch)
        if rule.variant_type == ua.VariantType.Double:
            value = float(variant.Value)
            if not math.isfinite(value):
                return _status(ua.StatusCodes.BadOutOfRange)
            if (rule.low is not None and value < rule.low) or (rule.high is not None and value > rule.high):
                return _status(ua.StatusCodes.BadOutOfRange)
        return None


WrittenHook = Callable[[User, list[WriteRule]], Awaitable[None]]


class GuardedAttributeService(AttributeService):
    """asyncua's attribute service with a per-value policy in front of every write from a client."""

    def __init__(self, aspace: AddressSpace, policy: WritePolicy, on_written: WrittenHook) -> None:
        super().__init__(aspace)
        self.policy = policy
        self.on_written = on_written

    async def write(self, params: ua.WriteParameters, user: User = User(role=UserRole.Admin)) -> list[ua.StatusCode]:  # noqa: B008 (an immutable default user)
        if user.role == UserRole.Admin:  # the server's own session
            return await super().write(params, user)
        results: list[ua.StatusCode] = []
        written: list[WriteRule] = []
        for item in params.NodesToWrite:
            status = self.policy.refuse(user, item)
            if status is None:
                status = (await super().write(ua.WriteParameters(NodesToWrite=[item]), user))[0]
                if status.is_good():
                    written.append(self.policy.rules[item.NodeId])
            results.append(status)
        if written:
            await self.on_written(user, written)
        return results
