"""LFDI/SFDI as IEEE 2030.5 defines them, and certificates in the CSIP device profile."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from flexbench.signals.pki import (
    TestPKI,
    lfdi_from_der,
    normalize_lfdi,
    pin_with_check_digit,
    sfdi_from_lfdi,
    sfdi_is_valid,
)
from flexbench.signals.pki.authority import HARDWARE_MODULE_NAME_OID


def test_sfdi_matches_the_ieee_2030_5_example() -> None:
    assert sfdi_from_lfdi("3E4F45AB31EDFE5B67E343E5E4562E31984E23E5") == 167261211391
    assert sfdi_from_lfdi("3e4f45ab31edfe5b67e343e5e4562e31984e23e5") == 167261211391
    assert sfdi_is_valid(167261211391)
    assert not sfdi_is_valid(167261211392)


def test_pin_check_digit() -> None:
    assert pin_with_check_digit(11111) == 111115
    with pytest.raises(ValueError):
        pin_with_check_digit(123456)


def test_lfdi_must_be_40_hex_digits() -> None:
    with pytest.raises(ValueError):
        normalize_lfdi("1234")
    with pytest.raises(ValueError):
        normalize_lfdi("G" * 40)


def test_device_certificate_follows_the_csip_profile(pki: TestPKI) -> None:
    identity = pki.device_identity("dev-a")
    cert = x509.load_pem_x509_certificate(identity.cert_path.read_bytes())
    der = cert.public_bytes(Encoding.DER)
    assert identity.lfdi == lfdi_from_der(der)
    assert identity.sfdi == sfdi_from_lfdi(identity.lfdi)
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert len(cert.subject) == 0
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    other = san.value.get_values_for_type(x509.OtherName)
    assert other[0].type_id == HARDWARE_MODULE_NAME_OID
    assert b"dev-a" in other[0].value
    assert cert.not_valid_after_utc.year == 9999


def test_device_issue_is_idempotent_and_names_are_checked(pki: TestPKI) -> None:
    first = pki.device("dev-a")
    assert pki.device("dev-a").lfdi == first.lfdi
    with pytest.raises(ValueError):
        pki.device("../escape")


def test_init_refuses_to_overwrite(pki: TestPKI) -> None:
    with pytest.raises(FileExistsError):
        TestPKI(pki.directory).init()
