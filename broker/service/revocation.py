"""Revoking temporary credentials: by role, by session, by federated subject, by provider.

Role sessions follow AWS's "Revoke active sessions" (IAM User Guide, "Revoking IAM role temporary
security credentials", https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html):
the inline policy ``AWSRevokeOlderSessions`` is put on the role, denying every action to sessions whose
``aws:TokenIssueTime`` is before now; revoking again refreshes the timestamp. It needs
``iam:PutRolePolicy`` on the role. The policy is written directly (not through PutRolePolicy's
aggregate-size check): a revocation must never be refused by a quota.

Every revocation is also an epoch in the store ("sessions of SCOPE issued before T are void",
DESIGN.md §4), announced with PostgreSQL ``NOTIFY`` on commit, which each node's
:class:`~broker.service.revocation_set.RevocationSet` applies within about a second. The epoch is
what verifiers check; the inline policy keeps the role's policies telling the same story as AWS's.

A single session, a federated subject and a provider have no AWS API; broker names their actions
``broker:RevokeSession``, ``broker:RevokeSubject`` and ``broker:RevokeProvider`` (the admin API and
``broker revoke`` are root-only).
"""

from __future__ import annotations

import json
from datetime import datetime

from broker.arn import parse_arn
from broker.errors import NoSuchEntity, ValidationError
from broker.service.env import OpEnv
from broker.service.iam.common import authorize_role, repo
from broker.service.revocation_set import MAX_SESSION_LIFETIME, REVOCATIONS_CHANNEL, RevocationSet, subject_key
from broker.store.sqlalchemy.repositories.security import RevocationRecord, ScopeKind, SecurityRepository

__all__ = [
    "REVOKE_POLICY_NAME",
    "RevocationSet",
    "list_revocations",
    "revoke_policy_document",
    "revoke_provider",
    "revoke_role_sessions",
    "revoke_session",
    "revoke_subject",
]

REVOKE_POLICY_NAME = "AWSRevokeOlderSessions"
_MAX_VALUE = 1024


def _security(env: OpEnv) -> SecurityRepository:
    security: SecurityRepository = env.tx.security
    return security


def _iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, as the IAM console writes the revocation time."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def revoke_policy_document(now: datetime) -> str:
    """The console's ``AWSRevokeOlderSessions`` document for a revocation at ``now``."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Action": ["*"],
                    "Resource": ["*"],
                    "Condition": {"DateLessThan": {"aws:TokenIssueTime": _iso(now)}},
                }
            ],
        }
    )


def _record(env: OpEnv, kind: ScopeKind, value: str) -> RevocationRecord:
    security = _security(env)
    record = security.revoke(kind, value, env.call.now, env.call.now)
    # An epoch older than the longest session (36 h) can no longer void anything: every session it could
    # have voided has expired. Dropping them here keeps the table bounded by recent revocations.
    security.purge_revocations(env.call.now - MAX_SESSION_LIFETIME)
    security.notify(REVOCATIONS_CHANNEL)
    return record


def _checked(value: str, what: str) -> str:
    if not value or len(value) > _MAX_VALUE:
        raise ValidationError(f"{what} must be between 1 and {_MAX_VALUE} characters.", detail=f"{what}={value!r}")
    return value


def revoke_role_sessions(env: OpEnv, role_name: str) -> RevocationRecord:
    """Void every session of the role issued before now; ``NoSuchEntity`` for an unknown role."""
    role = authorize_role(env, "iam:PutRolePolicy", role_name)
    repo(env).put_inline("role", role.id, REVOKE_POLICY_NAME, revoke_policy_document(env.call.now))
    return _record(env, "role", env.arns.role(role.name, role.path))


def revoke_session(env: OpEnv, session_id: str) -> RevocationRecord:
    """Void one session by its id (the id sealed in its session token)."""
    env.authorize("broker:RevokeSession", "*")
    return _record(env, "session", _checked(session_id, "SessionId"))


def _provider_exists(env: OpEnv, provider: str) -> None:
    """Provider ARNs must name a registered provider; built-in IdPs (``accounts.google.com``) are names."""
    try:
        kind = parse_arn(provider).resource_type
    except ValueError:
        return
    providers = env.tx.providers
    found = providers.get_oidc(provider) if kind == "oidc-provider" else None
    if found is None and kind == "saml-provider":
        found = providers.get_saml(provider)
    if found is None:
        raise NoSuchEntity(f"Provider {provider} does not exist.")


def revoke_subject(env: OpEnv, provider: str, subject: str) -> RevocationRecord:
    """Void every session of one federated subject (``sub`` / SAML ``NameID``) of ``provider``."""
    env.authorize("broker:RevokeSubject", _checked(provider, "Provider"))
    _provider_exists(env, provider)
    return _record(env, "subject", subject_key(provider, _checked(subject, "Subject")))


def revoke_provider(env: OpEnv, provider: str) -> RevocationRecord:
    """Void every session federated through ``provider`` (its ARN, as in ``aws:FederatedProvider``)."""
    env.authorize("broker:RevokeProvider", _checked(provider, "Provider"))
    _provider_exists(env, provider)
    return _record(env, "provider", provider)


def list_revocations(env: OpEnv) -> list[RevocationRecord]:
    env.authorize("broker:ListRevocations", "*")
    return _security(env).list_revocations()
