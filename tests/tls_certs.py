"""Throwaway certificates for TLS tests: a CA, server certificates and client certificates.

Generated at test time with the `cryptography` package (EC P-256, valid one day), written as PEM
files, so every TLS test and the agent mTLS end-to-end test use the same helper:

    pki = TestPki(tmp_path)
    server = pki.server()                    # SAN 127.0.0.1, ::1, localhost
    agent = pki.client("xc-gov")             # CN = the cluster name, SAN DNS = the same
    other = TestPki(tmp_path / "other").client("xc-gov")   # same name, another CA
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class CertFiles:
    """A certificate and its private key as PEM files."""

    cert: Path
    key: Path


class TestPki:
    """A certificate authority in `directory` that issues server and client certificates."""

    __test__ = False  # a helper, not a pytest test class

    def __init__(self, directory: Path, name: str = "suanchou test CA") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self._name = subject
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )
        self.ca = directory / "ca.pem"
        self.ca.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def server(self, names: tuple[str, ...] = LOOPBACK_NAMES, stem: str = "server") -> CertFiles:
        """A server certificate whose SAN lists `names` (IP addresses or DNS names)."""
        return self._issue(stem, names[0], names, ExtendedKeyUsageOID.SERVER_AUTH)

    def client(self, common_name: str, stem: str = "") -> CertFiles:
        """A client certificate with CN and SAN DNS name `common_name` (a cluster name)."""
        return self._issue(
            stem or f"client-{common_name}",
            common_name,
            (common_name,),
            ExtendedKeyUsageOID.CLIENT_AUTH,
        )

    def _issue(
        self, stem: str, common_name: str, names: tuple[str, ...], usage: x509.ObjectIdentifier
    ) -> CertFiles:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        files = CertFiles(self.directory / f"{stem}.pem", self.directory / f"{stem}.key")
        files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        files.key.chmod(0o600)
        return files


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)
