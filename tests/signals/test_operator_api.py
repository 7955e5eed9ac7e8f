"""Over real TLS: the operator revokes and restores a client's access, and sets pollRates per resource."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from flexbench.signals.csip import ServerThread
from flexbench.signals.csip.operator_client import OperatorClient, OperatorError
from flexbench.signals.pki import TestPKI

from .conftest import Http, http_for


@pytest.fixture
def server(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with ServerThread(tmp_path_factory.mktemp("operator") / "state.db", pki.directory) as srv:
        for name in ("dev-a", "dev-b"):
            srv.headend.register_device(pki.device_identity(name).lfdi)
        yield srv


def operator(server: ServerThread, pki: TestPKI) -> OperatorClient:
    return OperatorClient.from_certs_dir(server.url, pki.directory)


def device(server: ServerThread, pki: TestPKI, name: str) -> tuple[Http, int]:
    lfdi = pki.device_identity(name).lfdi
    return http_for(server.url, pki, pki.device_identity(name)), int(server.headend.device(lfdi).id)


def test_a_revoked_certificate_gets_403_everywhere_until_restored(server: ServerThread, pki: TestPKI) -> None:
    a, a_id = device(server, pki, "dev-a")
    b, b_id = device(server, pki, "dev-b")
    paths = ("/dcap", "/tm", "/edev", f"/edev/{a_id}", f"/edev/{a_id}/fsa", f"/edev/{a_id}/derp/2/derc", "/mup")
    assert a.get(f"/edev/{a_id}").status == 200  # cached, so revoking must reach past the cache

    revoked = operator(server, pki).set_client_access(pki.device_identity("dev-a").lfdi, granted=False)

    assert revoked["enabled"] is False
    assert {p: a.get(p).status for p in paths} == dict.fromkeys(paths, 403)
    assert a.put(f"/edev/{a_id}/der/1/ders", b"<DERStatus/>").status == 403
    assert b.get(f"/edev/{b_id}").status == 200  # another client is untouched

    operator(server, pki).set_client_access(pki.device_identity("dev-a").lfdi, granted=True)

    assert {p: a.get(p).status for p in paths} == dict.fromkeys(paths, 200)


def test_access_of_an_unknown_client_is_404(server: ServerThread, pki: TestPKI) -> None:
    with pytest.raises(OperatorError, match="no device registered"):
        operator(server, pki).set_client_access("0" * 40, granted=False)


def poll_rate(body: bytes) -> int:
    return int(re.search(rb'pollRate="(\d+)"', body).group(1))  # type: ignore[union-attr]


def test_poll_rates_per_resource_and_per_device_fall_back_to_the_global_one(server: ServerThread, pki: TestPKI) -> None:
    a, a_id = device(server, pki, "dev-a")
    b, b_id = device(server, pki, "dev-b")
    default_s = server.headend.config.poll_rate_s
    assert poll_rate(a.get(f"/edev/{a_id}/fsa").body) == default_s  # cached before the change
    op = operator(server, pki)

    op.set_poll_rate("FunctionSetAssignmentsList", 300)
    op.set_poll_rate("FunctionSetAssignmentsList", 60, lfdi=pki.device_identity("dev-a").lfdi)
    op.set_poll_rate("EndDeviceList", 45)

    assert poll_rate(a.get(f"/edev/{a_id}/fsa").body) == 60
    assert poll_rate(b.get(f"/edev/{b_id}/fsa").body) == 300
    assert poll_rate(a.get("/edev").body) == 45
    assert poll_rate(a.get(f"/edev/{a_id}/fsa/1/derp").body) == default_s  # another list keeps the global one
    assert poll_rate(a.get("/dcap").body) == default_s

    op.set_poll_rate("FunctionSetAssignmentsList", None, lfdi=pki.device_identity("dev-a").lfdi)
    assert poll_rate(a.get(f"/edev/{a_id}/fsa").body) == 300


@pytest.mark.parametrize(("resource", "rate_s"), [("DERControl", 60), ("EndDeviceList", 0), ("EndDeviceList", 2**32)])
def test_a_poll_rate_the_server_cannot_announce_is_refused(
    server: ServerThread, pki: TestPKI, resource: str, rate_s: int
) -> None:
    with pytest.raises(OperatorError, match="resource must be|rate_s must be"):
        operator(server, pki).set_poll_rate(resource, rate_s)
