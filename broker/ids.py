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
    "DrawnEntropy",
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
_TABLES = {
    alphabet: bytes(ord(alphabet[byte % len(alphabet)]) for byte in range(256))
    for alphabet in (_ID_ALPHABET, _SECRET_ALPHABET)
}
"""Byte -> character tables of the alphabets whose size divides 256 (no byte is rejected: one C ``translate``)."""


class Entropy(Protocol):
    """A source of unpredictable bytes."""

    def token_bytes(self, n: int) -> bytes: ...


class SystemEntropy:
    """The operating system's CSPRNG."""

    def token_bytes(self, n: int) -> bytes:
        return _secrets.token_bytes(n)


class DrawnEntropy:
    """``size`` bytes drawn from ``source`` at once, handed out in order, each byte once.

    One read of the OS CSPRNG instead of one per identifier (each ``getrandom`` is a system call). A request
    for more than is left is served by ``source`` itself, so the bytes are never reused and never run out.
    """

    __slots__ = ("_drawn", "_position", "_source")

    def __init__(self, source: Entropy, size: int) -> None:
        self._source = source
        self._drawn = source.token_bytes(size)
        self._position = 0

    def __repr__(self) -> str:
        return f"DrawnEntropy(left={len(self._drawn) - self._position})"

    def token_bytes(self, n: int) -> bytes:
        start = self._position
        end = start + n
        if n < 0 or end > len(self._drawn):
            return self._source.token_bytes(n)
        self._position = end
        return self._drawn[start:end]


_SYSTEM = SystemEntropy()


def _draw(alphabet: str, length: int, entropy: Entropy) -> str:
    table = _TABLES.get(alphabet)
    if table is not None:
        # Every byte is accepted below (256 % size == 0): the first ``length`` bytes of the same draw, mapped
        # in C. Equal to the loop for any entropy (tests/unit/test_ids_draw.py).
        drawn = entropy.token_bytes(length * 2)[:length]
        while len(drawn) < length:  # a short draw (never from the OS): keep drawing, as the loop below does
            drawn += entropy.token_bytes(length * 2)[: length - len(drawn)]
        return drawn.translate(table).decode("ascii")
    return _draw_rejecting(alphabet, length, entropy)


def _draw_rejecting(alphabet: str, length: int, entropy: Entropy) -> str:
    """The general form: rejection sampling keeps every character uniform for alphabets that do not divide 256."""
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
