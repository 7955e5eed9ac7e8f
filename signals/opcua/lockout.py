"""Repeated wrong passwords for an account are slowed down, then locked out.

Each account has a few free failures; after those, every further try must wait a delay that
doubles with each failure (a try inside it is refused unchecked, and does not count), and a run
of `lockout_failures` locks the account for `lockout_s`, the right password included. A login
that succeeds clears the account's record. Only a client with a trusted certificate gets as far
as a password, so a stranger cannot lock an account; a trusted one can, which is the price of
not letting it guess.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginPolicy:
    free_failures: int = 5  # wrong passwords in a row with no wait
    first_delay_s: float = 1.0  # then the next try waits this long, twice as long after each failure ...
    max_delay_s: float = 60.0  # ... up to this
    lockout_failures: int = 10  # failures in a row that lock the account ...
    lockout_s: float = 900.0  # ... for this long

    def __post_init__(self) -> None:
        if not 0 <= self.free_failures < self.lockout_failures:
            raise ValueError("a login policy needs 0 <= free_failures < lockout_failures")
        if min(self.first_delay_s, self.max_delay_s, self.lockout_s) <= 0:
            raise ValueError("login policy delays must be positive")


@dataclass
class _Record:
    failures: int = 0
    not_before_s: float = 0.0  # no try is checked before this time (a delay, or the lockout)


class LoginGuard:
    """Per account: whether a try may be checked now, and what a failure or success does."""

    def __init__(self, policy: LoginPolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self.clock = clock
        self._records: dict[str, _Record] = {}

    def refusal(self, account: str) -> str | None:
        """Why a try for this account is refused unchecked now, or None if it may be checked."""
        record = self._records.get(account)
        if record is None:
            return None
        wait_s = record.not_before_s - self.clock()
        if wait_s <= 0:
            return None
        locked = record.failures >= self.policy.lockout_failures
        return f"account {account} is {'locked' if locked else 'slowed down'} for {wait_s:.0f} s more"

    def failed(self, account: str) -> None:
        record = self._records.setdefault(account, _Record())
        record.failures += 1
        policy = self.policy
        if record.failures >= policy.lockout_failures:
            record.not_before_s = self.clock() + policy.lockout_s
            _log.warning("account %s locked for %g s after %d wrong logins", account, policy.lockout_s, record.failures)
        elif record.failures >= policy.free_failures:
            delay_s = policy.first_delay_s * 2 ** (record.failures - policy.free_failures)
            record.not_before_s = self.clock() + min(delay_s, policy.max_delay_s)

    def succeeded(self, account: str) -> None:
        self._records.pop(account, None)
