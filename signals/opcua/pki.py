"""A test PKI for OPC-UA: an RSA CA and application instance certificates it issues.

OPC-UA's Basic256Sha256 and Aes*-Rsa* policies need RSA keys (2048 bits here),
and every application instance certificate must carry the application URI in
its subjectAltName, so the project's IEEE 2030.5 PKI (P-256, no URI) does not
fit. The directory layout is the contract between `flexbench opcua certs`, the
envelope server (`--certs DIR`) and the clients:

    DIR/trust/ca.der                    the trust list: the CA, and any certificate
                                        dropped here is trusted as it is (e.g. a SCADA's)
    DIR/private/ca.key.pem              the CA key, kept out of the trust list
    DIR/server.der  server.key.pem      the envelope server
    DIR/clients/NAME.der  NAME.key.pem  clients: the operator, each site, tools
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

RSA_KEY_BITS = 2048
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SERVER_APPLICATION_URI = "urn:flexbench:opcua:envelope-server"
CLIENT_URI_PREFIX = "urn:flexbench:opcua:client:"
DEFAULT_HOSTS = ("localhost", "127.0.0.1")


def client_application_uri(name: str) -> str:
    """Application URI of a bench client; its certificate carries it as a SAN URI."""
    return CLIENT_URI_PREFIX + name


@dataclass(frozen=True)
class AppCertificate:
    """An application instance certificate and key on disk, with the URI the certificate names."""

    name: str
    cert_path: Path
    key_path: Path
    application_uri: str

    @classmethod
    def load(cls, name: str, cert_path: Path, key_path: Path) -> AppCertificate:
        cert = load_certificate(cert_path)
        uris = certificate_uris(cert)
        return cls(name, cert_path, key_path, uris[0] if uris else "")


def load_certificate(path: Path) -> x509.Certificate:
    data = Path(path).read_bytes()
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def certificate_uris(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return list(san.get_values_for_type(x509.UniformResourceIdentifier))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _host_names(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


# Part 6 of the OPC-UA specification: application instance certificates carry
# digitalSignature, nonRepudiation, keyEncipherment and dataEncipherment.
APPLICATION_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=True,
    key_encipherment=True,
    data_encipherment=True,
    key_agreement=False,
    key_cert_sign=False,
    crl_sign=False,
    encipher_only=False,
    decipher_only=False,
)


class OpcuaPKI:
    """The OPC-UA test PKI in one directory: `init` makes CA and server, `client` adds clients."""

    __test__ = False  # not a pytest class

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    # Paths -------------------------------------------------------------------
    @property
    def trust_dir(self) -> Path:
        return self.directory / "trust"

    @property
    def ca_cert_path(self) -> Path:
        return self.trust_dir / "ca.der"

    @property
    def ca_key_path(self) -> Path:
        return self.directory / "private" / "ca.key.pem"

    @property
    def server(self) -> AppCertificate:
        return AppCertificate.load("server", self.directory / "server.der", self.directory / "server.key.pem")

    def exists(self) -> bool:
        return self.ca_cert_path.is_file() and self.ca_key_path.is_file()

    def client(self, name: str) -> AppCertificate:
        """The client certificate NAME; raises FileNotFoundError when it was never issued."""
        cert_path = self.directory / "clients" / f"{name}.der"
        if not cert_path.is_file():
            raise FileNotFoundError(f"no OPC-UA client certificate {cert_path}")
        return AppCertificate.load(name, cert_path, self.directory / "clients" / f"{name}.key.pem")

    def clients(self) -> list[AppCertificate]:
        folder = self.directory / "clients"
        return [self.client(p.stem) for p in sorted(folder.glob("*.der"))] if folder.is_dir() else []

    # Making ------------------------------------------------------------------
    def init(
        self,
        hosts: tuple[str, ...] = DEFAULT_HOSTS,
        server_uri: str = SERVER_APPLICATION_URI,
        validity_days: int = 3650,
        overwrite: bool = False,
    ) -> AppCertificate:
        """Create the CA and the server certificate (SAN: the server URI and `hosts`)."""
        if self.exists() and not overwrite:
            raise FileExistsError(f"an OPC-UA test PKI already exists in {self.directory}")
        self.trust_dir.mkdir(parents=True, exist_ok=True)
        self.ca_key_path.parent.mkdir(exist_ok=True, mode=0o700)
        (self.directory / "clients").mkdir(exist_ok=True)
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
        ca_name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "flexbench test PKI"),
                x509.NameAttribute(NameOID.COMMON_NAME, "flexbench OPC-UA test CA"),
            ]
        )
        now = _now()
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=validity_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        _write_private(self.ca_key_path, _key_pem(ca_key))
        self.ca_cert_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.DER))
        return self._issue(
            "server",
            self.directory,
            "flexbench envelope server",
            server_uri,
            hosts,
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            validity_days,
        )

    def issue_client(
        self,
        name: str,
        application_uri: str | None = None,
        hosts: tuple[str, ...] = DEFAULT_HOSTS,
        validity_days: int = 3650,
        overwrite: bool = False,
    ) -> AppCertificate:
        """Issue a client application certificate (clientAuth and serverAuth, so a device server can use it)."""
        if not NAME_PATTERN.match(name):
            raise ValueError(f"client name {name!r}: use letters, digits, '_', '.', '-' (at most 64)")
        if not self.exists():
            raise FileNotFoundError(f"no OPC-UA test PKI in {self.directory}: run `flexbench opcua certs` first")
        folder = self.directory / "clients"
        folder.mkdir(exist_ok=True)
        if (folder / f"{name}.der").exists() and not overwrite:
            return self.client(name)
        return self._issue(
            name,
            folder,
            f"flexbench {name}",
            application_uri or client_application_uri(name),
            hosts,
            [ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH],
            validity_days,
        )

    def _issue(
        self,
        name: str,
        folder: Path,
        common_name: str,
        application_uri: str,
        hosts: tuple[str, ...],
        eku: list[x509.ObjectIdentifier],
        validity_days: int,
    ) -> AppCertificate:
        ca_key = serialization.load_pem_private_key(self.ca_key_path.read_bytes(), password=None)
        ca_cert = load_certificate(self.ca_cert_path)
        assert isinstance(ca_key, rsa.RSAPrivateKey)
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(
                x509.Name(
                    [
                        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "flexbench"),
                        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                    ]
                )
            )
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=validity_days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(APPLICATION_KEY_USAGE, critical=True)
            .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(application_uri), *_host_names(hosts)]),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        cert_path, key_path = folder / f"{name}.der", folder / f"{name}.key.pem"
        _write_private(key_path, _key_pem(key))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
        return AppCertificate(name, cert_path, key_path, application_uri)
