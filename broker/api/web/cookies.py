"""Login state in sealed cookies: authenticated encryption, so any node can continue a login (no sticky sessions).

DESIGN.md §4: "Browser login state travels in signed, encrypted cookies". The key is derived from the master key
with HKDF-SHA256 (RFC 5869, ``cryptography``'s implementation) under a purpose label, so it is the same on every
node sharing ``BROKER_MASTER_KEY`` and independent of every other use of that key. Each cookie value is
``base64url(0x01 | nonce(12) | AES-256-GCM(JSON))`` with the cookie's *name* as associated data (a value moved to
another cookie does not open) and an expiry inside the sealed payload, checked against the injected clock.

Cookie attributes (RFC 6265 §4.1.2; SameSite per RFC 6265bis §4.1.2.7): ``HttpOnly``, ``SameSite=Lax`` (the IdP's
redirect back to ``/oidc/callback`` is a top-level GET, which Lax allows), ``Secure`` when broker is served over
TLS (``BROKER_PUBLIC_URL`` is ``https://``), ``Path=/``, and a ``Max-Age`` equal to the sealed expiry.

One cookie is different: the *request state* an IdP's cross-site HTTP-POST must bring back (SAML's AuthnRequest
id, checked against ``InResponseTo``). A browser does not send a ``Lax`` or ``Strict`` cookie with a cross-site
POST (RFC 6265bis §5.8.3.7), so :func:`set_request_state_cookie` sets ``SameSite=None; Secure`` over TLS — as
Shibboleth SP and SimpleSAMLphp do; browsers refuse ``SameSite=None`` without ``Secure`` (RFC 6265bis
§5.7 step 15). Over plain HTTP (local development) it sets no ``SameSite`` attribute: Firefox and Safari then
send it, and Chrome's Lax-by-default still sends a cookie without the attribute on a top-level cross-site POST
within two minutes of setting it ("Lax+POST"); an IdP on the same host (another port is the same site) always
works. The cookie carries no authority: it only lets the ACS check ``InResponseTo`` and ``RelayState``. The
CSRF-protected forms' cookies and the session cookie keep ``SameSite=Lax`` (:func:`set_cookie`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from starlette.responses import Response

from broker.ids import Entropy

__all__ = [
    "MAX_COOKIE",
    "CookieSealer",
    "LoginStateError",
    "clear_cookie",
    "clear_request_state_cookie",
    "set_cookie",
    "set_request_state_cookie",
]

_VERSION = 1
MAX_COOKIE = 3800
"""Largest sealed value broker sets (browsers keep at least 4096 bytes per cookie, RFC 6265 §6.1)."""


class LoginStateError(Exception):
    """The login state is missing, forged, moved, expired or too large; ``str()`` says which (no secrets)."""


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CookieSealer:
    """Seals and opens JSON payloads for named cookies."""

    def __init__(self, master_key: bytes, entropy: Entropy, *, purpose: str = "broker web login state v1") -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(master_key)
        self._aead = AESGCM(key)
        self._entropy = entropy

    def __repr__(self) -> str:
        return "CookieSealer(key=**********)"

    def seal(self, name: str, payload: Mapping[str, Any], *, now: datetime, ttl: int) -> str:
        """A cookie value for ``name`` holding ``payload`` until ``now + ttl`` seconds."""
        body = json.dumps({"exp": int(now.timestamp()) + ttl, "v": dict(payload)}, separators=(",", ":"))
        nonce = self._entropy.token_bytes(12)
        value = _b64e(bytes([_VERSION]) + nonce + self._aead.encrypt(nonce, body.encode(), name.encode()))
        if len(value) > MAX_COOKIE:
            raise LoginStateError(f"login state for {name} is too large for a cookie ({len(value)} bytes)")
        return value

    def open(self, name: str, value: str | None, *, now: datetime) -> dict[str, Any]:
        """The payload sealed for ``name``; :class:`LoginStateError` unless it is ours, intact and current."""
        if not value:
            raise LoginStateError("no login in progress (the login cookie is missing)")
        if len(value) > MAX_COOKIE:
            raise LoginStateError("the login cookie is too large")
        try:
            raw = _b64d(value)
        except (binascii.Error, ValueError):
            raise LoginStateError("the login cookie is not one of ours") from None
        if len(raw) < 1 + 12 + 16 or raw[0] != _VERSION:
            raise LoginStateError("the login cookie is not one of ours")
        try:
            body = self._aead.decrypt(raw[1:13], raw[13:], name.encode())
        except InvalidTag:
            raise LoginStateError("the login cookie failed authentication") from None
        data = json.loads(body)
        if int(data["exp"]) <= int(now.timestamp()):
            raise LoginStateError("the login has expired; start again")
        payload: dict[str, Any] = data["v"]
        return payload


def set_cookie(response: Response, name: str, value: str, *, max_age: int, secure: bool) -> None:
    """Attach ``name=value`` with broker's attributes (HttpOnly, SameSite=Lax, Secure over TLS)."""
    response.set_cookie(name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax")


def clear_cookie(response: Response, name: str, *, secure: bool) -> None:
    response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")


def _cross_site(secure: bool) -> Literal["none"] | None:
    return "none" if secure else None


def set_request_state_cookie(response: Response, name: str, value: str, *, max_age: int, secure: bool) -> None:
    """Attach login state that an IdP's cross-site POST must carry back: ``SameSite=None; Secure`` over TLS,
    no ``SameSite`` attribute over plain HTTP (module docstring); HttpOnly, Path=/."""
    response.set_cookie(name, value, max_age=max_age, path="/", secure=secure, httponly=True,
                        samesite=_cross_site(secure))


def clear_request_state_cookie(response: Response, name: str, *, secure: bool) -> None:
    response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite=_cross_site(secure))
