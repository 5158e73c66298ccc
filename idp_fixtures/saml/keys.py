"""Signing and encryption keys for the fixture IdP: freshly generated, self-signed, PEM in memory."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

__all__ = ["KeyPair", "generate_key_pair"]


@dataclass(frozen=True)
class KeyPair:
    """A private key and its self-signed certificate (PEM); ``cert_b64`` is the DER for metadata/KeyInfo."""

    key_pem: bytes
    cert_pem: bytes
    kind: str  # "rsa" or "ec"

    @property
    def cert_b64(self) -> str:
        der = x509.load_pem_x509_certificate(self.cert_pem).public_bytes(serialization.Encoding.DER)
        return base64.b64encode(der).decode("ascii")

    def __repr__(self) -> str:
        return f"KeyPair(kind={self.kind!r}, key_pem=**********)"


def generate_key_pair(cn: str = "saml-fixture-idp", *, kind: str = "rsa", bits: int = 2048,
                      not_before: datetime | None = None, days: int = 3650) -> KeyPair:
    """A new key and a self-signed certificate valid for ``days`` from ``not_before`` (default 2025-01-01)."""
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    elif kind == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"unknown key kind {kind!r}")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    start = not_before or datetime(2025, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return KeyPair(key_pem=key_pem, cert_pem=cert.public_bytes(serialization.Encoding.PEM), kind=kind)
