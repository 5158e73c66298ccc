"""Verify broker-issued JWT access tokens (``Authorization: Bearer …``) and name their principal.

broker's token endpoint (``POST /oauth2/token``, SPEC.md §3.2) issues access tokens as JWS signed by a
keyring ``jwt-signing`` key, whose public half is published at ``/.well-known/jwks.json``. This module
checks them against the keyring a PDP holds, with the habits of pyjwt and RFC 8725 ("JSON Web Token
Best Current Practices", https://www.rfc-editor.org/rfc/rfc8725):

* the header's ``kid`` must name a ``jwt-signing`` key we hold and ``alg`` must be *that key's*
  algorithm (ES256, RS256 or EdDSA; never ``none``, never HMAC — RFC 8725 §3.1, §3.2);
* ``crit`` is refused (RFC 7515 §4.1.11: we understand no extension); ``jku``, ``x5u``, ``jwk`` and
  ``x5c`` are refused rather than followed (RFC 8725 §3.10);
* ``iss`` equals the configured issuer exactly; ``aud`` (a string or a list) contains one of the
  configured audiences (RFC 7519 §4.1.3); ``exp`` and ``iat`` are required; ``exp``/``nbf``/``iat`` are
  checked against the injected time with ``skew_seconds`` (pyjwt's own time checks read the wall clock,
  so they are off and done here);
* a token longer than :data:`MAX_TOKEN_CHARS` is refused before decoding.

Claims contract (what the token endpoint puts in; documented in docs/authorize.md)::

    iss, aud, exp, iat, [nbf], jti          RFC 7519
    sub                                     the federated subject (or the session name)
    role            (required)              the role ARN whose policies apply
    role_id                                 the role's AROA… id (for aws:userid)
    session_name                            the role session name (default: sub)
    sid                                     the session id revocations name (default: jti)
    provider                                the identity provider ARN the subject came from
    tags            {key: value}            session tags; transitive_tag_keys [..]
    source_identity, policy, policy_arns    as in a sealed session token

Failures are ``InvalidClientTokenId`` ("The security token included in the request is invalid.") or
``ExpiredToken``, the codes a SigV4 request with a bad session token gets (AWS STS API Reference,
"Common Errors", https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html); the exact reason
goes to ``detail`` only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import jwt

from broker.arn import ArnFactory, parse_arn
from broker.credentials.keyring import JWT_ALGORITHMS, KeyMaterial, Keyring
from broker.errors import ExpiredToken, InvalidClientTokenId
from broker.principal import Principal

__all__ = ["MAX_TOKEN_CHARS", "BearerClaims", "BearerVerifier", "SubjectRevocations"]

MAX_TOKEN_CHARS = 16_384
_INVALID = "The security token included in the request is invalid."
_EXPIRED = "The security token included in the request is expired"
_FORBIDDEN_HEADERS = ("crit", "jku", "x5u", "jwk", "x5c")


class SubjectRevocations(Protocol):
    """``RevocationSet.is_revoked``: void sessions of a role, session id, subject or provider."""

    def is_revoked(
        self,
        role_arn: str | None,
        session_id: str | None,
        provider: str | None,
        subject: str | None,
        issued_at: datetime,
    ) -> bool: ...


@dataclass(frozen=True)
class BearerClaims:
    """The verified claims that matter, and the principal they name."""

    principal: Principal
    jti: str | None
    key_id: str
    raw: dict[str, Any]


def _invalid(reason: str) -> InvalidClientTokenId:
    return InvalidClientTokenId(_INVALID, detail=f"bearer token refused: {reason}")


def _time(claims: dict[str, Any], name: str, *, required: bool) -> int | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise _invalid(f"claim {name} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"claim {name} is not an integer NumericDate")
    return value


def _text(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _invalid(f"claim {name} is not a non-empty string")
    return value


def _strings(claims: dict[str, Any], name: str) -> tuple[str, ...]:
    value = claims.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(f"claim {name} is not a list of strings")
    return tuple(value)


class BearerVerifier:
    """Checks access tokens against the keyring returned by ``keyring`` (a getter: it follows rotation)."""

    def __init__(
        self,
        keyring: Callable[[], Keyring],
        *,
        issuer: str,
        audiences: Sequence[str],
        arns: ArnFactory,
        skew_seconds: int = 60,
        revocations: SubjectRevocations | None = None,
    ) -> None:
        if not issuer:
            raise ValueError("issuer is required")
        if not all(audiences):
            raise ValueError("audiences must be non-empty strings")
        self._keyring = keyring
        self.issuer = issuer
        self.audiences = tuple(audiences)
        self.arns = arns
        self.skew_seconds = skew_seconds
        self.revocations = revocations
        self._public: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"BearerVerifier(issuer={self.issuer!r}, audiences={list(self.audiences)!r})"

    def _public_key(self, key: KeyMaterial) -> Any:
        found = self._public.get(key.key_id)
        if found is None:
            found = key.private_key().public_key()
            with self._lock:
                self._public[key.key_id] = found
        return found

    def verify(self, token: str, now: datetime, *, audiences: Sequence[str] | None = None) -> BearerClaims:
        """The principal behind ``token`` at ``now``; raises InvalidClientTokenId or ExpiredToken.

        ``audiences`` replaces the configured audiences for this call (``/v1/authorize``: the asking
        service names the audience its tokens must carry).
        """
        accepted = list(audiences) if audiences is not None else list(self.audiences)
        if not accepted or not all(accepted):
            raise _invalid("no audience to check (fail closed)")
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise _invalid("empty or oversized")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _invalid(f"unreadable header: {exc}") from exc
        present = [name for name in _FORBIDDEN_HEADERS if name in header]
        if present:
            raise _invalid(f"header parameters refused: {', '.join(present)}")
        kid, alg = header.get("kid"), header.get("alg")
        if not isinstance(kid, str) or not isinstance(alg, str):
            raise _invalid("header needs kid and alg")
        key = self._keyring().by_kid(kid)
        if key is None or key.purpose != "jwt-signing":
            raise _invalid(f"unknown signing key {kid!r}")
        if alg != key.algorithm or alg not in JWT_ALGORITHMS:
            raise _invalid(f"alg {alg!r} is not the algorithm of key {kid} ({key.algorithm})")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=self._public_key(key),
                algorithms=[key.algorithm],
                audience=accepted,
                issuer=self.issuer,
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "require": ["iss", "aud", "exp", "iat"],
                },
            )
        except jwt.PyJWTError as exc:
            raise _invalid(f"{type(exc).__name__}: {exc}") from exc
        self._check_times(claims, now)
        principal = self._principal(claims)
        if self.revocations is not None and principal.token_issued_at is not None:
            provider, subject = principal.federated_provider, principal.federated_subject
            if self.revocations.is_revoked(
                principal.identity_arn, principal.session_id, provider, subject, principal.token_issued_at
            ):
                raise _invalid(f"session {principal.session_id} was revoked")
        jti = claims.get("jti")
        return BearerClaims(principal, jti if isinstance(jti, str) else None, kid, claims)

    def _check_times(self, claims: dict[str, Any], now: datetime) -> None:
        instant = int(now.timestamp())
        exp = _time(claims, "exp", required=True)
        iat = _time(claims, "iat", required=True)
        nbf = _time(claims, "nbf", required=False)
        assert exp is not None and iat is not None
        if instant >= exp + self.skew_seconds:
            raise ExpiredToken(_EXPIRED, detail=f"bearer token expired at {exp}, now {instant}")
        if nbf is not None and instant + self.skew_seconds < nbf:
            raise _invalid(f"not valid before {nbf}, now {instant}")
        if iat > instant + self.skew_seconds:
            raise _invalid(f"issued in the future ({iat}), now {instant}")

    def _principal(self, claims: dict[str, Any]) -> Principal:
        role = _text(claims, "role")
        if role is None:
            raise _invalid("claim role is required")
        try:
            parsed = parse_arn(role)
        except ValueError as exc:
            raise _invalid(f"claim role is not an ARN: {exc}") from exc
        if parsed.service != "iam" or not parsed.resource.startswith("role/"):
            raise _invalid("claim role is not a role ARN")
        if parsed.account != self.arns.account or parsed.partition != self.arns.partition:
            raise _invalid(f"claim role names another account or partition: {role}")
        role_name = parsed.resource.rsplit("/", 1)[-1]
        subject = _text(claims, "sub")
        session = _text(claims, "session_name") or subject
        if session is None:
            raise _invalid("claim session_name (or sub) is required")
        tags_raw = claims.get("tags", {})
        if not isinstance(tags_raw, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags_raw.items()
        ):
            raise _invalid("claim tags is not an object of strings")
        role_id = _text(claims, "role_id") or role_name
        iat = _time(claims, "iat", required=True)
        exp = _time(claims, "exp", required=True)
        assert iat is not None and exp is not None
        mfa = _time(claims, "mfa_auth_time", required=False)
        return Principal(
            kind="assumed-role",
            arn=self.arns.assumed_role(role_name, session),
            account=parsed.account,
            user_id=f"{role_id}:{session}",
            name=session,
            identity_arn=role,
            session_name=session,
            tags=dict(tags_raw),
            mfa_present=mfa is not None,
            mfa_authenticated_at=datetime.fromtimestamp(mfa, tz=UTC) if mfa is not None else None,
            token_issued_at=datetime.fromtimestamp(iat, tz=UTC),
            source_identity=_text(claims, "source_identity"),
            temporary=True,
            session_id=_text(claims, "sid") or _text(claims, "jti"),
            session_policy=_text(claims, "policy"),
            session_policy_arns=_strings(claims, "policy_arns"),
            transitive_tag_keys=_strings(claims, "transitive_tag_keys"),
            expires_at=datetime.fromtimestamp(exp, tz=UTC),
            federated_provider=_text(claims, "provider"),
            federated_subject=subject,
        )
