"""A throwaway certificate authority for tests: a private CA, and certificates it signs for
the loopback addresses the harness serves on, written as PEM files in a temp dir.

Made with ``cryptography`` (x509), as an operator would with ``openssl`` (docs/deployment.md):
the services get ``--tls-cert``/``--tls-key``, their clients ``--tls-ca``. A second,
unrelated CA stands for "a client that trusts someone else".
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK = ("127.0.0.1", "localhost")
ONE_DAY = datetime.timedelta(days=1)
# A CA signs certificates (and revocation lists), nothing else.
CA_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


@dataclass(frozen=True)
class ServerFiles:
    """A server's certificate and its private key (mode 0600)."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class TestCA:
    """A CA whose certificate is ``ca`` (the bundle clients trust); ``sign`` issues server
    certificates under ``root``."""

    root: Path
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    __test__ = False  # not a test class, whatever pytest thinks of the name

    @property
    def ca(self) -> Path:
        return self.root / "ca.pem"

    @classmethod
    def create(cls, root: Path, name: str = "filefleet test CA") -> TestCA:
        root.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - ONE_DAY)
            .not_valid_after(now + ONE_DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(CA_USAGE, critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        made = cls(root, key, certificate)
        made.ca.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return made

    def sign(self, name: str, hosts: tuple[str, ...] = LOOPBACK) -> ServerFiles:
        """A server certificate for ``hosts`` (IP addresses and DNS names), and its key."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - ONE_DAY)
            .not_valid_after(now + ONE_DAY)
            .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        files = ServerFiles(self.root / f"{name}.pem", self.root / f"{name}.key")
        files.cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        files.key.touch(mode=0o600)
        files.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return files

    @functools.cached_property
    def context(self) -> ssl.SSLContext:
        """What a test's own requests use: verification on, trusting this CA only."""
        return ssl.create_default_context(cafile=str(self.ca))


def _names(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names
