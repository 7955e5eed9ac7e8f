"""How the bench's OPC-UA clients connect: security policy, certificate, login, server check.

One `ClientSecurity` serves the site client, the operator's tools and the
device client. `from_pki` reads a bench client's certificate and password from
the test PKI; `insecure` is for device servers on a lab network that offer
only the None policy.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from asyncua import Client

from flexbench.signals.opcua.pki import OpcuaPKI
from flexbench.signals.opcua.provisioning import read_password
from flexbench.signals.opcua.security import message_mode, policy_class
from flexbench.signals.opcua.trust import TrustList

_log = logging.getLogger(__name__)
NO_SECURITY = "None"


@dataclass(frozen=True)
class ClientSecurity:
    """Everything a client needs to open a session; `trust_dir` verifies the server's certificate."""

    policy: str = "Basic256Sha256"
    mode: str = "sign-encrypt"
    certificate: Path | None = None
    private_key: Path | None = None
    application_uri: str | None = None
    username: str | None = None
    password: str | None = None
    trust_dir: Path | None = None

    @classmethod
    def from_pki(
        cls,
        directory: str | os.PathLike[str],
        name: str,
        policy: str = "Basic256Sha256",
        mode: str = "sign-encrypt",
        login: bool = True,
    ) -> ClientSecurity:
        """The bench client NAME of the PKI in `directory`: its certificate, and its password when `login`."""
        pki = OpcuaPKI(directory)
        cert = pki.client(name)
        return cls(
            policy=policy,
            mode=mode,
            certificate=cert.cert_path,
            private_key=cert.key_path,
            application_uri=cert.application_uri,
            username=name if login else None,
            password=read_password(directory, name) if login else None,
            trust_dir=pki.trust_dir,
        )

    @classmethod
    def insecure(cls, username: str | None = None, password: str | None = None) -> ClientSecurity:
        return cls(policy=NO_SECURITY, mode="none", username=username, password=password)

    def with_login(self, username: str | None, password: str | None) -> ClientSecurity:
        return ClientSecurity(
            self.policy,
            self.mode,
            self.certificate,
            self.private_key,
            self.application_uri,
            username,
            password,
            self.trust_dir,
        )


async def open_client(
    endpoint: str,
    security: ClientSecurity,
    timeout_s: float = 4.0,
    name: str = "flexbench",
    auto_reconnect: bool = False,
) -> Client:
    """A connected asyncua Client; raises asyncua's status errors (e.g. BadUserAccessDenied) on refusal.

    With `auto_reconnect`, asyncua reconnects after a lost connection and re-creates the subscriptions.
    """
    client = Client(endpoint, timeout=timeout_s, auto_reconnect=auto_reconnect, reconnect_max_delay=5.0)
    client.name = client.description = name
    client.session_timeout = 30_000  # ms: the server drops a vanished client's session after 30 s
    if security.application_uri:
        client.application_uri = security.application_uri
    if security.username:
        client.set_user(security.username)
        client.set_password(security.password or "")
    if security.policy != NO_SECURITY:
        if security.certificate is None or security.private_key is None:
            raise ValueError(f"security policy {security.policy} needs a client certificate and key")
        await client.set_security(
            policy_class(security.policy),
            str(security.certificate),
            str(security.private_key),
            mode=message_mode(security.mode),
        )
        if security.trust_dir is not None:
            client.certificate_validator = TrustList.from_dir(security.trust_dir).validator("server")
        else:
            _log.warning("connecting to %s without checking the server's certificate", endpoint)
    await client.connect()
    return client
