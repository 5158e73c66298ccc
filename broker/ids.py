"""Identifier and secret generators.

AWS unique-id prefixes (IAM User Guide, "IAM identifiers", section "Unique identifiers",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids):
``AKIA`` access key, ``ASIA`` temporary access key, ``AIDA`` user, ``AROA`` role, ``AGPA`` group,
``ANPA`` managed policy, ``ABIA`` bearer token. Long-term and temporary access key ids are 20
characters; other unique ids are 21.

Randomness comes from an injected :class:`Entropy` (STYLE.md habit 4); the default reads the OS CSPRNG.
"""

from __future__ import annotations

import secrets as _secrets
import uuid
from typing import Protocol

__all__ = [
    "Entropy",
    "SystemEntropy",
    "access_key_id",
    "group_id",
    "policy_id",
    "request_id",
    "role_id",
    "secret_access_key",
    "temporary_access_key_id",
    "user_id",
]

_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class Entropy(Protocol):
    """A source of unpredictable bytes."""

    def token_bytes(self, n: int) -> bytes: ...


class SystemEntropy:
    """The operating system's CSPRNG."""

    def token_bytes(self, n: int) -> bytes:
        return _secrets.token_bytes(n)


_SYSTEM = SystemEntropy()


def _draw(alphabet: str, length: int, entropy: Entropy) -> str:
    # Rejection sampling keeps every character uniform for alphabets that do not divide 256.
    size = len(alphabet)
    limit = 256 - (256 % size)
    out: list[str] = []
    while len(out) < length:
        for byte in entropy.token_bytes(length * 2):
            if byte < limit:
                out.append(alphabet[byte % size])
                if len(out) == length:
                    break
    return "".join(out)


def _unique(prefix: str, length: int, entropy: Entropy | None) -> str:
    return prefix + _draw(_ID_ALPHABET, length - len(prefix), entropy or _SYSTEM)


def access_key_id(entropy: Entropy | None = None) -> str:
    """A long-term access key id: ``AKIA`` + 16 characters."""
    return _unique("AKIA", 20, entropy)


def temporary_access_key_id(entropy: Entropy | None = None) -> str:
    """A temporary access key id: ``ASIA`` + 16 characters."""
    return _unique("ASIA", 20, entropy)


def user_id(entropy: Entropy | None = None) -> str:
    return _unique("AIDA", 21, entropy)


def role_id(entropy: Entropy | None = None) -> str:
    return _unique("AROA", 21, entropy)


def group_id(entropy: Entropy | None = None) -> str:
    return _unique("AGPA", 21, entropy)


def policy_id(entropy: Entropy | None = None) -> str:
    return _unique("ANPA", 21, entropy)


def mfa_id(entropy: Entropy | None = None) -> str:
    return _unique("AMFA", 21, entropy)


def secret_access_key(entropy: Entropy | None = None) -> str:
    """A 40-character secret access key (base64 alphabet, as AWS issues them)."""
    return _draw(_SECRET_ALPHABET, 40, entropy or _SYSTEM)


def request_id(entropy: Entropy | None = None) -> str:
    """A request id in AWS's UUID form."""
    return str(uuid.UUID(bytes=(entropy or _SYSTEM).token_bytes(16), version=4))
