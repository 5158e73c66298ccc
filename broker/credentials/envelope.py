"""Envelope encryption of secrets at rest under ``BROKER_MASTER_KEY`` (DESIGN.md §4).

Each secret gets a fresh 256-bit data key; the secret is sealed with AES-256-GCM under the data key,
and the data key is wrapped with AES-256-GCM under the master key (the key-encryption key). Both
seals bind ``aad`` (the record's identity, e.g. ``b"access-key:AKIA…"``), so a ciphertext copied to
another row does not open. Blob layout (version 1)::

    0x01 | kek_id (8 bytes) | wrap_nonce (12) | wrapped_dek (32 + 16 tag) | nonce (12) | ciphertext+tag

``kek_id`` is the first 8 bytes of SHA-256 over the master key, so a wrong master key is reported
as such instead of as corrupt data. Uses only ``cryptography``'s AEAD primitives.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker.ids import Entropy, SystemEntropy

__all__ = ["Envelope", "EnvelopeError"]

_VERSION = 1
_HEADER = 1 + 8 + 12 + 48 + 12


class EnvelopeError(Exception):
    """A sealed secret could not be opened (wrong master key, tampering, or a foreign blob)."""


@dataclass(frozen=True)
class Envelope:
    """Seals and opens secrets under one master key."""

    master_key: bytes
    entropy: Entropy = field(default_factory=SystemEntropy)

    def __post_init__(self) -> None:
        if len(self.master_key) != 32:
            raise ValueError("the master key must be 32 bytes")

    def __repr__(self) -> str:
        return f"Envelope(kek_id={self.kek_id.hex()}, master_key=**********)"

    @property
    def kek_id(self) -> bytes:
        return hashlib.sha256(b"broker-kek-id:" + self.master_key).digest()[:8]

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        dek = self.entropy.token_bytes(32)
        wrap_nonce = self.entropy.token_bytes(12)
        nonce = self.entropy.token_bytes(12)
        wrapped = AESGCM(self.master_key).encrypt(wrap_nonce, dek, b"dek:" + aad)
        body = AESGCM(dek).encrypt(nonce, plaintext, aad)
        return bytes([_VERSION]) + self.kek_id + wrap_nonce + wrapped + nonce + body

    def open(self, blob: bytes, aad: bytes) -> bytes:
        if len(blob) < _HEADER + 16 or blob[0] != _VERSION:
            raise EnvelopeError("not a sealed secret of a known version")
        if blob[1:9] != self.kek_id:
            raise EnvelopeError("sealed under a different master key")
        wrap_nonce, wrapped = blob[9:21], blob[21:69]
        nonce, body = blob[69:81], blob[81:]
        try:
            dek = AESGCM(self.master_key).decrypt(wrap_nonce, wrapped, b"dek:" + aad)
            return AESGCM(dek).decrypt(nonce, body, aad)
        except InvalidTag as exc:
            raise EnvelopeError("sealed secret failed authentication") from exc
