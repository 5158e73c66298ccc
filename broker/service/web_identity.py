"""Turning an OIDC ID token into role credentials: the one seam every web-identity entry point uses.

``AssumeRoleWithWebIdentity`` (``service/sts/web_identity.py``), the RFC 8693 token exchange and the browser
and terminal logins all call :func:`web_identity_session`. Steps (DESIGN.md §3, "Federated sign-in"):

1. the token's shape and header (``federation.oidc.jose``);
2. the provider registered for its **exact** ``iss`` (path, port and case included; AWS:
   "No OpenIDConnect provider found in your account for …", API_AssumeRoleWithWebIdentity "Errors",
   https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html);
3. the issuer's keys (``federation.oidc.jwks``: cached, refetched on an unknown ``kid``), the signature
   and the claims (``federation.oidc.verify``);
4. the role, the trust policy for ``{"Federated": provider ARN}`` with ``sts:AssumeRoleWithWebIdentity``
   (and ``sts:TagSession`` / ``sts:SetSourceIdentity`` when the token carries tags or a source identity)
   (``trust``); a role that does not exist is refused like a trust policy that does not admit the token;
5. the session: duration (AWS refuses more than the role's ``MaxSessionDuration`` with ValidationError;
   the browser flows ask for clamping instead, and the reason is returned), session policies, tags from
   ``https://aws.amazon.com/tags``, source identity from ``https://aws.amazon.com/source_identity``;
6. minting (``credentials.mint``), with the provider ARN and ``sub`` in the session for revocation.

``AccessDenied`` names the trust clauses that failed and nothing else; ``detail`` (audit log only) holds
the full trace with the claims redacted (:attr:`WebIdentityServices.audit_claims`); the token never.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from broker.arn import parse_arn
from broker.credentials.mint import Minted, SessionSpec, mint
from broker.errors import (
    AccessDenied,
    BrokerError,
    InvalidIdentityToken,
    InvalidParameterValue,
    ValidationError,
)
from broker.federation.identity import FederatedIdentity
from broker.federation.oidc.jose import parse_token
from broker.federation.oidc.jwks import ProviderKeys
from broker.federation.oidc.keys import KeySet
from broker.federation.oidc.verify import Rules, verify_token
from broker.service.env import OpEnv
from broker.service.fast_path import WouldBlock
from broker.service.lookup_cache import NODE_STALENESS_SECONDS, ChangeGatedCache, LookupView
from broker.service.session_tags import add_tag_context
from broker.service.sts.common import check_duration, check_session_policies, check_source_identity, check_tags
from broker.service.sts.role_use import RoleUse
from broker.trust import TrustDecision, evaluate_trust, federated_principal

__all__ = [
    "ASSUME_ACTION",
    "KeySource",
    "WebIdentityResult",
    "WebIdentityServices",
    "carried_keys",
    "trust_context",
    "verify_web_identity",
    "web_identity_session",
]

ASSUME_ACTION = "sts:AssumeRoleWithWebIdentity"
DENIED = "Not authorized to perform sts:AssumeRoleWithWebIdentity"


class KeySource(Protocol):
    """The issuer's verification keys (``federation.oidc.jwks.JwksCache`` in production)."""

    def keys(self, issuer: str, kid: str, provider: ProviderKeys | None = None) -> KeySet:
        """A key set that holds ``kid`` if it can be had; raises ``IDPCommunicationError`` when no usable
        key exists for the issuer. ``provider``: its pinned JWKS or thumbprints apply."""
        ...


class RecentKeys:
    """The key set :class:`KeySource` last returned for each provider record, for ``max_age`` seconds.

    The cache-only path (``service/fast_path.py``) may not call the key source, which can fetch; it uses
    the key set the source returned less than ``max_age`` ago for the *same* provider record (a changed
    provider is a new record from the lookup cache) if it holds the token's ``kid``, and otherwise takes
    the general path, which asks the source (refetch on an unknown ``kid``, expiry, single flight). A key
    the issuer removed is therefore accepted on this node for at most ``max_age`` seconds longer than the
    source itself accepts it (docs/compatibility.md).
    """

    def __init__(
        self, max_age: float = NODE_STALENESS_SECONDS, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_age = max_age
        self.monotonic = monotonic
        self._sets: dict[str, tuple[float, object, KeySet]] = {}
        self._lock = threading.Lock()

    def remember(self, provider: Any, keys: KeySet) -> None:
        with self._lock:
            self._sets[provider.url] = (self.monotonic(), provider, keys)

    def age(self, provider: Any) -> float | None:
        """Seconds since the key set of this very provider record was remembered (``None``: none is)."""
        with self._lock:
            found = self._sets.get(provider.url)
        if found is None or found[1] is not provider:
            return None
        return self.monotonic() - found[0]

    def peek(self, provider: Any, kid: str) -> KeySet | None:
        with self._lock:
            found = self._sets.get(provider.url)
        if found is None:
            return None
        at, remembered, keys = found
        if remembered is not provider or not 0 <= self.monotonic() - at < self.max_age or kid not in keys:
            return None
        return keys


class Keyring(Protocol):
    @property
    def codec(self) -> Any: ...


@dataclass
class WebIdentityServices:
    """What the web-identity seam needs beyond the ``OpEnv``; built once in ``create_app``."""

    keyring: Keyring
    keys: KeySource
    rules: Rules = field(default_factory=Rules)
    audit_claims: frozenset[str] | None = None
    """Claim names shown in audit traces (``None``: the standard identity claims)."""
    role_use: RoleUse = field(default_factory=RoleUse)
    """This node's ``RoleLastUsed`` throttle (``service/sts/role_use.py``)."""
    lookups: ChangeGatedCache = field(default_factory=ChangeGatedCache)
    """This node's provider/role/tag lookups, dropped when the ``iam``/``providers`` counters move."""
    recent_keys: RecentKeys = field(default_factory=RecentKeys)
    """Key sets for the cache-only path (``RecentKeys``)."""


@dataclass(frozen=True)
class WebIdentityResult:
    """A minted web-identity session and what the responses report about it."""

    identity: FederatedIdentity
    minted: Minted
    role_arn: str
    assumed_role_user: Mapping[str, str]
    packed_policy_size: int | None
    duration_seconds: int
    duration_reason: str | None
    trust: tuple[TrustDecision, ...] = field(repr=False, default=())

    @property
    def source_identity(self) -> str | None:
        return self.minted.claims.source_identity


def verify_web_identity(
    env: OpEnv, services: WebIdentityServices, token: str, lookups: LookupView | None = None
) -> FederatedIdentity:
    """Steps 1-3: the verified identity, or InvalidIdentityToken / ExpiredTokenException / IDPCommunicationError.

    ``lookups``: this transaction's view of the node's lookup cache (read from ``env.tx`` when omitted).
    """
    unverified = parse_token(token)
    view = lookups if lookups is not None else services.lookups.view(env.tx)
    provider = view.get(("oidc", unverified.issuer), lambda: env.tx.providers.get_oidc_by_url(unverified.issuer))
    if provider is None:
        raise InvalidIdentityToken(
            f"No OpenIDConnect provider found in your account for {unverified.issuer}",
            detail=f"no provider registered with the exact issuer URL {unverified.issuer!r}",
        )
    if getattr(env.tx, "cache_only", False):  # the event-loop path may not fetch keys
        keys = services.recent_keys.peek(provider, unverified.key_id)
        if keys is None:
            raise WouldBlock("issuer keys")
        _refresh_ahead(env.tx, services, provider, unverified.key_id)
    else:
        keys = services.keys.keys(provider.url, unverified.key_id, provider)
        services.recent_keys.remember(provider, keys)
    return verify_token(
        unverified,
        provider_arn=provider.arn,
        client_ids=provider.client_ids,
        keys=keys,
        now=env.call.now,
        rules=services.rules,
    )


def _refresh_ahead(tx: Any, services: WebIdentityServices, provider: Any, kid: str) -> None:
    """On the cache-only path: ask for the counters and this issuer's keys to be read again, after the
    answer and off the event loop, once they are half their allowed age (``CacheOnlyUnitOfWork.refresh``).
    The bounds stay as they are; requests just stop finding them expired."""
    lookups, keys = services.lookups, services.recent_keys
    counters_age = lookups.age()
    if counters_age is not None and counters_age >= lookups.max_staleness / 2:
        tx.refresh.append(lookups.refresh)
    keys_age = keys.age(provider)
    if keys_age is not None and keys_age >= keys.max_age / 2:
        tx.refresh.append(lambda _tx: keys.remember(provider, services.keys.keys(provider.url, kid, provider)))


def _role(env: OpEnv, role_arn: str, lookups: LookupView) -> Any:
    try:
        parsed = parse_arn(role_arn)
    except ValueError:
        return None
    if parsed.service != "iam" or parsed.resource_type != "role" or parsed.account != env.arns.account:
        return None
    role = lookups.get(("role", parsed.name), lambda: env.tx.iam.get_role(parsed.name))
    if role is None or env.arns.role(role.name, role.path) != role_arn:
        return None
    return role


def _duration(requested: int | None, maximum: int, clamp: bool) -> tuple[int, str | None]:
    if clamp and requested is not None and requested > maximum:
        return maximum, f"requested {requested} s exceeds the role's MaxSessionDuration; clamped to {maximum} s"
    return check_duration(requested, maximum=maximum, chained=False), None


CARRIED_CLAIMS = ("sub", "aud", "amr", "id")
"""The web-identity keys AWS carries from the token into requests made with the session ("Available keys for
AWS OIDC federation", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif;
the other claims are usable in the trust policy only)."""


def carried_keys(identity: FederatedIdentity) -> tuple[tuple[str, str | tuple[str, ...]], ...]:
    """``PREFIX:sub``, ``:aud`` (the client id that matched), ``:amr`` and ``:id`` when the token has them."""
    out: list[tuple[str, str | tuple[str, ...]]] = []
    for claim in CARRIED_CLAIMS:
        value = identity.context.get(f"{identity.key_prefix}:{claim}")
        if isinstance(value, str):
            out.append((f"{identity.key_prefix}:{claim}", value))
        elif value is not None:
            out.append((f"{identity.key_prefix}:{claim}", tuple(value)))
    return tuple(out)


def trust_context(
    env: OpEnv, identity: FederatedIdentity, session_name: str, role_tags: Mapping[str, str]
) -> dict[str, Any]:
    """The request context a trust policy sees: the token's keys, ``aws:FederatedProvider``, the call's
    global keys, ``sts:RoleSessionName``, role/request tags and the source identity."""
    ctx: dict[str, Any] = dict(identity.context)
    ctx.update({
        "aws:FederatedProvider": identity.provider_arn,
        "aws:CurrentTime": env.call.now,
        "aws:EpochTime": str(int(env.call.now.timestamp())),
        "aws:SourceIp": env.call.source_ip,
        "aws:SecureTransport": env.call.secure_transport,
        "aws:RequestedRegion": env.call.region,
        "aws:PrincipalType": "WebIdentityUser",
        "sts:RoleSessionName": session_name,
    })
    if env.call.user_agent:
        ctx["aws:UserAgent"] = env.call.user_agent
    add_tag_context(
        ctx, role_tags=role_tags, session_tags=identity.session_tags, request_tags=identity.session_tags,
        transitive_keys=identity.transitive_tag_keys,
    )
    if identity.source_identity is not None:
        ctx["sts:SourceIdentity"] = identity.source_identity
    return ctx


def _as_token_error(error: ValidationError, what: str) -> InvalidIdentityToken:
    return InvalidIdentityToken(f"The token's {what} claim is invalid: {error.message}", detail=error.detail)


def web_identity_session(
    env: OpEnv,
    *,
    services: WebIdentityServices,
    token: str,
    role_arn: str,
    session_name: str,
    duration_seconds: int | None,
    policy: str | None,
    policy_arns: Sequence[str],
    provider_id: str | None = None,
    clamp_duration: bool = False,
) -> WebIdentityResult:
    """Verify ``token``, evaluate ``role_arn``'s trust policy for it and mint a role session.

    Raises InvalidIdentityToken, ExpiredTokenException, IDPCommunicationError, AccessDenied,
    ValidationError, MalformedPolicyDocument, PackedPolicyTooLarge or InvalidParameterValue; nothing is
    minted or stored on any of them.
    """
    if provider_id is not None:
        raise InvalidParameterValue(
            "ProviderId is only for OAuth 2.0 access tokens from www.amazon.com or graph.facebook.com, which "
            "broker does not accept; omit it for OpenID Connect ID tokens",
            detail=f"ProviderId {provider_id!r}",
        )
    lookups = services.lookups.view(env.tx)  # one counter read; the cached lookups below follow it
    identity = verify_web_identity(env, services, token, lookups)
    role = _role(env, role_arn, lookups)
    if role is None:
        raise AccessDenied(DENIED, detail=f"role {role_arn!r} does not exist in this account; {_who(identity)}")
    duration, reason = _duration(duration_seconds, role.max_session_duration, clamp_duration)
    arns_in = [{"arn": a} for a in policy_arns]
    session_policy_arns = check_session_policies(env, policy, arns_in)
    try:
        tags = check_tags(
            [{"Key": k, "Value": v} for k, v in identity.session_tags], list(identity.transitive_tag_keys), None
        )
    except ValidationError as error:
        raise _as_token_error(error, "https://aws.amazon.com/tags") from None
    try:
        source_identity = check_source_identity(identity.source_identity, None)
    except ValidationError as error:
        raise _as_token_error(error, "https://aws.amazon.com/source_identity") from None
    compile_trust = getattr(env.authorizer, "compile_trust", None)
    if compile_trust is None:  # fail closed: no trust evaluation without the policy engine
        raise AccessDenied(DENIED, detail="authorizer cannot compile trust policies")
    try:
        trust = compile_trust(role.trust_policy, role_arn)
    except BrokerError as error:
        raise AccessDenied(DENIED, detail=f"trust policy of {role_arn} does not compile: {error.detail}") from None
    actions = [ASSUME_ACTION]
    if tags.tags:
        actions.append("sts:TagSession")
    if source_identity is not None:
        actions.append("sts:SetSourceIdentity")
    role_tags = lookups.get(("role-tags", role.id), lambda: tuple(env.tx.iam.get_tags("role", role.id)))
    context = trust_context(env, identity, session_name, dict(role_tags or ()))
    decisions = evaluate_trust(
        trust, role_arn=role_arn, principal=federated_principal(identity.provider_arn, env.arns.account),
        actions=actions, context=context,
    )
    refused = next((d for d in decisions if not d.allowed), None)
    if refused is not None:
        head = DENIED if refused.action == ASSUME_ACTION else f"Not authorized to perform {refused.action}"
        raise AccessDenied(
            f"{head}: {refused.public_reason()}",
            detail=f"{_who(identity)}; claims={identity.redacted_claims(services.audit_claims)}\n{refused.trace()}",
        )
    services.role_use.record(env.tx, role.id, role.name, env.call.now, env.call.region)
    spec = SessionSpec(
        kind="assumed-role",
        account=env.arns.account,
        principal_arn=role_arn,
        principal_id=role.id,
        principal_name=role.name,
        duration_seconds=duration,
        session_name=session_name,
        policy=policy,
        policy_arns=session_policy_arns,
        tags=tags.tags,
        transitive_tag_keys=tags.transitive_keys,
        source_identity=source_identity,
        chain_depth=1,
        federated_provider=identity.provider_arn,
        federated_subject=identity.subject,
        federated_keys=carried_keys(identity),
    )
    minted = mint(spec, codec=services.keyring.codec, now=env.call.now, entropy=env.entropy)
    return WebIdentityResult(
        identity=identity,
        minted=minted,
        role_arn=role_arn,
        assumed_role_user={
            "Arn": env.arns.assumed_role(role.name, session_name),
            "AssumedRoleId": f"{role.id}:{session_name}",
        },
        packed_policy_size=minted.packed_policy_size,
        duration_seconds=duration,
        duration_reason=reason,
        trust=tuple(decisions),
    )


def _who(identity: FederatedIdentity) -> str:
    return (f"provider {identity.provider_arn} sub {identity.subject!r} aud {identity.audience!r} "
            f"kid {identity.key_id!r} token sha256 {identity.token_digest[:16]}")
