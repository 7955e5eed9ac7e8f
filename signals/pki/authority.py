"""A test PKI on disk: a CA, the server's certificate, an operator's, and device certificates.

Everything is P-256 ECDSA with SHA-256, as IEEE 2030.5 requires. Device
certificates follow the 2030.5 device profile: empty subject, a critical
subjectAltName holding a hardwareModuleName (RFC 4108), no expiry
(notAfter 9999-12-31). The directory layout is the contract between
`flexbench certs`, the server (`--certs DIR`) and the clients:

    DIR/ca.crt  ca.key  server.crt  server.key  operator.crt  operator.key
    DIR/devices/NAME.crt  NAME.key
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from flexbench.signals.pki.identity import lfdi_from_der, sfdi_from_lfdi

# id-on-hardwareModuleName (RFC 4108).
HARDWARE_MODULE_NAME_OID = ObjectIdentifier("1.3.6.1.5.5.7.8.4")
# hwType for test devices: under PEN 32473, which IANA reserves for documentation (RFC 5612).
TEST_HW_TYPE_OID = "1.3.6.1.4.1.32473.1.1"
NO_EXPIRY = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Identity:
    """A certificate and key on disk, with the 2030.5 identifiers of the certificate."""

    name: str
    cert_path: Path
    key_path: Path
    lfdi: str
    sfdi: int


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der_oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body += bytes(reversed(chunk))
    return b"\x06" + _der_length(len(body)) + bytes(body)


def hardware_module_name(hw_type_oid: str, serial: bytes) -> bytes:
    """DER of HardwareModuleName ::= SEQUENCE { hwType OID, hwSerialNum OCTET STRING }."""
    body = _der_oid(hw_type_oid) + b"\x04" + _der_length(len(serial)) + serial
    return b"\x30" + _der_length(len(body)) + body


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _identity(name: str, cert_path: Path, key_path: Path) -> Identity:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    lfdi = lfdi_from_der(cert.public_bytes(serialization.Encoding.DER))
    return Identity(name, cert_path, key_path, lfdi, sfdi_from_lfdi(lfdi))


class TestPKI:
    """The test PKI in one directory; `init` makes it, `device` adds device certificates."""

    __test__ = False  # not a pytest class

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    # Paths -----------------------------------------------------------------
    @property
    def ca_cert_path(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key_path(self) -> Path:
        return self.directory / "ca.key"

    @property
    def server(self) -> Identity:
        return _identity("server", self.directory / "server.crt", self.directory / "server.key")

    @property
    def operator(self) -> Identity:
        return _identity("operator", self.directory / "operator.crt", self.directory / "operator.key")

    def exists(self) -> bool:
        return self.ca_cert_path.is_file() and self.ca_key_path.is_file()

    # Making ------------------------------------------------------------------
    def init(
        self,
        server_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1"),
        validity_days: int = 3650,
        overwrite: bool = False,
    ) -> None:
        """Create the CA, the server certificate and the operator certificate."""
        if self.exists() and not overwrite:
            raise FileExistsError(f"a test PKI already exists in {self.directory}")
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "devices").mkdir(exist_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "flexbench test PKI"),
                x509.NameAttribute(NameOID.COMMON_NAME, "flexbench test CA"),
            ]
        )
        now = _now()
        ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(NO_EXPIRY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(ski, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write_key(self.ca_key_path, ca_key)
        self.ca_cert_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

        sans: list[x509.GeneralName] = []
        for host in server_hosts:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                sans.append(x509.DNSName(host))
        self._issue(
            "server",
            self.directory,
            subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_hosts[0])]),
            san=x509.SubjectAlternativeName(sans),
            san_critical=False,
            not_after=now + dt.timedelta(days=validity_days),
            eku=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        )
        self._issue(
            "operator",
            self.directory,
            subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "flexbench operator")]),
            san=None,
            san_critical=False,
            not_after=now + dt.timedelta(days=validity_days),
            eku=[ExtendedKeyUsageOID.CLIENT_AUTH],
        )

    def device(self, name: str, serial: str | None = None, overwrite: bool = False) -> Identity:
        """Issue a device certificate in the 2030.5 device profile; returns its LFDI and SFDI."""
        if not NAME_PATTERN.match(name):
            raise ValueError(f"device name {name!r}: use letters, digits, '_', '.', '-' (at most 64)")
        if not self.exists():
            raise FileNotFoundError(f"no test PKI in {self.directory}: run `flexbench certs init` first")
        folder = self.directory / "devices"
        folder.mkdir(exist_ok=True)
        if (folder / f"{name}.crt").exists() and not overwrite:
            return self.device_identity(name)
        hw_serial = (serial or name).encode()
        san = x509.SubjectAlternativeName(
            [x509.OtherName(HARDWARE_MODULE_NAME_OID, hardware_module_name(TEST_HW_TYPE_OID, hw_serial))]
        )
        self._issue(name, folder, subject=x509.Name([]), san=san, san_critical=True, not_after=NO_EXPIRY, eku=None)
        return self.device_identity(name)

    def device_identity(self, name: str) -> Identity:
        folder = self.directory / "devices"
        cert_path = folder / f"{name}.crt"
        if not cert_path.is_file():
            raise FileNotFoundError(f"no device certificate {cert_path}")
        return _identity(name, cert_path, folder / f"{name}.key")

    def devices(self) -> list[Identity]:
        folder = self.directory / "devices"
        return [self.device_identity(p.stem) for p in sorted(folder.glob("*.crt"))]

    def write_index(self) -> Path:
        """devices.json: name, LFDI, SFDI of every device, for scripts that register them."""
        path = self.directory / "devices.json"
        rows = [{"name": d.name, "lfdi": d.lfdi, "sfdi": d.sfdi} for d in self.devices()]
        path.write_text(json.dumps(rows, indent=1))
        return path

    # Internals ---------------------------------------------------------------
    def _issue(
        self,
        name: str,
        folder: Path,
        subject: x509.Name,
        san: x509.SubjectAlternativeName | None,
        san_critical: bool,
        not_after: dt.datetime,
        eku: list[ObjectIdentifier] | None,
    ) -> None:
        ca_key = serialization.load_pem_private_key(self.ca_key_path.read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate(self.ca_cert_path.read_bytes())
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(days=1))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, True, False, False, False, False), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if san is not None:
            builder = builder.add_extension(san, critical=san_critical)
        if eku:
            builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        _write_key(folder / f"{name}.key", key)
        (folder / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
