"""Browser and terminal login over the web-identity seam: find the provider, list the roles that admit the
signed-in identity, and mint a session for the one the user picks (SPEC.md §3.4).

The role picker evaluates each role's trust policy exactly as :func:`broker.service.web_identity.web_identity_session`
will (same principal ``{"Federated": provider ARN}``, same actions, same context builder), so a role is listed if
and only if choosing it can succeed. Durations above the role's ``MaxSessionDuration`` are clamped for logins
(``clamp_duration=True``) and the reason is returned for the page to show; the Query API keeps AWS's refusal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from broker.arn import parse_arn
from broker.errors import BrokerError, InvalidParameterValue
from broker.federation.identity import FederatedIdentity
from broker.service.env import OpEnv
from broker.service.web_identity import (
    ASSUME_ACTION,
    WebIdentityResult,
    WebIdentityServices,
    trust_context,  # the seam's own context builder: the picker must agree with the assume call
    web_identity_session,
)
from broker.trust import evaluate_trust, federated_principal

__all__ = ["AdmittedRole", "admitted_roles", "find_oidc_provider", "login_session", "session_name_for"]

_NOT_SESSION_CHAR = re.compile(r"[^\w+=,.@-]", re.ASCII)


@dataclass(frozen=True)
class AdmittedRole:
    role_arn: str
    role_name: str
    max_session_duration: int


def session_name_for(identity: FederatedIdentity) -> str:
    """RoleSessionName for a login: ``email``, else ``preferred_username``, else ``sub``, in AWS's pattern.

    API_AssumeRoleWithWebIdentity "RoleSessionName": 2-64 characters of ``[\\w+=,.@-]``; other characters
    become ``-`` and a too-short name is padded with ``-login``.
    """
    for claim in ("email", "preferred_username", "sub"):
        value = identity.claims.get(claim)
        if isinstance(value, str) and value:
            name = _NOT_SESSION_CHAR.sub("-", value)[:64]
            return name if len(name) >= 2 else (name + "-login")[:64]
    return "web-login"


def find_oidc_provider(env: OpEnv, ref: str) -> Any:
    """The OIDC provider named by its ARN, its issuer URL or its ``HOST/PATH`` name."""
    ref = ref.strip()
    record = None
    if ref.startswith("arn:"):
        try:
            parsed = parse_arn(ref)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.account == env.arns.account:
            record = env.tx.providers.get_oidc(ref)
    elif ref.startswith(("https://", "http://")):
        record = env.tx.providers.get_oidc_by_url(ref)
    else:
        record = env.tx.providers.get_oidc(env.arns.oidc_provider(ref))
    if record is None:
        raise InvalidParameterValue(f"No OpenID Connect provider {ref} is registered in this account")
    return record


def admitted_roles(
    env: OpEnv, identity: FederatedIdentity, session_name: str
) -> list[AdmittedRole]:
    """Every role of the account whose trust policy lets ``identity`` assume it (with its tags and source
    identity, as the assume call will ask), sorted by ARN. Roles whose trust policy does not compile are
    skipped."""
    compile_trust = getattr(env.authorizer, "compile_trust", None)
    if compile_trust is None:
        return []
    principal = federated_principal(identity.provider_arn, env.arns.account)
    actions = [ASSUME_ACTION]
    if identity.session_tags:
        actions.append("sts:TagSession")
    if identity.source_identity is not None:
        actions.append("sts:SetSourceIdentity")
    out: list[AdmittedRole] = []
    for role in env.tx.iam.list_roles():
        role_arn = env.arns.role(role.name, role.path)
        try:
            trust = compile_trust(role.trust_policy, role_arn)
        except BrokerError:
            continue
        context = trust_context(env, identity, session_name, dict(env.tx.iam.get_tags("role", role.id)))
        decisions = evaluate_trust(trust, role_arn=role_arn, principal=principal, actions=actions, context=context)
        if decisions and all(d.allowed for d in decisions) and len(decisions) == len(actions):
            out.append(AdmittedRole(role_arn, role.name, role.max_session_duration))
    return sorted(out, key=lambda r: r.role_arn)


def login_session(
    env: OpEnv,
    services: WebIdentityServices,
    *,
    token: str,
    role_arn: str,
    session_name: str,
    duration_seconds: int | None,
) -> WebIdentityResult:
    """Mint the chosen role's session; a duration above the role's maximum is clamped (reason in the result)."""
    return web_identity_session(
        env,
        services=services,
        token=token,
        role_arn=role_arn,
        session_name=session_name,
        duration_seconds=duration_seconds,
        policy=None,
        policy_arns=(),
        clamp_duration=True,
    )
