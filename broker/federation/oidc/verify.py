"""Verifying an OIDC ID token against its registered provider: pure, given the keys and the time.

Order (OpenID Connect Core 1.0 §3.1.3.7 "ID Token Validation"; AWS STS API Reference,
AssumeRoleWithWebIdentity, https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html;
IAM User Guide "Create an OpenID Connect (OIDC) identity provider in IAM",
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_oidc.html):

1. shape and header (``jose.parse_token``), issuer found by **exact** ``iss`` (the caller does that);
2. signature with pyjwt over the key chosen by ``kid`` (``keys.KeySet``), the algorithm pinned to the
   header's allow-listed ``alg`` (pyjwt only ever sees a one-element allow-list);
3. claims, checked here with the injected time rather than pyjwt's own clock (STYLE.md on pyjwt):

   - ``aud`` (OIDC Core §3.1.3.7 items 3-5): a string must be one of the provider's client ids. A list is
     handled deliberately: **exactly one** member may be a registered client id (two would make the
     session's ``:aud`` ambiguous), and when the list has several members and ``azp`` is present, ``azp``
     must equal that client id. ``azp`` alone never stands in for ``aud``;
   - ``exp`` required, an integer (RFC 7519 §4.1.4; AWS: "timestamps are integers"); expired when
     ``now >= exp + skew`` → ``ExpiredTokenException``;
   - ``iat`` required (AWS refuses tokens that are too old: ``ExpiredTokenException: Token too old``);
     refused when more than ``skew`` in the future (``InvalidIdentityToken``) or older than
     ``max_age`` (``ExpiredTokenException``);
   - ``nbf`` optional; ``now < nbf - skew`` → ``InvalidIdentityToken``;
   - ``sub`` required, a non-empty string of at most 255 characters (``SubjectFromWebIdentityToken``).

Every failure is ``InvalidIdentityToken`` or ``ExpiredTokenException`` with the exact reason as ``detail``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from broker.errors import ExpiredTokenException, InvalidIdentityToken
from broker.federation.identity import FederatedIdentity
from broker.federation.oidc.claims import context_keys, key_prefix
from broker.federation.oidc.jose import UnverifiedToken
from broker.federation.oidc.keys import KeySet

__all__ = ["Rules", "check_claims", "check_signature", "verify_token"]

TAGS_CLAIM = "https://aws.amazon.com/tags"
SOURCE_IDENTITY_CLAIM = "https://aws.amazon.com/source_identity"
AUDIENCE = "Incorrect token audience"


@dataclass(frozen=True)
class Rules:
    """Tolerances: clock skew (``BROKER_CLOCK_SKEW_SECONDS``), maximum token age, maximum size."""

    skew_seconds: int = 60
    max_age_seconds: int = 86_400
    max_subject_chars: int = 255


def check_signature(token: UnverifiedToken, keys: KeySet) -> None:
    """The JWS signature with the ``kid`` key and the pinned ``alg``; any failure is InvalidIdentityToken.

    ``jose.parse_token`` has already split and decoded the compact form and refused every header pyjwt
    would refuse or that broker refuses; the check itself is pyjwt's: the algorithm object the ``PyJWK``
    was prepared for verifies the signature over the signing input, as ``PyJWS.decode_complete`` does
    for a ``PyJWK`` key, without decoding the token a second time. A header with ``b64`` (RFC 7797) goes
    through ``decode_complete`` itself.
    """
    key = keys.key_for(token.key_id, token.algorithm)
    if "b64" in token.header:
        _check_with_pyjws(token, key)
        return
    if key.algorithm_name != token.algorithm:  # the key was prepared for this alg; never verify with another
        raise InvalidIdentityToken(
            "The ID token signature is invalid",
            detail=f"alg {token.algorithm!r} does not match the key's algorithm {key.algorithm_name!r}",
        )
    try:
        algorithm = key.Algorithm
        valid = algorithm.verify(token.signing_input, algorithm.prepare_key(key.key), token.signature)
    except Exception as exc:  # anything raw from the algorithm or the key: refused, never a 5xx
        raise InvalidIdentityToken(
            "The ID token signature is invalid", detail=f"pyjwt refused the token: {type(exc).__name__}: {exc}"
        ) from None
    if not valid:
        raise InvalidIdentityToken(
            "The ID token signature is invalid", detail=f"signature check failed with kid {token.key_id!r}"
        )


def _check_with_pyjws(token: UnverifiedToken, key: jwt.PyJWK) -> None:
    """The general path: pyjwt decodes and verifies the whole compact token."""
    try:
        jwt.PyJWS().decode_complete(token.compact, key=key.key, algorithms=[token.algorithm])
    except jwt.InvalidSignatureError:
        raise InvalidIdentityToken(
            "The ID token signature is invalid", detail=f"signature check failed with kid {token.key_id!r}"
        ) from None
    except Exception as exc:  # pyjwt's other errors (decode, algorithm, key) and anything raw underneath
        raise InvalidIdentityToken(
            "The ID token signature is invalid", detail=f"pyjwt refused the token: {type(exc).__name__}: {exc}"
        ) from None


def _timestamp(payload: dict[str, Any] | Any, name: str, *, required: bool) -> int | None:
    value = payload.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidIdentityToken(
            f"The ID token's {name} claim must be an integer timestamp", detail=f"{name}={value!r}"
        )
    return value


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _audience(payload: Any, client_ids: Sequence[str]) -> str:
    aud = payload.get("aud")
    azp = payload.get("azp")
    registered = set(client_ids)
    if isinstance(aud, str):
        if aud not in registered:
            raise InvalidIdentityToken(AUDIENCE, detail=f"aud {aud!r} is not a client id of the provider")
        return aud
    if not isinstance(aud, list) or not aud or not all(isinstance(a, str) for a in aud):
        raise InvalidIdentityToken(AUDIENCE, detail=f"aud {aud!r} is neither a string nor a list of strings")
    matched = [a for a in dict.fromkeys(aud) if a in registered]
    if not matched:
        raise InvalidIdentityToken(AUDIENCE, detail=f"no member of aud {aud!r} is a client id of the provider")
    if len(matched) > 1:
        raise InvalidIdentityToken(AUDIENCE, detail=f"aud names several client ids {matched}: ambiguous")
    if len(aud) > 1 and azp is not None and azp != matched[0]:
        raise InvalidIdentityToken(AUDIENCE, detail=f"azp {azp!r} differs from the matched audience {matched[0]!r}")
    return str(matched[0])


def check_claims(
    payload: Any, *, client_ids: Sequence[str], now: datetime, rules: Rules
) -> tuple[str, int, int]:
    """``(audience, iat, exp)`` once ``aud``, ``exp``, ``iat``, ``nbf`` and ``sub`` pass."""
    audience = _audience(payload, client_ids)
    t = int(now.timestamp())
    skew = rules.skew_seconds
    exp = _timestamp(payload, "exp", required=True)
    iat = _timestamp(payload, "iat", required=True)
    nbf = _timestamp(payload, "nbf", required=False)
    assert exp is not None and iat is not None
    if t >= exp + skew:
        raise ExpiredTokenException(
            f"Token expired: current date/time {_iso(t)} must be before the expiration date/time {_iso(exp)}",
            detail=f"exp {exp} + skew {skew} <= now {t}",
        )
    if iat > t + skew:
        raise InvalidIdentityToken("The ID token was issued in the future", detail=f"iat {iat} > now {t} + skew {skew}")
    if nbf is not None and t < nbf - skew:
        raise InvalidIdentityToken("The ID token is not yet valid", detail=f"nbf {nbf} - skew {skew} > now {t}")
    if t - iat > rules.max_age_seconds + skew:
        raise ExpiredTokenException(
            f"Token too old: {t - iat}", detail=f"issued {t - iat} s ago, maximum age {rules.max_age_seconds} s"
        )
    sub = payload.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > rules.max_subject_chars:
        raise InvalidIdentityToken(
            "The ID token's sub claim is missing or invalid", detail=f"sub of type {type(sub).__name__}"
        )
    return audience, iat, exp


def _session_claims(payload: Any) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...], str | None]:
    """Session tags and source identity from the AWS claims ("Passing session tags using
    AssumeRoleWithWebIdentity", https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_adding-assume-role-idp):
    ``principal_tags`` maps a key to a one-element list (multi-valued tags are refused)."""
    raw = payload.get(TAGS_CLAIM)
    tags: list[tuple[str, str]] = []
    transitive: list[str] = []
    if raw is not None:
        principal_tags = raw.get("principal_tags", {}) if isinstance(raw, dict) else None
        keys = raw.get("transitive_tag_keys", []) if isinstance(raw, dict) else None
        if not isinstance(principal_tags, dict) or not isinstance(keys, list):
            raise InvalidIdentityToken(
                "The session tags claim is malformed", detail=f"{TAGS_CLAIM} has the wrong shape"
            )
        for key, values in principal_tags.items():
            if not isinstance(values, list) or len(values) != 1 or not isinstance(values[0], str):
                raise InvalidIdentityToken(
                    "The session tags claim is malformed",
                    detail=f"tag {key!r}: the value must be a list of exactly one string",
                )
            tags.append((str(key), values[0]))
        if not all(isinstance(k, str) for k in keys):
            raise InvalidIdentityToken("The session tags claim is malformed", detail="transitive_tag_keys not strings")
        transitive = [str(k) for k in keys]
    source = payload.get(SOURCE_IDENTITY_CLAIM)
    if source is not None and not isinstance(source, str):
        raise InvalidIdentityToken("The source identity claim is malformed", detail="source_identity is not a string")
    return tuple(tags), tuple(transitive), source


def verify_token(
    token: UnverifiedToken,
    *,
    provider_arn: str,
    client_ids: Sequence[str],
    keys: KeySet,
    now: datetime,
    rules: Rules,
) -> FederatedIdentity:
    """Signature and claims; the verified identity with its condition keys."""
    check_signature(token, keys)
    payload = token.payload
    audience, iat, exp = check_claims(payload, client_ids=client_ids, now=now, rules=rules)
    tags, transitive, source = _session_claims(payload)
    prefix = key_prefix(token.issuer)
    azp = payload.get("azp")
    return FederatedIdentity(
        provider_arn=provider_arn,
        issuer=token.issuer,
        key_prefix=prefix,
        subject=str(payload["sub"]),
        audience=audience,
        issued_at=datetime.fromtimestamp(iat, UTC),
        expires_at=datetime.fromtimestamp(exp, UTC),
        token_digest=hashlib.sha256(token.compact.encode("ascii", "replace")).hexdigest(),
        key_id=token.key_id,
        algorithm=token.algorithm,
        claims=dict(payload),
        context=context_keys(prefix, payload, audience),
        session_tags=tags,
        transitive_tag_keys=transitive,
        source_identity=source,
        azp=azp if isinstance(azp, str) else None,
    )
