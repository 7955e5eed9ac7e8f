"""Device identity from a certificate: LFDI and SFDI as IEEE 2030.5 defines them.

The server identifies every client by its certificate, so these two numbers are
the key of every registration and access-control decision.
"""

from __future__ import annotations

import hashlib

LFDI_HEX_CHARS = 40  # 160 bits
SFDI_BITS = 36


def lfdi_from_der(cert_der: bytes) -> str:
    """LFDI: the first 160 bits of SHA-256 over the certificate's DER, upper-case hex."""
    return hashlib.sha256(cert_der).hexdigest()[:LFDI_HEX_CHARS].upper()


def sfdi_check_digit(value: int) -> int:
    """Digit that makes the digit sum of value*10 + digit a multiple of 10."""
    return (10 - sum(int(d) for d in str(value)) % 10) % 10


def sfdi_from_lfdi(lfdi: str) -> int:
    """SFDI: the first 36 bits of the LFDI as decimal, followed by the check digit."""
    lfdi = normalize_lfdi(lfdi)
    leading = int(lfdi, 16) >> (160 - SFDI_BITS)
    return leading * 10 + sfdi_check_digit(leading)


def sfdi_is_valid(sfdi: int) -> bool:
    """True when the check digit of `sfdi` is right (digit sum a multiple of 10)."""
    return sfdi >= 0 and sum(int(d) for d in str(sfdi)) % 10 == 0


def normalize_lfdi(lfdi: str) -> str:
    """Upper-case 40-hex-digit LFDI; raises ValueError for anything else."""
    text = lfdi.strip().upper()
    if text.startswith("0X"):
        text = text[2:]
    if len(text) != LFDI_HEX_CHARS or any(c not in "0123456789ABCDEF" for c in text):
        raise ValueError(f"an LFDI is 40 hexadecimal digits, got {lfdi!r}")
    return text


def pin_with_check_digit(pin5: int) -> int:
    """Registration PIN: five digits followed by the same kind of check digit as the SFDI."""
    if not 0 <= pin5 <= 99999:
        raise ValueError(f"a PIN has five digits before its check digit, got {pin5}")
    return pin5 * 10 + sfdi_check_digit(pin5)
