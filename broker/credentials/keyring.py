"""The keyring: session-token keys (AES-256-GCM) and JWT signing keys, with rotation as a list.

Pure data and key generation; loading, storing and rotating through the store is
``broker/service/keyring.py``. DESIGN.md §4 "Session tokens are sealed, not looked up": new tokens use
the newest active key of their purpose, older keys keep verifying until the last token they sealed has
expired. The longest-lived token broker issues is a ``GetSessionToken`` session of 129,600 s (AWS STS
API Reference, API_GetSessionToken, "DurationSeconds",
https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html), so a retired key may be
purged once it has been retired that long (:data:`MAX_TOKEN_LIFETIME`).

JWT signing keys follow RFC 7518 (ES256 on P-256 by default, RS256, and EdDSA/Ed25519 per RFC 8037);
:meth:`Keyring.jwks` exports their public halves as an RFC 7517 JWK Set. Key material is never
repr'd. Asymmetric key generation uses ``cryptography`` (the OS CSPRNG); symmetric keys take the
injected :class:`~broker.ids.Entropy`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from broker.ids import Entropy

__all__ = [
    "JWT_ALGORITHMS",
    "MAX_TOKEN_LIFETIME",
    "KeyMaterial",
    "KeyPurpose",
    "Keyring",
    "generate_key",
    "new_key_id",
]

KeyPurpose = Literal["session-token", "jwt-signing"]
JwtAlgorithm = Literal["ES256", "RS256", "EdDSA"]
JWT_ALGORITHMS: tuple[JwtAlgorithm, ...] = ("ES256", "RS256", "EdDSA")
SESSION_ALGORITHM = "A256GCM"
MAX_TOKEN_LIFETIME = timedelta(seconds=129_600)
"""The longest lifetime of anything a keyring key seals (GetSessionToken's maximum)."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_key_id(purpose: KeyPurpose, created_at: datetime, entropy: Entropy) -> str:
    """``st-YYYYMMDDHHMMSS-xxxxxxxx`` (session token) or ``js-…`` (JWT signing): sortable, unique."""
    prefix = "st" if purpose == "session-token" else "js"
    return f"{prefix}-{created_at:%Y%m%d%H%M%S}-{entropy.token_bytes(4).hex()}"


@dataclass(frozen=True)
class KeyMaterial:
    """One key: its id, purpose, algorithm, secret bytes and lifecycle times.

    ``secret`` is the raw 32-byte AES key for session-token keys and the PKCS#8 DER private key for
    JWT signing keys. A key is *active* (used for new seals) from ``activated_at`` until ``retired_at``;
    it verifies until it is purged.
    """

    key_id: str
    purpose: KeyPurpose
    algorithm: str
    secret: bytes = field(repr=False)
    created_at: datetime
    activated_at: datetime | None = None
    retired_at: datetime | None = None

    def __repr__(self) -> str:
        return (
            f"KeyMaterial(key_id={self.key_id!r}, purpose={self.purpose!r}, algorithm={self.algorithm!r}, "
            f"secret=**********, activated_at={self.activated_at!r}, retired_at={self.retired_at!r})"
        )

    def is_active(self, now: datetime) -> bool:
        return self.activated_at is not None and self.activated_at <= now and (
            self.retired_at is None or self.retired_at > now
        )

    def purgeable(self, now: datetime) -> bool:
        """Retired long enough that no token it sealed can still be valid."""
        return self.retired_at is not None and now >= self.retired_at + MAX_TOKEN_LIFETIME

    def private_key(self) -> Any:
        """The JWT signing key as a ``cryptography`` private key object."""
        if self.purpose != "jwt-signing":
            raise ValueError("not a JWT signing key")
        return serialization.load_der_private_key(self.secret, password=None)

    def public_jwk(self) -> dict[str, str]:
        """RFC 7517 JWK of the public half (``kid``, ``use=sig``, ``alg``)."""
        public = self.private_key().public_key()
        jwk: dict[str, str] = {"kid": self.key_id, "use": "sig", "alg": self.algorithm}
        if isinstance(public, ec.EllipticCurvePublicKey):
            numbers = public.public_numbers()
            x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
            jwk.update(kty="EC", crv="P-256", x=_b64url(x), y=_b64url(y))
        elif isinstance(public, rsa.RSAPublicKey):
            n = public.public_numbers()
            jwk.update(
                kty="RSA",
                n=_b64url(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
                e=_b64url(n.e.to_bytes((n.e.bit_length() + 7) // 8, "big")),
            )
        elif isinstance(public, ed25519.Ed25519PublicKey):
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            jwk.update(kty="OKP", crv="Ed25519", x=_b64url(raw))
        else:  # pragma: no cover - generate_key only makes the three kinds above
            raise ValueError(f"unsupported key type {type(public).__name__}")
        return jwk

    @property
    def fingerprint(self) -> str:
        """A short non-secret identifier of the material (for logs and ``broker keys list``)."""
        return hashlib.sha256(b"broker-key-fp:" + self.secret).hexdigest()[:16]


def generate_key(
    purpose: KeyPurpose,
    *,
    now: datetime,
    entropy: Entropy,
    algorithm: str | None = None,
    key_id: str | None = None,
    activate: bool = True,
) -> KeyMaterial:
    """A fresh key; session-token keys are 32 bytes from ``entropy``, signing keys from ``cryptography``."""
    kid = key_id or new_key_id(purpose, now, entropy)
    activated = now if activate else None
    if purpose == "session-token":
        if algorithm not in (None, SESSION_ALGORITHM):
            raise ValueError(f"session-token keys are {SESSION_ALGORITHM}, not {algorithm}")
        return KeyMaterial(kid, purpose, SESSION_ALGORITHM, entropy.token_bytes(32), now, activated)
    alg = algorithm or "ES256"
    private: Any
    if alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    elif alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"unsupported JWT signing algorithm {alg!r} (allowed: {', '.join(JWT_ALGORITHMS)})")
    der = private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return KeyMaterial(kid, purpose, alg, der, now, activated)


class Keyring:
    """An immutable list of keys. Build a new one to rotate (``with_keys``).

    Each session-token key's ``AESGCM`` object is built once per keyring (:meth:`session_aead`) and lives
    exactly as long as this keyring: a key purged from the store is absent from the next keyring loaded,
    and its object goes with the old keyring.
    """

    __slots__ = ("_aead", "_by_kid", "_keys")

    def __init__(self, keys: Iterable[KeyMaterial] = ()) -> None:
        self._keys: tuple[KeyMaterial, ...] = tuple(sorted(keys, key=lambda k: (k.created_at, k.key_id)))
        self._by_kid = {k.key_id: k for k in self._keys}
        self._aead: dict[str, AESGCM] = {}

    def __repr__(self) -> str:
        return f"Keyring({[k.key_id for k in self._keys]})"

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def keys(self) -> Sequence[KeyMaterial]:
        return self._keys

    def by_kid(self, kid: str) -> KeyMaterial | None:
        return self._by_kid.get(kid)

    def session_aead(self, key: KeyMaterial) -> AESGCM:
        """The AES-256-GCM cipher of session-token ``key``: cached when it is this keyring's own key object,
        built afresh for any other (a key passed in from elsewhere is never cached under a held key's id)."""
        if key.purpose != "session-token":
            raise ValueError("not a session-token key")
        kid = key.key_id
        if self._by_kid.get(kid) is not key:
            return AESGCM(key.secret)
        aead = self._aead.get(kid)
        if aead is None:  # two threads may both build one: equal objects, either is kept
            aead = self._aead.setdefault(kid, AESGCM(key.secret))
        return aead

    def of(self, purpose: KeyPurpose) -> list[KeyMaterial]:
        return [k for k in self._keys if k.purpose == purpose]

    def current(self, purpose: KeyPurpose, now: datetime) -> KeyMaterial:
        """The newest key of ``purpose`` active at ``now``; ``LookupError`` when there is none."""
        active = [k for k in self._keys if k.purpose == purpose and k.is_active(now)]
        if not active:
            raise LookupError(f"no active {purpose} key")
        return max(active, key=lambda k: (k.activated_at, k.created_at, k.key_id))

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """RFC 7517 JWK Set of every (unpurged) JWT signing key's public half, newest first."""
        signing = [k for k in reversed(self._keys) if k.purpose == "jwt-signing"]
        return {"keys": [k.public_jwk() for k in signing]}

    def with_keys(self, keys: Iterable[KeyMaterial]) -> Keyring:
        merged = dict(self._by_kid)
        merged.update({k.key_id: k for k in keys})
        return Keyring(merged.values())
