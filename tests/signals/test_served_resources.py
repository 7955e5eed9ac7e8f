"""Over real TLS: what clients PUT and POST comes back as the server's resources, under the standard's rules.

DER documents are served with their own href; an unregistered certificate may walk discovery (an empty
MirrorUsagePointList) when in-band registration is allowed; mRIDs are unique across clients; a
ConnectionPoint's id is an NMI.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flexbench.signals.csip import HeadEndConfig, ServerThread
from flexbench.signals.csip.nmi import nmi_checksum, validate_nmi
from flexbench.signals.csip.xmlio import parse_tree
from flexbench.signals.pki import TestPKI

from .conftest import Http, http_for
from .test_registration_and_readings import CONNECTION_POINT, MUP, READING

NS = "{urn:ieee:std:2030.5:ns}"
DER_DOCUMENTS = {
    "ders": '<DERStatus xmlns="urn:ieee:std:2030.5:ns"><genConnectStatus><dateTime>1</dateTime><value>01</value>'
    "</genConnectStatus><readingTime>1</readingTime></DERStatus>",
    "dercap": '<DERCapability xmlns="urn:ieee:std:2030.5:ns"><modesSupported>00500088</modesSupported>'
    "<rtgMaxW><multiplier>0</multiplier><value>5000</value></rtgMaxW><type>4</type></DERCapability>",
    "derg": '<DERSettings xmlns="urn:ieee:std:2030.5:ns"><setGradW>100</setGradW><setMaxW><multiplier>0</multiplier>'
    "<value>5000</value></setMaxW><updatedTime>1</updatedTime></DERSettings>",
}


@pytest.fixture(scope="module")
def server(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    config = HeadEndConfig(allow_in_band_registration=True)
    with ServerThread(tmp_path_factory.mktemp("served") / "state.db", pki.directory, config=config) as srv:
        for name in ("dev-a", "dev-b"):
            srv.headend.register_device(pki.device_identity(name).lfdi)
        yield srv


def client(server: ServerThread, pki: TestPKI, name: str) -> tuple[Http, int]:
    identity = pki.device_identity(name)
    return http_for(server.url, pki, identity), int(server.headend.device(identity.lfdi).id)


@pytest.mark.parametrize("kind", sorted(DER_DOCUMENTS))
def test_a_der_document_put_is_served_back_with_its_href(server: ServerThread, pki: TestPKI, kind: str) -> None:
    a, me = client(server, pki, "dev-a")
    href = f"/edev/{me}/der/1/{kind}"
    assert a.put(href, DER_DOCUMENTS[kind].encode()).status == 204
    got = a.get(href)
    assert got.status == 200
    assert parse_tree(got.body).get("href") == href


def test_an_unregistered_certificate_discovers_an_empty_mirror_usage_point_list(
    server: ServerThread, pki: TestPKI
) -> None:
    stranger = http_for(server.url, pki, pki.device_identity("unregistered"))
    got = stranger.get("/mup")
    assert got.status == 200
    listing = parse_tree(got.body)
    assert listing.get("all") == "0" and listing.find(f"{NS}MirrorUsagePoint") is None
    assert (
        stranger.post("/mup", MUP.format(mrid="EE01" * 8, lfdi=pki.device_identity("dev-a").lfdi).encode()).status
        == 403
    )


def test_mrids_are_unique_across_clients(server: ServerThread, pki: TestPKI) -> None:
    (a, _), (b, _) = client(server, pki, "dev-a"), client(server, pki, "dev-b")
    lfdi_a, lfdi_b = pki.device_identity("dev-a").lfdi, pki.device_identity("dev-b").lfdi
    mup_b = b.post("/mup", MUP.format(mrid="BB01" * 8, lfdi=lfdi_b).encode())
    assert mup_b.status == 201
    assert b.post(mup_b.headers["Location"], READING.format(mrid="BB02" * 8, value=1).encode()).status == 201
    assert a.post("/mup", MUP.format(mrid="BB01" * 8, lfdi=lfdi_a).encode()).status == 400
    mup_a = a.post("/mup", MUP.format(mrid="AA01" * 8, lfdi=lfdi_a).encode())
    assert mup_a.status == 201
    assert a.post(mup_a.headers["Location"], READING.format(mrid="BB02" * 8, value=2).encode()).status == 400
    assert a.post(mup_a.headers["Location"], READING.format(mrid="AA02" * 8, value=3).encode()).status == 201
    assert [r.value for r in server.headend.telemetry(lfdi_a)] == [3]
    assert [r.value for r in server.headend.telemetry(lfdi_b)] == [1]


@pytest.mark.parametrize("nmi", ["NOTAVALIDID", "4102000000", "41020000003", "410200000", "4102O00000", ""])
def test_a_connection_point_id_that_is_no_nmi_is_refused(server: ServerThread, pki: TestPKI, nmi: str) -> None:
    a, me = client(server, pki, "dev-a")
    assert a.put(f"/edev/{me}/cp", CONNECTION_POINT.format(nmi="41020000026").encode()).status in (201, 204)
    if nmi == "4102000000":  # ten characters without the checksum digit are an NMI too
        assert a.put(f"/edev/{me}/cp", CONNECTION_POINT.format(nmi=nmi).encode()).status in (201, 204)
        return
    assert a.put(f"/edev/{me}/cp", CONNECTION_POINT.format(nmi=nmi).encode()).status == 400
    assert server.headend.device(pki.device_identity("dev-a").lfdi).connection_point_id == "41020000026"


def test_nmi_checksums_are_aemos() -> None:
    assert [nmi_checksum(n) for n in ("4102000000", "4102000002", "QAAAVZZZZZ", "2001985732")] == [2, 6, 3, 8]
    assert validate_nmi("QAAAVZZZZZ3") == "QAAAVZZZZZ3"
