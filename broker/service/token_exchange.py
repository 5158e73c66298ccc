"""OAuth 2.0 Token Exchange (RFC 8693) over broker's federation seams (SPEC.md §3.2).

One exchange turns a *subject token* (an OIDC ID token now; a SAML 2.0 assertion once the SAML engineer adds
its entry to :func:`default_subject_types`) into a role session for the role named by ``audience`` or
``scope``, and answers with either

- ``urn:broker:token-type:aws-credentials``: the AWS-shaped credential set (``token_type`` ``N_A``, RFC 8693
  §2.2.1: "the issued token is not an access token usable as a bearer token"), or
- ``urn:ietf:params:oauth:token-type:access_token``: a JWT access token signed by the keyring's active JWT
  signing key, shaped after RFC 9068 (https://www.rfc-editor.org/rfc/rfc9068#section-2.2: ``iss``, ``exp``,
  ``aud``, ``sub``, ``client_id``, ``iat``, ``jti``; header ``typ`` ``at+jwt``, §2.1), verifiable with the
  broker's ``/.well-known/jwks.json``.

Subject token types are a small dispatch table (:class:`SubjectTokenType`): URI → handler and size limit.
A handler verifies the token, evaluates the role's trust policy and mints the session, raising broker's AWS
errors; nothing here is minted or signed before the handler has succeeded, so every refusal mints nothing.
The table is built per app (no module-level registry).

Sources: RFC 8693 §2.1 (request parameters, https://www.rfc-editor.org/rfc/rfc8693#section-2.1), §2.2.1
(response), §3 (token type identifiers).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt

from broker.arn import parse_arn
from broker.credentials.mint import Minted
from broker.errors import InvalidParameterValue, ValidationError
from broker.ids import Entropy
from broker.service.env import OpEnv
from broker.service.keyring import KeyringService
from broker.service.web_identity import WebIdentityResult, WebIdentityServices, web_identity_session

__all__ = [
    "ACCESS_TOKEN",
    "AWS_CREDENTIALS",
    "GRANT_TYPE",
    "ID_TOKEN",
    "JWT_TOKEN",
    "SAML2",
    "AccessTokenIssuer",
    "ExchangeRequest",
    "ExchangeResult",
    "SubjectHandler",
    "SubjectSession",
    "SubjectTokenType",
    "UnsupportedTokenType",
    "default_session_name",
    "default_subject_types",
    "exchange",
    "session_from_web_identity",
    "web_identity_handler",
]

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
JWT_TOKEN = "urn:ietf:params:oauth:token-type:jwt"
SAML2 = "urn:ietf:params:oauth:token-type:saml2"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
AWS_CREDENTIALS = "urn:broker:token-type:aws-credentials"
ISSUED_TYPES = (AWS_CREDENTIALS, ACCESS_TOKEN)

#: AWS STS AssumeRoleWithWebIdentity "WebIdentityToken": "Length Constraints: Minimum length of 4. Maximum
#: length of 20000." (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html)
MAX_ID_TOKEN = 20_000


class UnsupportedTokenType(ValidationError):
    """A ``subject_token_type`` or ``requested_token_type`` broker does not handle (wire: ``invalid_request``)."""


@dataclass(frozen=True)
class ExchangeRequest:
    """The validated RFC 8693 request, protocol-neutral."""

    subject_token: str = field(repr=False)
    subject_token_type: str
    role_arn: str
    requested_token_type: str = AWS_CREDENTIALS
    session_name: str | None = None
    duration_seconds: int | None = None
    resource: str | None = None
    client_id: str | None = None


@dataclass(frozen=True)
class SubjectSession:
    """What a subject-token handler returns: the minted role session and who it is for."""

    minted: Minted
    role_arn: str
    assumed_role_arn: str
    assumed_role_id: str
    subject: str
    provider_arn: str
    audience: str | None
    session_name: str
    packed_policy_size: int | None = None
    source_identity: str | None = None
    tags: tuple[tuple[str, str], ...] = ()


SubjectHandler = Callable[[OpEnv, ExchangeRequest], SubjectSession]


@dataclass(frozen=True)
class SubjectTokenType:
    """One row of the dispatch table: the token type URI, its handler and its size limit (characters)."""

    uri: str
    handler: SubjectHandler
    max_length: int


@dataclass(frozen=True)
class ExchangeResult:
    """The RFC 8693 §2.2.1 response members (secrets never repr'd)."""

    access_token: str = field(repr=False)
    issued_token_type: str
    token_type: str
    expires_in: int
    session: SubjectSession = field(repr=False)

    def response(self) -> dict[str, Any]:
        """The JSON body of the successful response."""
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "issued_token_type": self.issued_token_type,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
        }
        if self.issued_token_type == AWS_CREDENTIALS:
            minted = self.session.minted
            body["credentials"] = {
                "Version": 1,
                "AccessKeyId": minted.access_key_id,
                "SecretAccessKey": minted.secret_access_key,
                "SessionToken": minted.session_token,
                "Expiration": _iso(minted.expiration),
            }
        body["assumed_role_user"] = {
            "Arn": self.session.assumed_role_arn,
            "AssumedRoleId": self.session.assumed_role_id,
        }
        return body

    def audit_shape(self) -> dict[str, Any]:
        """What the audit event records about the result: never a token or a secret."""
        minted = self.session.minted
        return {
            "issuedTokenType": self.issued_token_type,
            "expiresIn": self.expires_in,
            "credentials": {"accessKeyId": minted.access_key_id, "expiration": minted.expiration},
            "assumedRoleUser": {"arn": self.session.assumed_role_arn, "assumedRoleId": self.session.assumed_role_id},
            "subjectFromToken": self.session.subject,
            "provider": self.session.provider_arn,
        }


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def default_session_name(subject_token: str) -> str:
    """RoleSessionName when the caller names none: ``token-exchange-`` + 16 hex of the token's SHA-256.

    Deterministic per token and reveals nothing of it; AWS's RoleSessionName pattern ``[\\w+=,.@-]*``
    (2-64 characters) holds.
    """
    return "token-exchange-" + hashlib.sha256(subject_token.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class AccessTokenIssuer:
    """Signs RFC 9068 JWT access tokens with the keyring's active ``jwt-signing`` key.

    Claims follow the contract ``broker.pdp.bearer`` verifies (``role``, ``role_id``, ``session_name``, ``sid``,
    ``provider``, ``tags``, ``transitive_tag_keys``, ``source_identity``), so a service can authorize a bearer
    token exactly as it would the role session it stands for.
    """

    def __init__(self, keyring: KeyringService, issuer: str) -> None:
        self.keyring = keyring
        self.issuer = issuer.rstrip("/")

    def __repr__(self) -> str:
        return f"AccessTokenIssuer(issuer={self.issuer!r})"

    def issue(
        self, session: SubjectSession, *, audience: str, client_id: str, now: datetime, entropy: Entropy
    ) -> tuple[str, int]:
        """``(jwt, expires_in)``: the token lives exactly as long as the role session it stands for."""
        key = self.keyring.keyring.current("jwt-signing", now)
        issued = int(now.timestamp())
        expires = int(session.minted.expiration.timestamp())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": session.subject,
            "aud": audience,
            "client_id": client_id,
            "iat": issued,
            "nbf": issued,
            "exp": expires,
            "jti": entropy.token_bytes(16).hex(),
            "role": session.role_arn,
            "role_id": session.assumed_role_id.split(":", 1)[0],
            "assumed_role": session.assumed_role_arn,
            "session_name": session.session_name,
            "sid": session.minted.claims.session_id,
            "provider": session.provider_arn,
        }
        if session.tags:
            claims["tags"] = {k: v for k, v in session.tags}
        if session.minted.claims.transitive_tag_keys:
            claims["transitive_tag_keys"] = list(session.minted.claims.transitive_tag_keys)
        if session.source_identity is not None:
            claims["source_identity"] = session.source_identity
        token = jwt.encode(
            claims, key.private_key(), algorithm=key.algorithm, headers={"kid": key.key_id, "typ": "at+jwt"}
        )
        return token, max(0, expires - issued)


def check_role_target(env: OpEnv, role_arn: str) -> None:
    """The target must be a role ARN of this account (RFC 8693 ``invalid_target`` otherwise)."""
    try:
        parsed = parse_arn(role_arn)
    except ValueError as exc:
        raise InvalidParameterValue(
            "audience must name a role ARN of this account", detail=f"not an ARN: {exc}"
        ) from None
    if parsed.service != "iam" or parsed.resource_type != "role" or parsed.account != env.arns.account:
        raise InvalidParameterValue("audience must name a role ARN of this account", detail=f"target {role_arn}")


def exchange(
    env: OpEnv,
    request: ExchangeRequest,
    *,
    types: Mapping[str, SubjectTokenType],
    issuer: AccessTokenIssuer,
) -> ExchangeResult:
    """Run one exchange: dispatch on ``subject_token_type``, then issue the requested token type."""
    row = types.get(request.subject_token_type)
    if row is None:
        raise UnsupportedTokenType(
            f"subject_token_type {request.subject_token_type} is not supported",
            detail=f"supported: {sorted(types)}",
        )
    if request.requested_token_type not in ISSUED_TYPES:
        raise UnsupportedTokenType(f"requested_token_type {request.requested_token_type} is not supported")
    if len(request.subject_token) > row.max_length:
        raise ValidationError(f"subject_token must be at most {row.max_length} characters")
    check_role_target(env, request.role_arn)
    session = row.handler(env, request)
    if request.requested_token_type == ACCESS_TOKEN:
        token, expires_in = issuer.issue(
            session,
            audience=request.resource or request.role_arn,
            client_id=request.client_id or session.audience or "broker",
            now=env.call.now,
            entropy=env.entropy,
        )
        return ExchangeResult(token, ACCESS_TOKEN, "Bearer", expires_in, session)
    expires_in = max(0, int((session.minted.expiration - env.call.now.replace(microsecond=0)).total_seconds()))
    return ExchangeResult(session.minted.session_token, AWS_CREDENTIALS, "N_A", expires_in, session)


def web_identity_handler(services: WebIdentityServices) -> SubjectHandler:
    """OIDC ID tokens go through the AssumeRoleWithWebIdentity seam (``broker.service.web_identity``).

    Durations follow AssumeRoleWithWebIdentity (more than the role's MaxSessionDuration is a
    ValidationError, not clamped): a program asked for it and should hear that it cannot have it.
    """

    def handle(env: OpEnv, request: ExchangeRequest) -> SubjectSession:
        result = web_identity_session(
            env,
            services=services,
            token=request.subject_token,
            role_arn=request.role_arn,
            session_name=request.session_name or default_session_name(request.subject_token),
            duration_seconds=request.duration_seconds,
            policy=None,
            policy_arns=(),
        )
        return session_from_web_identity(result)

    return handle


def session_from_web_identity(result: WebIdentityResult) -> SubjectSession:
    """Adapt a ``WebIdentityResult`` to the protocol-neutral :class:`SubjectSession`."""
    minted = result.minted
    claims = minted.claims
    return SubjectSession(
        minted=minted,
        role_arn=result.role_arn,
        assumed_role_arn=str(result.assumed_role_user["Arn"]),
        assumed_role_id=str(result.assumed_role_user["AssumedRoleId"]),
        subject=result.identity.subject,
        provider_arn=result.identity.provider_arn,
        audience=result.identity.audience,
        session_name=claims.session_name or "",
        packed_policy_size=result.packed_policy_size,
        source_identity=claims.source_identity,
        tags=tuple(claims.tags),
    )


def default_subject_types(
    web_identity: WebIdentityServices | None, extra: Iterable[SubjectTokenType] = ()
) -> dict[str, SubjectTokenType]:
    """The subject token types broker accepts: OIDC ID tokens (``ID_TOKEN`` and the generic ``JWT_TOKEN``) when the
    web-identity services exist, plus ``extra`` rows (issue 6 adds ``SAML2`` this way). A later row for the same
    URI replaces an earlier one."""
    types: dict[str, SubjectTokenType] = {}
    if web_identity is not None:
        handler = web_identity_handler(web_identity)
        types[ID_TOKEN] = SubjectTokenType(ID_TOKEN, handler, MAX_ID_TOKEN)
        types[JWT_TOKEN] = SubjectTokenType(JWT_TOKEN, handler, MAX_ID_TOKEN)
    for row in extra:
        types[row.uri] = row
    return types
