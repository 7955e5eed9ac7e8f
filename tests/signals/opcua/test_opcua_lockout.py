"""Wrong passwords over a real asyncua connection: slowed down, then locked out, then let in again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from asyncua import ua

from flexbench.signals.opcua import EnvelopeServerConfig, EnvelopeServerThread, open_client
from flexbench.signals.opcua.lockout import LoginGuard, LoginPolicy

from .conftest import SITE_A, SITE_B
from .test_opcua_access import status_name

POLICY = LoginPolicy(free_failures=2, first_delay_s=10.0, max_delay_s=60.0, lockout_failures=4, lockout_s=300.0)


class SteppedClock:
    """The server's clock, moved on by the test: delays pass without waiting for them."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset_s


@pytest.fixture(scope="module")
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture(scope="module")
def guarded_server(opcua_pki_dir: Path, clock: SteppedClock) -> Iterator[EnvelopeServerThread]:
    config = EnvelopeServerConfig(
        sites=[SITE_A, SITE_B],
        certs_dir=opcua_pki_dir,
        endpoint="opc.tcp://127.0.0.1:0/flexbench/lockout",
        login_policy=POLICY,
        clock=clock,
    )
    with EnvelopeServerThread(config) as server:
        yield server


def test_wrong_passwords_are_slowed_down_then_locked_out(guarded_server, security, run, clock) -> None:
    site = security(SITE_B.name)
    wrong = site.with_login(SITE_B.name, "not-the-password")

    def login(who) -> str:
        async def attempt() -> str:
            try:
                client = await open_client(guarded_server.endpoint, who)
            except ua.UaStatusCodeError as exc:
                return status_name(exc)
            await client.disconnect()
            return "Good"

        return run(attempt())

    assert login(site) == "Good"
    assert [login(wrong) for _ in range(POLICY.free_failures)] == ["BadUserAccessDenied"] * 2
    assert login(site) == "BadUserAccessDenied"  # slowed down: even the right password waits its turn
    clock.offset_s += POLICY.first_delay_s + 1
    assert login(wrong) == "BadUserAccessDenied"  # the third failure: twice the delay now
    assert login(site) == "BadUserAccessDenied"
    clock.offset_s += 2 * POLICY.first_delay_s + 1
    assert login(wrong) == "BadUserAccessDenied"  # the fourth: locked out
    clock.offset_s += POLICY.max_delay_s + 1  # past any delay, within the lockout
    assert login(site) == "BadUserAccessDenied"
    assert login(security(SITE_A.name)) == "Good"  # other accounts are not affected
    clock.offset_s += POLICY.lockout_s
    assert login(site) == "Good"  # the lockout over, the right password lets the account in
    assert login(wrong) == "BadUserAccessDenied" and login(site) == "Good"  # and its record starts afresh


def test_twenty_quick_guesses_get_only_the_free_failures_checked() -> None:
    """Today's attack (20 guesses in about 4 s) has a few passwords checked, not 20; slow guesses get locked out."""
    policy = LoginPolicy()
    now = [1000.0]
    guard = LoginGuard(policy, lambda: now[0])
    checked = 0
    for _ in range(20):
        if guard.refusal("site-a") is None:
            checked += 1
            guard.failed("site-a")
        now[0] += 0.21
    assert policy.free_failures <= checked <= policy.free_failures + 2  # then 1 s, 2 s, ... between checks

    slow = LoginGuard(policy, lambda: now[0])
    checked = 0
    while "locked" not in (slow.refusal("site-b") or ""):  # a guess a minute, past every delay
        assert slow.refusal("site-b") is None and checked < 100
        checked += 1
        slow.failed("site-b")
        now[0] += policy.max_delay_s + 1
    assert checked == policy.lockout_failures
    now[0] += policy.lockout_s
    assert slow.refusal("site-b") is None
