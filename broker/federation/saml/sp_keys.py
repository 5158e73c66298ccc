"""Broker's SAML SP key pair: decrypts ``EncryptedAssertion`` and signs AuthnRequests.

An RSA-3072 key with a self-signed certificate (SAML metadata carries certificates, not bare keys;
saml-metadata-2.0-os §2.4.1.1 KeyDescriptor; self-signed is the norm, trust comes from metadata
exchange: "SAML V2.0 Metadata Interoperability Profile" §2.5.1). RSA because IdPs wrap the session key
with RSA-OAEP (XML Encryption 1.1 §5.5.2). Key material is never repr'd.

Where the pair lives: in the store-backed keyring (purpose ``saml-sp``,
:class:`broker.service.saml_sp_keys.StoreSpKeys`), one pair for every node that shares the store.
:class:`FileSpKeys` is the earlier home of the pair — sealed by the master key
(:class:`~broker.credentials.envelope.Envelope`, AAD ``saml-sp-key``) in ``BROKER_HOME/saml-sp-key.sealed`` —
kept so that a node's existing file is migrated into the store the first time that node needs the key.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from broker.credentials.envelope import Envelope

__all__ = ["FileSpKeys", "SpKeyPair", "generate_sp_key_pair", "open_sp_key_pair", "seal_sp_key_pair"]

AAD = b"saml-sp-key"
FILE_NAME = "saml-sp-key.sealed"
VALIDITY = timedelta(days=3650)


@dataclass(frozen=True)
class SpKeyPair:
    """PKCS#8 PEM private key and DER certificate."""

    private_key_pem: bytes = field(repr=False)
    certificate_der: bytes

    def __repr__(self) -> str:
        return f"SpKeyPair(private_key_pem=**********, certificate_der=<{len(self.certificate_der)} bytes>)"


def generate_sp_key_pair(entity_id: str, now: datetime) -> SpKeyPair:
    """A fresh RSA-3072 key and a self-signed SHA-256 certificate valid from ``now`` for ten years."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "broker SAML SP")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(entity_id)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return SpKeyPair(pem, cert.public_bytes(serialization.Encoding.DER))


def seal_sp_key_pair(pair: SpKeyPair, envelope: Envelope) -> bytes:
    payload = json.dumps({"key": pair.private_key_pem.decode("ascii"), "cert": pair.certificate_der.hex()})
    return envelope.seal(payload.encode("utf-8"), AAD)


def open_sp_key_pair(blob: bytes, envelope: Envelope) -> SpKeyPair:
    data = json.loads(envelope.open(blob, AAD))
    return SpKeyPair(str(data["key"]).encode("ascii"), bytes.fromhex(str(data["cert"])))


class FileSpKeys:
    """The SP key pair kept sealed in ``home``; implements the web layer's ``SpKeySource`` and the
    validator's ``sp_private_keys`` callable."""

    def __init__(self, home: Path, envelope: Envelope, entity_id: str, now: datetime) -> None:
        self._path = home / FILE_NAME
        self._envelope = envelope
        self._entity_id = entity_id
        self._now = now
        self._pair: SpKeyPair | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FileSpKeys({str(self._path)!r})"

    def pair(self) -> SpKeyPair:
        with self._lock:
            if self._pair is None:
                self._pair = self._load_or_create()
            return self._pair

    def _load_or_create(self) -> SpKeyPair:
        if self._path.exists():
            return open_sp_key_pair(self._path.read_bytes(), self._envelope)
        pair = generate_sp_key_pair(self._entity_id, self._now)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(seal_sp_key_pair(pair, self._envelope))
        os.replace(tmp, self._path)
        return pair

    def __call__(self) -> Sequence[bytes]:
        """The private keys (PEM) that may decrypt an assertion, newest first."""
        return (self.pair().private_key_pem,)

    def signing_key_pem(self) -> bytes | None:
        return self.pair().private_key_pem

    def signing_certificates(self) -> Sequence[bytes]:
        return (self.pair().certificate_der,)

    def encryption_certificates(self) -> Sequence[bytes]:
        return (self.pair().certificate_der,)
