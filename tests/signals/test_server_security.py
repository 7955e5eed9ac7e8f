"""Over real TLS on loopback: who is refused, who sees what, and bad XML changing nothing."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator

import pytest

from flexbench.core import Envelope
from flexbench.signals.csip import ServerThread
from flexbench.signals.csip.tls import client_context
from flexbench.signals.pki import TestPKI

from .conftest import BOMB_PUT, Http, http_for
from .test_xml_and_values import BOMB, XXE

SETTINGS = (
    b'<DERSettings xmlns="urn:ieee:std:2030.5:ns"><setGradW>100</setGradW><setMaxW><multiplier>0</multiplier>'
    b"<value>5000</value></setMaxW><updatedTime>1</updatedTime></DERSettings>"
)
SETTINGS_MISSING = (
    b'<DERSettings xmlns="urn:ieee:std:2030.5:ns"><setGradW>100</setGradW><updatedTime>1</updatedTime></DERSettings>'
)


@pytest.fixture(scope="module")
def server(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with ServerThread(tmp_path_factory.mktemp("sec") / "state.db", pki.directory) as srv:
        h = srv.headend
        h.register_device(pki.device_identity("dev-a").lfdi)
        h.register_device(pki.device_identity("dev-b").lfdi)
        h.register_device(pki.device_identity("aggregator").lfdi, kind="aggregator")
        for name in ("agg-site-1", "agg-site-2"):
            h.register_device(pki.device_identity(name).lfdi, aggregator_lfdi=pki.device_identity("aggregator").lfdi)
        now = int(time.time())
        h.publish_envelope(pki.device_identity("dev-b").lfdi, Envelope.of([(now, 3600, 4000, 2000)]))
        yield srv


def edev_id(server: ServerThread, pki: TestPKI, name: str) -> int:
    return int(server.headend.device(pki.device_identity(name).lfdi).id)


def client(server: ServerThread, pki: TestPKI, name: str) -> Http:
    return http_for(server.url, pki, pki.device_identity(name))


def test_registered_device_gets_its_tree(server: ServerThread, pki: TestPKI) -> None:
    a = client(server, pki, "dev-a")
    assert a.get("/dcap").status == 200
    me = edev_id(server, pki, "dev-a")
    assert a.get(f"/edev/{me}").status == 200
    listing = a.get("/edev?l=10").body
    assert pki.device_identity("dev-a").lfdi.encode() in listing
    assert pki.device_identity("dev-b").lfdi.encode() not in listing


def test_client_without_certificate_is_refused(server: ServerThread, pki: TestPKI) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        http_for(server.url, pki, None).get("/dcap")


def test_certificate_from_another_ca_is_refused(server: ServerThread, pki: TestPKI, foreign_pki: TestPKI) -> None:
    intruder = foreign_pki.device_identity("intruder")
    context = client_context(pki.ca_cert_path, intruder.cert_path, intruder.key_path)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        Http(server.url, context).get("/dcap")


@pytest.mark.parametrize(
    "ciphers", ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"]
)
def test_other_cipher_suites_are_refused(server: ServerThread, pki: TestPKI, ciphers: str) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        http_for(server.url, pki, pki.device_identity("dev-a"), ciphers=ciphers).get("/dcap")


def test_tls13_is_refused(server: ServerThread, pki: TestPKI) -> None:
    identity = pki.device_identity("dev-a")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(pki.ca_cert_path)
    context.load_cert_chain(identity.cert_path, identity.key_path)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        Http(server.url, context).get("/dcap")


def test_negotiated_suite_is_ccm8(server: ServerThread, pki: TestPKI) -> None:
    identity = pki.device_identity("dev-a")
    context = client_context(pki.ca_cert_path, identity.cert_path, identity.key_path)
    host, port = server.url.removeprefix("https://").rsplit(":", 1)
    import socket

    with socket.create_connection((host, int(port))) as raw, context.wrap_socket(raw, server_hostname=host) as tls:
        assert tls.cipher()[0] == "ECDHE-ECDSA-AES128-CCM8" and tls.version() == "TLSv1.2"


def test_unregistered_certificate_gets_403(server: ServerThread, pki: TestPKI) -> None:
    stranger = client(server, pki, "unregistered")
    for path in ("/dcap", "/edev", "/edev/1", "/mup"):
        assert stranger.get(path).status == 403


def test_device_a_cannot_see_or_change_device_b(server: ServerThread, pki: TestPKI) -> None:
    a = client(server, pki, "dev-a")
    b = edev_id(server, pki, "dev-b")
    for path in (
        f"/edev/{b}",
        f"/edev/{b}/fsa",
        f"/edev/{b}/fsa/1/derp",
        f"/edev/{b}/derp/2/derc",
        f"/edev/{b}/derp/2/dderc",
        f"/edev/{b}/der/1/derg",
        f"/edev/{b}/rg",
    ):
        assert a.get(path).status in (403, 404), path
    assert a.put(f"/edev/{b}/der/1/derg", SETTINGS).status in (403, 404)
    assert server.headend.der_reports(pki.device_identity("dev-b").lfdi)["settings"] is None
    control = server.headend.controls(pki.device_identity("dev-b").lfdi)[0]["mrid"]
    response = (
        f'<DERControlResponse xmlns="urn:ieee:std:2030.5:ns"><createdDateTime>1</createdDateTime>'
        f"<endDeviceLFDI>{pki.device_identity('dev-b').lfdi}</endDeviceLFDI><status>1</status>"
        f"<subject>{control}</subject></DERControlResponse>"
    ).encode()
    assert a.post("/rsps/1/rsp", response).status == 403
    assert server.headend.responses(pki.device_identity("dev-b").lfdi) == []


def test_aggregator_sees_its_devices_only(server: ServerThread, pki: TestPKI) -> None:
    agg = client(server, pki, "aggregator")
    listing = agg.get("/edev?l=50").body
    for name in ("agg-site-1", "agg-site-2"):
        assert pki.device_identity(name).lfdi.encode() in listing
        assert agg.get(f"/edev/{edev_id(server, pki, name)}/fsa/1/derp").status == 200
    assert pki.device_identity("dev-a").lfdi.encode() not in listing
    assert agg.get(f"/edev/{edev_id(server, pki, 'dev-a')}").status == 403
    site = client(server, pki, "agg-site-1")
    assert site.get(f"/edev/{edev_id(server, pki, 'agg-site-2')}").status == 403


@pytest.mark.parametrize(
    "body",
    [b"<DERSettings", BOMB, XXE, BOMB_PUT, SETTINGS_MISSING, b""],
    ids=["malformed", "bomb", "xxe", "bomb-attr", "missing-required", "empty"],
)
def test_bad_xml_gets_400_and_changes_nothing(server: ServerThread, pki: TestPKI, body: bytes) -> None:
    a = client(server, pki, "dev-a")
    me = edev_id(server, pki, "dev-a")
    before = server.headend.der_reports(pki.device_identity("dev-a").lfdi)
    responses_before = server.headend.responses()
    assert a.put(f"/edev/{me}/der/1/derg", body).status == 400
    assert a.post("/rsps/1/rsp", body).status == 400
    assert a.post("/mup", body).status == 400
    assert a.post(f"/edev/{me}/sub", body).status == 400
    assert server.headend.der_reports(pki.device_identity("dev-a").lfdi) == before
    assert server.headend.responses() == responses_before


def test_complete_der_settings_are_accepted(server: ServerThread, pki: TestPKI) -> None:
    a = client(server, pki, "dev-a")
    me = edev_id(server, pki, "dev-a")
    assert a.put(f"/edev/{me}/der/1/derg", SETTINGS).status == 204
    assert a.get(f"/edev/{me}/der/1/derg").status == 200
    assert server.headend.der_reports(pki.device_identity("dev-a").lfdi)["settings"]["setMaxW"]["value"] == 5000


def test_operator_calls_need_the_operator_certificate(server: ServerThread, pki: TestPKI) -> None:
    a = client(server, pki, "dev-a")
    assert a.post("/admin/call/devices", b"{}").status == 403


def test_bad_paging_parameters_get_400(server: ServerThread, pki: TestPKI) -> None:
    a = client(server, pki, "dev-a")
    assert a.get("/edev?s=x").status == 400
    assert a.get("/edev?l=-1").status == 400
