"""Reading a compact JWS before trusting it: size, shape, header and payload, with no key yet.

The signature itself is checked by pyjwt (``verify.py``); this module does what pyjwt does not refuse
on its own, before any key is chosen (RFC 7515, RFC 7519, OpenID Connect Core 1.0 §3.1.3.7):

- at most :data:`MAX_TOKEN_CHARS` characters (the ``WebIdentityToken`` limit of AssumeRoleWithWebIdentity,
  https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html, "WebIdentityToken");
- three base64url segments, JSON objects with **no duplicate member names** (RFC 7515 §5.2 step 4 lets a
  recipient refuse them; JSON parsers disagree on which duplicate wins, so broker refuses);
- ``alg`` in the asymmetric allow-list :data:`ALLOWED_ALGORITHMS`: never ``none``, never HMAC (RFC 8725
  §3.1, §3.2: the algorithm-confusion attack needs the verifier to accept ``HS*`` with a public key);
- ``crit`` refused (RFC 7515 §4.1.11: a recipient that does not understand a listed extension must
  refuse; broker understands none);
- ``jwk``, ``jku``, ``x5u``, ``x5c`` refused: a token may not name or carry its own key (RFC 8725 §3.10).
  Keys come only from the registered issuer's JWKS;
- ``kid`` required: broker picks keys by ``kid`` only (OIDC Core §10.1 "the kid value MUST be
  provided" when the JWK Set has several keys; broker asks it always, docs/compatibility.md).

Every refusal is :class:`~broker.errors.InvalidIdentityToken` whose ``detail`` says exactly why.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from broker.errors import InvalidIdentityToken

__all__ = [
    "ALLOWED_ALGORITHMS",
    "MAX_TOKEN_CHARS",
    "REFUSED_HEADERS",
    "UnverifiedToken",
    "parse_token",
    "strict_json",
]

MAX_TOKEN_CHARS = 20_000
ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
REFUSED_HEADERS = ("jwk", "jku", "x5u", "x5c", "crit")
MALFORMED = "The ID token provided is not a well-formed JSON Web Token"


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)  # built in C; a duplicate makes it shorter than the pairs
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return out


def _constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def strict_json(data: bytes | str, what: str) -> Any:
    """``json.loads`` that refuses duplicate member names and ``NaN``/``Infinity``."""
    try:
        return json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_constant)
    except _Duplicate as dup:
        raise InvalidIdentityToken(MALFORMED, detail=f"duplicate member {str(dup)!r} in the {what}") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidIdentityToken(MALFORMED, detail=f"the {what} is not JSON: {type(exc).__name__}") from None


def _b64(segment: str, what: str) -> bytes:
    if _B64URL.fullmatch(segment) is None:  # non-empty, base64url alphabet only, no padding
        raise InvalidIdentityToken(MALFORMED, detail=f"the {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise InvalidIdentityToken(MALFORMED, detail=f"the {what} is not base64url") from None


_B64URL = re.compile(r"[A-Za-z0-9_-]+")
"""The base64url alphabet (RFC 4648 §5) without padding, checked in C rather than per character."""


@dataclass(frozen=True)
class UnverifiedToken:
    """A token whose shape passed and whose signature has not been checked yet."""

    header: Mapping[str, Any]
    payload: Mapping[str, Any] = field(repr=False)
    compact: str = field(repr=False)
    signature: bytes = field(repr=False, default=b"")
    """The decoded signature segment (``verify.check_signature`` checks it over :attr:`signing_input`)."""

    @property
    def signing_input(self) -> bytes:
        """``BASE64URL(header) '.' BASE64URL(payload)``, the bytes the signature covers (RFC 7515 §5.2)."""
        return self.compact.rpartition(".")[0].encode("ascii")

    @property
    def algorithm(self) -> str:
        return str(self.header["alg"])

    @property
    def key_id(self) -> str:
        return str(self.header["kid"])

    @property
    def issuer(self) -> str:
        return str(self.payload["iss"])


def parse_token(token: str, *, max_chars: int = MAX_TOKEN_CHARS) -> UnverifiedToken:
    """Check size, shape, header rules and ``iss`` presence; the signature is not checked here."""
    if len(token) > max_chars:
        raise InvalidIdentityToken(
            f"The ID token is larger than {max_chars} characters", detail=f"token of {len(token)} characters"
        )
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidIdentityToken(MALFORMED, detail=f"{len(parts)} dot-separated segments instead of 3 (JWE or junk)")
    header = strict_json(_b64(parts[0], "header"), "header")
    if not isinstance(header, dict):
        raise InvalidIdentityToken(MALFORMED, detail="the header is not a JSON object")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
        raise InvalidIdentityToken(
            "The ID token is signed with an algorithm broker does not accept",
            detail=f"alg {alg!r} not in the allow-list {sorted(ALLOWED_ALGORITHMS)}",
        )
    present = [h for h in REFUSED_HEADERS if h in header]
    if present:
        raise InvalidIdentityToken(
            "The ID token header carries parameters broker refuses",
            detail=f"refused header parameters {present}: keys come only from the issuer's JWKS",
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidIdentityToken(
            "The ID token header has no key id (kid)", detail=f"kid {kid!r} is not a non-empty string"
        )
    payload = strict_json(_b64(parts[1], "payload"), "payload")
    if not isinstance(payload, dict):
        raise InvalidIdentityToken(MALFORMED, detail="the payload is not a JSON object")
    signature = _b64(parts[2], "signature")
    if not signature:
        raise InvalidIdentityToken(MALFORMED, detail="empty signature")
    iss = payload.get("iss")
    if not isinstance(iss, str) or not iss:
        raise InvalidIdentityToken("The ID token has no issuer (iss)", detail=f"iss {iss!r}")
    return UnverifiedToken(header, payload, token, signature)
