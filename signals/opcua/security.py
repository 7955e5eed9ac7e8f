"""Names of OPC-UA security policies and modes as the CLI and bench files spell them.

Only RSA policies that OPC-UA still recommends are offered: Basic256Sha256,
Aes128_Sha256_RsaOaep and Aes256_Sha256_RsaPss, in Sign or SignAndEncrypt mode.
The None policy is never offered by the envelope server.
"""

from __future__ import annotations

from asyncua import ua
from asyncua.crypto import security_policies as sp

POLICIES: dict[str, type[sp.SecurityPolicy]] = {
    "Basic256Sha256": sp.SecurityPolicyBasic256Sha256,
    "Aes128Sha256RsaOaep": sp.SecurityPolicyAes128Sha256RsaOaep,
    "Aes256Sha256RsaPss": sp.SecurityPolicyAes256Sha256RsaPss,
}
MODES: dict[str, ua.MessageSecurityMode] = {
    "sign": ua.MessageSecurityMode.Sign,
    "sign-encrypt": ua.MessageSecurityMode.SignAndEncrypt,
}
_SERVER_TYPES = {
    ("Basic256Sha256", "sign"): ua.SecurityPolicyType.Basic256Sha256_Sign,
    ("Basic256Sha256", "sign-encrypt"): ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
    ("Aes128Sha256RsaOaep", "sign"): ua.SecurityPolicyType.Aes128Sha256RsaOaep_Sign,
    ("Aes128Sha256RsaOaep", "sign-encrypt"): ua.SecurityPolicyType.Aes128Sha256RsaOaep_SignAndEncrypt,
    ("Aes256Sha256RsaPss", "sign"): ua.SecurityPolicyType.Aes256Sha256RsaPss_Sign,
    ("Aes256Sha256RsaPss", "sign-encrypt"): ua.SecurityPolicyType.Aes256Sha256RsaPss_SignAndEncrypt,
}


def policy_class(name: str) -> type[sp.SecurityPolicy]:
    try:
        return POLICIES[name]
    except KeyError:
        raise ValueError(f"security policy {name!r}: choose from {', '.join(POLICIES)}") from None


def message_mode(name: str) -> ua.MessageSecurityMode:
    try:
        return MODES[name]
    except KeyError:
        raise ValueError(f"security mode {name!r}: choose from {', '.join(MODES)}") from None


def server_policies(policies: tuple[str, ...], modes: tuple[str, ...]) -> list[ua.SecurityPolicyType]:
    """asyncua endpoint policy types for every policy x mode pair; refuses an empty set."""
    for name in policies:
        policy_class(name)
    for mode in modes:
        message_mode(mode)
    chosen = [_SERVER_TYPES[(p, m)] for p in policies for m in modes]
    if not chosen:
        raise ValueError("the server needs at least one security policy and mode")
    return chosen
