"""Safe XML parsing, both CSIP-AUS namespaces, and exact encoding of limits."""

from __future__ import annotations

import pytest

from flexbench.core import SiteLimits
from flexbench.signals.csip import models as m
from flexbench.signals.csip.controls import ControlValues, active_power, decode, encode
from flexbench.signals.csip.xmlio import CSIPAUS_NS_V12, CSIPAUS_NS_V13, XmlError, parse_model, to_xml

SEP = 'xmlns="urn:ieee:std:2030.5:ns"'
BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]><DERSettings ' + SEP.encode() + b">&lol3;</DERSettings>"
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<DERSettings " + SEP.encode() + b"><setGradW>&xxe;</setGradW></DERSettings>"
)


@pytest.mark.parametrize(
    "data",
    [
        b"<DERSettings",
        b"not xml",
        BOMB,
        XXE,
        XXE.decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16"),
        b"<DERStatus " + SEP.encode() + b"><readingTime>1</readingTime></DERStatus>",
        b"<DERSettings><setGradW>1</setGradW></DERSettings>",
        b"<DERSettings " + SEP.encode() + b"><setGradW>1</setGradW></DERSettings>",
    ],
    ids=["truncated", "text", "bomb", "xxe", "xxe-utf16", "wrong-root", "no-namespace", "missing-required"],
)
def test_refused_documents(data: bytes) -> None:
    with pytest.raises(XmlError):
        parse_model(data, m.DERSettings)


def test_missing_required_elements_are_named() -> None:
    with pytest.raises(XmlError, match="setMaxW"):
        parse_model(
            b"<DERSettings " + SEP.encode() + b"><setGradW>1</setGradW><updatedTime>1</updatedTime></DERSettings>",
            m.DERSettings,
        )


@pytest.mark.parametrize("namespace", [CSIPAUS_NS_V12, CSIPAUS_NS_V13])
def test_both_csipaus_namespaces_parse(namespace: str) -> None:
    doc = (
        f'<DefaultDERControl {SEP} xmlns:c="{namespace}"><mRID>AB</mRID><DERControlBase>'
        "<c:opModExpLimW><multiplier>1</multiplier><value>1500</value></c:opModExpLimW>"
        "</DERControlBase></DefaultDERControl>"
    ).encode()
    parsed = parse_model(doc, m.DefaultDERControl)
    assert decode(parsed.DERControlBase_).export_limit_w == 15000


def test_serialized_namespace_follows_the_version() -> None:
    resource = m.DefaultDERControl(
        mRID="AB", DERControlBase_=encode(ControlValues(limits=SiteLimits(export_limit_w=1)))
    )
    assert CSIPAUS_NS_V13.encode() in to_xml(resource, "1.3")
    v12 = to_xml(resource, "1.2")
    assert f'"{CSIPAUS_NS_V12}"'.encode() in v12 and CSIPAUS_NS_V13.encode() not in v12


@pytest.mark.parametrize(
    "watts,expected",
    [
        (0, (0, 0)),
        (1500, (1500, 0)),
        (1500.5, (15005, -1)),
        (32767, (32767, 0)),
        (40000, (4000, 1)),
        (125000, (12500, 1)),
        (1.5e6, (15000, 2)),
        (-2000, (-2000, 0)),
    ],
)
def test_active_power_is_exact_when_it_can_be(watts: float, expected: tuple[int, int]) -> None:
    assert active_power(watts) == expected


def test_active_power_rounds_when_it_must() -> None:
    assert active_power(99999) == (10000, 1)


def test_a_limit_that_must_be_rounded_is_rounded_down_never_above_itself() -> None:
    limits = SiteLimits(export_limit_w=816856.0, import_limit_w=99999.0)
    control = encode(ControlValues(limits=limits, target_w=99999.0))
    assert (control.opModExpLimW.value, control.opModExpLimW.multiplier) == (8168, 2)  # 816800 W, not 816900
    assert (control.opModImpLimW.value, control.opModImpLimW.multiplier) == (9999, 1)
    assert (control.opModTargetW.value, control.opModTargetW.multiplier) == (10000, 1)  # a target: the closest


def test_encode_decode_round_trip() -> None:
    values = ControlValues(
        limits=SiteLimits(import_limit_w=125000, export_limit_w=1500.5),
        max_limit_pct=33.33,
        ramp_time_s=1.5,
        connect=True,
    )
    assert decode(encode(values)) == values
    assert ControlValues.from_dict(values.as_dict()) == values
    assert values.as_dict() == {
        "import_limit_w": 125000,
        "export_limit_w": 1500.5,
        "max_limit_pct": 33.33,
        "connect": True,
        "ramp_time_s": 1.5,
    }
    with pytest.raises(ValueError):
        encode(ControlValues(max_limit_pct=120))


def test_a_negative_site_limit_makes_the_control_invalid_for_the_client() -> None:
    from flexbench.signals.csip.client import _applicable

    base = m.DERControlBase(opModExpLimW=m.ActivePower(value=-5, multiplier=0))
    with pytest.raises(ValueError, match="export_limit_w"):
        decode(base)
    assert _applicable(base).is_empty()  # an invalid control: the scheduler answers it with Response 253
