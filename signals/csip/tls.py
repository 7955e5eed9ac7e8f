"""TLS contexts for IEEE 2030.5: TLS 1.2, ECDHE-ECDSA on P-256, mutual certificates.

The server's cipher list is CSIP-strict (AES-128-CCM-8 only) by default;
`INTEROP_CIPHERS` adds AES-128-GCM for clients whose TLS stack cannot do CCM-8
(Node.js, Go's standard library).
"""

from __future__ import annotations

import hashlib
import os
import ssl

CSIP_CIPHERS = "ECDHE-ECDSA-AES128-CCM8"
INTEROP_CIPHERS = "ECDHE-ECDSA-AES128-CCM8:ECDHE-ECDSA-AES128-GCM-SHA256"
CSIP_CURVE = "prime256v1"

PathLike = str | os.PathLike[str]


def _restrict(context: ssl.SSLContext, ciphers: str) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.set_ciphers(ciphers)
    except ssl.SSLError as exc:
        raise ValueError(f"no usable cipher suite in {ciphers!r}") from exc
    context.set_ecdh_curve(CSIP_CURVE)
    context.options |= ssl.OP_NO_COMPRESSION
    return context


def server_context(ca_cert: PathLike, cert: PathLike, key: PathLike, ciphers: str = CSIP_CIPHERS) -> ssl.SSLContext:
    """Server side: our certificate, client certificates required and checked against the CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.fspath(cert), os.fspath(key))
    context.load_verify_locations(os.fspath(ca_cert))
    context.verify_mode = ssl.CERT_REQUIRED
    return _restrict(context, ciphers)


def client_context(
    ca_cert: PathLike,
    cert: PathLike | None,
    key: PathLike | None,
    ciphers: str = CSIP_CIPHERS,
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """Client side: verify the server against the CA, present our certificate when given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(os.fspath(ca_cert))
    context.check_hostname = check_hostname
    if cert is not None:
        context.load_cert_chain(os.fspath(cert), os.fspath(key) if key is not None else None)
    return _restrict(context, ciphers)


def peer_lfdi(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> str | None:
    """LFDI of the peer's certificate on an established TLS connection, None if it sent none."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    return hashlib.sha256(der).hexdigest()[:40].upper()
