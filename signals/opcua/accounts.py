"""User accounts of the envelope server: who may connect, and in which role.

Roles: `operator` writes limits and calls the envelope methods; `site` writes
only its own site's measurement variables; `viewer` reads. Passwords are kept
as salted scrypt hashes in `users.json`; an account may also be pinned to the
SHA-256 fingerprints of the client certificates it must connect with, so a
stolen password is useless without the site's key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

OPERATOR = "operator"
SITE = "site"
VIEWER = "viewer"
ROLES = (OPERATOR, SITE, VIEWER)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# scrypt cost: about 30 ms per check, paid once per session activation.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return (
        f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    )


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, digest = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        candidate = hashlib.scrypt(password.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(digest))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate, digest)


def certificate_fingerprint(cert_der: bytes) -> str:
    return hashlib.sha256(cert_der).hexdigest()


@dataclass
class Account:
    """One login: its role, the site it speaks for (role `site`), and its credentials."""

    name: str
    role: str
    site: str | None = None
    password_hash: str | None = None
    certificate_sha256: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise ValueError(f"account name {self.name!r}: use letters, digits, '_', '.', '-' (at most 64)")
        if self.role not in ROLES:
            raise ValueError(f"account {self.name}: role must be one of {', '.join(ROLES)}, got {self.role!r}")
        if (self.role == SITE) != (self.site is not None):
            raise ValueError(f"account {self.name}: a site account names its site, and only a site account does")


class AccountStore:
    """Accounts by name, loaded from and saved to a JSON file (`users.json` of the PKI directory)."""

    def __init__(self, accounts: list[Account] | None = None, path: Path | None = None) -> None:
        self.path = path
        self._accounts: dict[str, Account] = {}
        for account in accounts or []:
            self.put(account)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AccountStore:
        path = Path(path)
        if not path.is_file():
            return cls(path=path)
        try:
            rows = json.loads(path.read_text())
            accounts = [Account(**row) for row in rows]
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: not a valid accounts file ({exc})") from exc
        return cls(accounts, path)

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("no path to save the accounts to")
        rows = [asdict(a) for a in sorted(self._accounts.values(), key=lambda a: a.name)]
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(rows, fh, indent=1)
        self.path = target
        return target

    def put(self, account: Account) -> None:
        self._accounts[account.name] = account

    def add(
        self,
        name: str,
        role: str,
        password: str | None = None,
        site: str | None = None,
        certificates_der: list[bytes] | None = None,
    ) -> Account:
        """Create or replace an account; the password is stored only as its hash."""
        account = Account(
            name,
            role,
            site,
            hash_password(password) if password is not None else None,
            [certificate_fingerprint(der) for der in certificates_der or []],
        )
        self.put(account)
        return account

    def get(self, name: str | None) -> Account | None:
        return self._accounts.get(name) if name else None

    def __iter__(self) -> Iterator[Account]:
        return iter(sorted(self._accounts.values(), key=lambda a: a.name))

    def __len__(self) -> int:
        return len(self._accounts)

    def authenticate(self, username: str, password: str, channel_certificate_der: bytes | None) -> Account | None:
        """The account for these credentials, or None; checks the certificate pin when the account has one."""
        account = self._accounts.get(username)
        if account is None or account.password_hash is None:
            return None
        if not password_matches(password or "", account.password_hash):
            return None
        if account.certificate_sha256:
            if channel_certificate_der is None:
                return None
            if certificate_fingerprint(channel_certificate_der) not in account.certificate_sha256:
                return None
        return account
