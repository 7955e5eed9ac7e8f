"""Over real TLS: what the CSIP-AUS procedures ask of registration, ConnectionPoint, readings and defaults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from envoy_schema.server.schema.sep2.der import DefaultDERControl

from flexbench.signals.csip import HeadEndConfig, ServerThread
from flexbench.signals.pki import TestPKI

from .conftest import Http, http_for

ENDDEVICE = '<EndDevice xmlns="urn:ieee:std:2030.5:ns"><sFDI>{sfdi}</sFDI><lFDI>{lfdi}</lFDI><changedTime>0</changedTime></EndDevice>'
CONNECTION_POINT = (
    '<ConnectionPoint xmlns="https://csipaus.org/ns"><connectionPointId>{nmi}</connectionPointId></ConnectionPoint>'
)
MUP = (
    '<MirrorUsagePoint xmlns="urn:ieee:std:2030.5:ns"><mRID>{mrid}</mRID><roleFlags>03</roleFlags>'
    "<serviceCategoryKind>0</serviceCategoryKind><status>1</status><deviceLFDI>{lfdi}</deviceLFDI></MirrorUsagePoint>"
)
READING = (
    '<MirrorMeterReading xmlns="urn:ieee:std:2030.5:ns"><mRID>{mrid}</mRID><Reading><value>{value}</value></Reading>'
    "<ReadingType><accumulationBehaviour>12</accumulationBehaviour><commodity>1</commodity>"
    "<dataQualifier>2</dataQualifier><flowDirection>1</flowDirection><kind>37</kind><phase>0</phase>"
    "<powerOfTenMultiplier>0</powerOfTenMultiplier><uom>38</uom></ReadingType></MirrorMeterReading>"
)
INT48_MAX = 2**47 - 1


@pytest.fixture(scope="module")
def server(pki: TestPKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    config = HeadEndConfig(allow_in_band_registration=True)
    with ServerThread(tmp_path_factory.mktemp("reg") / "state.db", pki.directory, config=config) as srv:
        srv.headend.register_device(pki.device_identity("dev-a").lfdi)
        yield srv


def client(server: ServerThread, pki: TestPKI) -> tuple[Http, int]:
    identity = pki.device_identity("dev-a")
    return http_for(server.url, pki, identity), int(server.headend.device(identity.lfdi).id)


def test_put_connection_point_answers_with_its_location(server: ServerThread, pki: TestPKI) -> None:
    a, me = client(server, pki)
    put = a.put(f"/edev/{me}/cp", CONNECTION_POINT.format(nmi="41020000002").encode())
    assert put.status in (201, 204)
    assert put.headers.get("Location") == f"/edev/{me}/cp"
    got = a.get(put.headers["Location"])
    assert got.status == 200 and b"41020000002" in got.body


def test_an_lfdi_already_registered_is_refused(server: ServerThread, pki: TestPKI) -> None:
    a, _ = client(server, pki)
    identity = pki.device_identity("dev-a")
    before = server.headend.devices()
    again = a.post("/edev", ENDDEVICE.format(sfdi=identity.sfdi, lfdi=identity.lfdi).encode())
    assert 400 <= again.status < 500
    assert server.headend.devices() == before


def test_a_reading_beyond_int48_is_refused_and_changes_nothing(server: ServerThread, pki: TestPKI) -> None:
    a, _ = client(server, pki)
    lfdi = pki.device_identity("dev-a").lfdi
    mup = a.post("/mup", MUP.format(mrid="AB01" * 8, lfdi=lfdi).encode())
    assert mup.status == 201
    href = mup.headers["Location"]
    for value in (INT48_MAX + 1, -(2**47) - 1, 3 * 10**15):
        assert a.post(href, READING.format(mrid="CD01" * 8, value=value).encode()).status == 400
    assert server.headend.telemetry(lfdi) == []
    assert a.post(href, READING.format(mrid="CD01" * 8, value=INT48_MAX).encode()).status in (201, 204)
    assert [r.value for r in server.headend.telemetry(lfdi)] == [INT48_MAX]


def test_a_default_control_with_a_ramp_rate_alone_keeps_its_control_base(server: ServerThread, pki: TestPKI) -> None:
    a, me = client(server, pki)
    lfdi = pki.device_identity("dev-a").lfdi
    server.headend.set_default_control(lfdi, settings={"ramp_rate_pct_per_s": 1.0})
    program_id = server.headend.book.program_by_name(me, "envelope").id
    got = a.get(f"/edev/{me}/derp/{program_id}/dderc")
    assert got.status == 200
    default = DefaultDERControl.from_xml(got.body)  # DERControlBase is a required element
    assert default.setGradW == 100
    assert default.DERControlBase_.opModExpLimW is None and default.DERControlBase_.opModImpLimW is None
