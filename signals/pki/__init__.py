"""Test PKI for IEEE 2030.5: P-256 certificates and the LFDI/SFDI identifiers derived from them."""

from flexbench.signals.pki.authority import Identity, TestPKI
from flexbench.signals.pki.identity import (
    lfdi_from_der,
    normalize_lfdi,
    pin_with_check_digit,
    sfdi_from_lfdi,
    sfdi_is_valid,
)

__all__ = [
    "Identity",
    "TestPKI",
    "lfdi_from_der",
    "normalize_lfdi",
    "pin_with_check_digit",
    "sfdi_from_lfdi",
    "sfdi_is_valid",
]
