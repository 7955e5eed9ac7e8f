"""Which peer certificates the bench trusts: the CA's issue, or a certificate placed in the trust list.

One check for both directions: the envelope server refuses untrusted clients at
CreateSession (and again at ActivateSession, where a client that left its
certificate out of CreateSession cannot slip past), and the bench's clients
refuse a server whose certificate the trust list does not vouch for.
"""

from __future__ import annotations

import logging
from pathlib import Path

from asyncua import ua
from asyncua.common.utils import ServiceError
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from flexbench.signals.opcua.pki import load_certificate

_log = logging.getLogger(__name__)
CERT_SUFFIXES = (".der", ".pem", ".crt", ".cer")


def _require_ca(_policy: object, _cert: x509.Certificate, ext: x509.BasicConstraints | None) -> None:
    if ext is None or not ext.ca:
        raise ValueError("an issuer must be a CA (basicConstraints ca=true)")


class TrustList:
    """Certificates from a folder: each is an issuer to chain to and a certificate trusted as it is."""

    def __init__(self, certificates: list[x509.Certificate]) -> None:
        self.certificates = list(certificates)
        self._pinned = {c.public_bytes(serialization.Encoding.DER) for c in self.certificates}
        self._store = x509.verification.Store(self.certificates) if self.certificates else None
        self._policy = x509.verification.PolicyBuilder().extension_policies(
            ca_policy=x509.verification.ExtensionPolicy.permit_all().require_present(
                x509.BasicConstraints, x509.verification.Criticality.AGNOSTIC, _require_ca
            ),
            ee_policy=x509.verification.ExtensionPolicy.permit_all(),
        )

    @classmethod
    def from_dir(cls, directory: str | Path) -> TrustList:
        folder = Path(directory)
        if not folder.is_dir():
            raise FileNotFoundError(f"no trust list folder {folder}")
        certs = [load_certificate(p) for p in sorted(folder.iterdir()) if p.suffix.lower() in CERT_SUFFIXES]
        return cls(certs)

    def is_trusted(self, cert: x509.Certificate | bytes) -> bool:
        if isinstance(cert, bytes):
            try:
                cert = x509.load_der_x509_certificate(cert)
            except ValueError:
                return False
        if cert.public_bytes(serialization.Encoding.DER) in self._pinned:
            return True
        if self._store is None:
            return False
        try:
            self._policy.store(self._store).build_client_verifier().verify(cert, [])
        except x509.verification.VerificationError as exc:
            _log.info("untrusted certificate %s: %s", cert.subject.rfc4514_string(), exc)
            return False
        return True

    def validator(self, peer: str) -> PeerValidator:
        """A CreateSession hook for asyncua: `peer` is 'client' (server side) or 'server' (client side)."""
        return PeerValidator(self, peer)


class PeerValidator:
    """Checks time, application URI, key usage, then trust; raises ServiceError with the OPC-UA status."""

    def __init__(self, trust: TrustList, peer: str) -> None:
        role = CertificateValidatorOptions.PEER_CLIENT if peer == "client" else CertificateValidatorOptions.PEER_SERVER
        self._fields = CertificateValidator(CertificateValidatorOptions.EXT_VALIDATION | role)
        self._trust = trust

    async def __call__(self, cert: x509.Certificate, app_description: ua.ApplicationDescription) -> None:
        await self._fields.validate(cert, app_description)
        if not self._trust.is_trusted(cert):
            raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)
