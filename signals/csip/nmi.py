"""Australian National Metering Identifiers, which CSIP-AUS carries as the ConnectionPoint's id.

An NMI is ten characters, digits and capital letters other than O and I (AEMO's NMI Procedure),
optionally followed by its checksum digit; a device that PUTs anything else gets a 400.
"""

from __future__ import annotations

import re

NMI_BODY = re.compile(r"^[0-9A-HJ-NP-Z]{10}$")


def nmi_checksum(body: str) -> int:
    """AEMO's checksum digit of a ten-character NMI (a Luhn sum over the character codes)."""
    total = 0
    for position, char in enumerate(reversed(body)):
        code = ord(char) * (2 if position % 2 == 0 else 1)
        total += sum(int(digit) for digit in str(code))
    return (10 - total % 10) % 10


def validate_nmi(nmi: str) -> str:
    """The NMI if it is one (ten characters, or eleven with a matching checksum); else ValueError naming it."""
    body, check = nmi[:10], nmi[10:]
    if not NMI_BODY.match(body) or len(check) > 1:
        raise ValueError(f"connection point id {nmi!r} is not an NMI: ten digits or capitals other than O and I")
    if check and check != str(nmi_checksum(body)):
        raise ValueError(f"connection point id {nmi!r} is not an NMI: its checksum digit is {nmi_checksum(body)}")
    return nmi
