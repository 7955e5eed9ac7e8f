"""In-process and HTTPS operators are one Protocol: same calls, same parameters, same defaults."""

from __future__ import annotations

import inspect
import time
from pathlib import Path

import pytest

from flexbench.signals.csip import OperatorClient, ServerThread
from flexbench.signals.csip.headend import HeadEnd
from flexbench.signals.csip.operator_api import OPERATOR_CALLS, OperatorApi
from flexbench.signals.csip.server import ADMIN_METHODS
from flexbench.signals.pki import TestPKI


def _parameters(function: object) -> list[tuple[str, object, object]]:
    """(name, kind, default) of each parameter but self; a **kwargs parameter by kind alone (its name is free)."""
    out = []
    for p in inspect.signature(function).parameters.values():  # type: ignore[arg-type]
        if p.name == "self":
            continue
        out.append(("**", p.kind, None) if p.kind is p.VAR_KEYWORD else (p.name, p.kind, p.default))
    return out


def test_the_https_admin_api_serves_exactly_the_operator_calls() -> None:
    assert ADMIN_METHODS == OPERATOR_CALLS
    assert {"publish_envelope", "register_device", "der_reports"} <= OPERATOR_CALLS


@pytest.mark.parametrize("name", sorted(OPERATOR_CALLS))
def test_both_operators_take_the_protocols_parameters(name: str) -> None:
    expected = _parameters(getattr(OperatorApi, name))
    assert _parameters(getattr(HeadEnd, name)) == expected, f"HeadEnd.{name}"
    assert _parameters(getattr(OperatorClient, name)) == expected, f"OperatorClient.{name}"


def test_both_operators_are_instances_of_the_protocol(pki: TestPKI, tmp_path: Path) -> None:
    headend = HeadEnd(tmp_path / "state.db")
    try:
        assert isinstance(headend, OperatorApi)
    finally:
        headend.close()
    assert isinstance(OperatorClient.from_certs_dir("https://127.0.0.1:1", pki.directory), OperatorApi)
    assert not isinstance(object(), OperatorApi)


def test_reset_device_over_https_clears_what_the_last_test_left(pki: TestPKI, tmp_path: Path) -> None:
    lfdi = pki.device_identity("cli").lfdi
    with ServerThread(tmp_path / "state.db", pki.directory) as server:
        operator = OperatorClient.from_certs_dir(server.url, pki.directory)
        operator.register_device(lfdi)
        operator.publish_control(lfdi, time.time() + 60, 600, {"export_limit_w": 1000.0})
        assert operator.reset_device(lfdi)["controls"] == 1
        assert operator.controls(lfdi, listed_only=True) == []
