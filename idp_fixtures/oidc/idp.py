"""The fixture OIDC IdP: state (issuer, keys, fault mode) and token minting, usable without HTTP.

Tests import :class:`OidcIdp` to mint tokens in-process, or run :func:`idp_fixtures.oidc.server.create_app`
(``python -m idp_fixtures.oidc``) to serve discovery and JWKS over HTTP. Fault modes change what the
JWKS endpoint answers: ``slow`` (waits ``slow_seconds``), ``down`` (503), ``garbage`` (not JSON),
``wrong-key`` (publishes a fresh key that did not sign anything), ``huge`` (a multi-megabyte body),
``redirect`` (302 to another host). ``ok`` restores normal service.

Times are passed in (``now`` seconds) so tests stay exact; the HTTP server uses the wall clock of the
test process, which is fine for a fixture outside ``broker/``.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

from idp_fixtures.oidc.profiles import claims_for
from idp_fixtures.oidc.signing import KeyPair, KeyRing, new_key

__all__ = ["FAULTS", "Fault", "OidcIdp"]

Fault = Literal["ok", "slow", "down", "garbage", "wrong-key", "huge", "redirect"]
FAULTS: tuple[Fault, ...] = ("ok", "slow", "down", "garbage", "wrong-key", "huge", "redirect")


@dataclass
class OidcIdp:
    """An issuer with rotating keys and a switchable fault mode."""

    issuer: str
    alg: str = "RS256"
    default_audience: str = "sts.amazonaws.com"
    fault: Fault = "ok"
    slow_seconds: float = 10.0
    cache_control: str | None = "max-age=300"
    jwks_fetches: int = 0
    keyring: KeyRing = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.keyring = KeyRing(self.alg)

    def discovery(self) -> dict[str, Any]:
        base = self.issuer.rstrip("/")
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{base}/jwks",
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "device_authorization_endpoint": f"{base}/device/code",
            "response_types_supported": ["code", "id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": sorted({k.alg for k in self.keyring.keys}),
            "scopes_supported": ["openid", "email", "profile"],
            "claims_supported": ["sub", "aud", "exp", "iat", "iss"],
        }

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            self.jwks_fetches += 1
        if self.fault == "wrong-key":
            return {"keys": [new_key(self.keyring.active.alg, kid=self.keyring.active.kid).public_jwk()]}
        return self.keyring.jwks()

    def rotate(self, alg: str | None = None, *, retire_previous: bool = False) -> KeyPair:
        return self.keyring.rotate(alg, retire_previous=retire_previous)

    def mint(
        self,
        *,
        now: int,
        profile: str | None = None,
        sub: str | None = None,
        audience: str | list[str] | None = None,
        lifetime: int = 300,
        claims: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        key: KeyPair | None = None,
        drop: tuple[str, ...] = (),
    ) -> str:
        """A signed ID token: profile claims, then ``iss``/``aud``/``iat``/``exp``/``jti``, then overrides."""
        body: dict[str, Any] = claims_for(profile, sub) if profile else {"sub": sub or "user-1"}
        body.update({
            "iss": self.issuer,
            "aud": audience if audience is not None else self.default_audience,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(8),
        })
        body.update(claims or {})
        for name in drop:
            body.pop(name, None)
        return (key or self.keyring.active).sign(body, headers)
