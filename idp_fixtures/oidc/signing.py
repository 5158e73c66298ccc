"""Signing keys of the fixture IdP: generate, rotate on demand, publish as a JWK Set, sign ID tokens."""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

__all__ = ["KeyPair", "KeyRing", "new_key"]

_CURVES = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}


@dataclass(frozen=True)
class KeyPair:
    kid: str
    alg: str
    private: Any = field(repr=False)

    def public_jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if self.alg.startswith(("RS", "PS")):
            jwk = json.loads(RSAAlgorithm.to_jwk(public))
        elif self.alg.startswith("ES"):
            jwk = json.loads(ECAlgorithm.to_jwk(public))
        else:
            jwk = json.loads(OKPAlgorithm.to_jwk(public))
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return dict(jwk)

    def sign(self, claims: dict[str, Any], headers: dict[str, Any] | None = None) -> str:
        head = {"kid": self.kid, **(headers or {})}
        return jwt.encode(claims, self.private, algorithm=self.alg, headers=head)


def new_key(alg: str = "RS256", kid: str | None = None) -> KeyPair:
    if alg.startswith(("RS", "PS")):
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg in _CURVES:
        private = ec.generate_private_key(_CURVES[alg])
    elif alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"unsupported algorithm {alg}")
    return KeyPair(kid or f"{alg.lower()}-{secrets.token_hex(4)}", alg, private)


class KeyRing:
    """The IdP's keys: the newest signs; older ones stay published until retired."""

    def __init__(self, alg: str = "RS256") -> None:
        self._lock = threading.Lock()
        self.keys: list[KeyPair] = [new_key(alg)]

    @property
    def active(self) -> KeyPair:
        with self._lock:
            return self.keys[-1]

    def rotate(self, alg: str | None = None, *, retire_previous: bool = False) -> KeyPair:
        key = new_key(alg or self.active.alg)
        with self._lock:
            if retire_previous:
                self.keys = []
            self.keys.append(key)
        return key

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [k.public_jwk() for k in self.keys]}
