"""One call sets up a bench's OPC-UA credentials: the PKI, an account per client, passwords on disk.

Each account is pinned to its own client certificate, so a site's password is
useless on another client. Passwords of the bench's own clients are kept in
DIR/private/passwords/NAME (mode 0600) so the lab's clients and the CLI can
log in without prompting; a real deployment hands them out and deletes them.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from flexbench.signals.opcua.accounts import OPERATOR, SITE, VIEWER, AccountStore
from flexbench.signals.opcua.pki import DEFAULT_HOSTS, OpcuaPKI

OPERATOR_ACCOUNT = "operator"
USERS_FILE = "users.json"


def passwords_dir(directory: str | os.PathLike[str]) -> Path:
    return Path(directory) / "private" / "passwords"


def read_password(directory: str | os.PathLike[str], name: str) -> str:
    path = passwords_dir(directory) / name
    if not path.is_file():
        raise FileNotFoundError(f"no password on file for {name!r} ({path})")
    return path.read_text().strip()


def _store_password(directory: Path, name: str, password: str) -> None:
    folder = passwords_dir(directory)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")


@dataclass(frozen=True)
class Provisioned:
    directory: Path
    accounts: list[str]
    created_pki: bool


def default_hosts() -> tuple[str, ...]:
    hostname = socket.gethostname()
    return DEFAULT_HOSTS + ((hostname,) if hostname and hostname not in DEFAULT_HOSTS else ())


def provision(
    directory: str | os.PathLike[str],
    sites: Iterable[str],
    hosts: tuple[str, ...] | None = None,
    viewers: Iterable[str] = (),
    operator: str = OPERATOR_ACCOUNT,
) -> Provisioned:
    """Create (or extend) the PKI and accounts: the operator, one per site, optional viewers. Idempotent."""
    pki = OpcuaPKI(directory)
    hosts = hosts or default_hosts()
    created = False
    if not pki.exists():
        pki.init(hosts)
        created = True
    accounts = AccountStore.load(pki.directory / USERS_FILE)
    wanted: list[tuple[str, str, str | None]] = [(operator, OPERATOR, None)]
    wanted += [(site, SITE, site) for site in sites]
    wanted += [(name, VIEWER, None) for name in viewers]
    names = [w[0] for w in wanted]
    if len(set(names)) != len(names):
        raise ValueError(f"account names must be unique (the operator is {operator!r}): {names}")
    for name, role, site in wanted:
        cert = pki.issue_client(name, hosts=hosts)
        existing = accounts.get(name)
        try:
            password = read_password(pki.directory, name)
        except FileNotFoundError:
            password = None
        if existing is not None and password is not None and existing.role == role and existing.site == site:
            continue
        password = password or secrets.token_urlsafe(18)
        accounts.add(name, role, password, site, [cert.cert_path.read_bytes()])
        _store_password(pki.directory, name, password)
    accounts.save(pki.directory / USERS_FILE)
    return Provisioned(pki.directory, names, created)
