"""AssumeRole (AWS STS API Reference, API_AssumeRole,
https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html).

Authorization is two-sided: the caller's identity policies must allow ``sts:AssumeRole`` on the role and
the role's trust policy, evaluated as a resource policy with the caller as principal, must allow it
(same-account rule in :meth:`PolicyAuthorizer.decide_with_resource_policy`). Session tags also need
``sts:TagSession`` and a source identity ``sts:SetSourceIdentity``, decided the same way ("Permissions
required to add session tags", https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_permissions-required;
"Permissions required to set source identity",
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_monitor.html#id_credentials_temp_control-access_monitor-perms).
The root user is refused ("Roles may not be assumed by root accounts.", observed AWS wording). A role
that does not exist is refused exactly like a trust policy that does not admit the caller, so the
answer is no oracle.

Role chaining from a web-identity session: the caller's carried web-identity keys (``PREFIX:sub``, ``:aud``,
``:amr``, ``:id``) and ``aws:FederatedProvider`` are in the request context the second role's trust policy sees
(``request_context`` adds them for any session that carries them), and the chained session carries them on, so
its later requests (and any further chaining) see the same keys, as AWS carries its web-identity keys through
role chaining (IAM User Guide, "Available keys for AWS OIDC federation"; the other claims were trust-time only and
stay behind). The provider ARN and subject are kept as well, so revoking the federated subject also reaches the
chained sessions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.arn import parse_arn
from broker.credentials.mint import SessionSpec, mint
from broker.errors import AccessDenied
from broker.principal import Principal
from broker.service.authorize import check_session_token_limits
from broker.service.env import OpEnv
from broker.service.keyring import KeyringService
from broker.service.session_tags import add_tag_context
from broker.service.sts.common import (
    check_duration,
    check_session_policies,
    check_source_identity,
    check_tags,
    verify_mfa,
)
from broker.service.sts.role_use import RoleUse

__all__ = ["assume_role"]

ROOT_REFUSED = "Roles may not be assumed by root accounts."


def _denied(caller: Principal, action: str, resource: str, reason: str) -> AccessDenied:
    return AccessDenied(f"User: {caller.arn} is not authorized to perform: {action} on resource: {resource}",
                        detail=reason)


def _trust_context(
    env: OpEnv, params: Mapping[str, Any], role_tags: Mapping[str, str], tags: Any, source_identity: str | None,
    mfa_at: Any,
) -> dict[str, Any]:
    ctx: dict[str, Any] = {"sts:RoleSessionName": str(params["RoleSessionName"])}
    if "ExternalId" in params:
        ctx["sts:ExternalId"] = str(params["ExternalId"])
    if source_identity is not None:
        ctx["sts:SourceIdentity"] = source_identity
    add_tag_context(  # inherited transitive and new session tags replace the role's same-key tags
        ctx, role_tags=role_tags, session_tags=tags.tags, request_tags=tags.request_tags,
        transitive_keys=tags.transitive_keys,
    )
    if mfa_at is not None:
        ctx["aws:MultiFactorAuthPresent"] = True
        ctx["aws:MultiFactorAuthAge"] = str(max(0, int((env.call.now - mfa_at).total_seconds())))
    return ctx


def assume_role(
    keyring: KeyringService, env: OpEnv, params: Mapping[str, Any], *, role_use: RoleUse | None = None
) -> dict[str, Any]:
    caller = env.call.principal
    role_arn = str(params["RoleArn"])
    if caller is None:
        raise AccessDenied(f"Anonymous is not authorized to perform: sts:AssumeRole on resource: {role_arn}")
    if caller.is_root:
        raise AccessDenied(ROOT_REFUSED, detail=f"root ({caller.arn}) called AssumeRole")
    check_session_token_limits(caller, "sts:AssumeRole")
    chained = caller.kind == "assumed-role"
    tags = check_tags(params.get("Tags", []), params.get("TransitiveTagKeys", []), caller)
    source_identity = check_source_identity(params.get("SourceIdentity"), caller)
    try:
        parsed = parse_arn(role_arn)
        role_name = parsed.name if parsed.service == "iam" and parsed.resource_type == "role" else None
    except ValueError:
        role_name = None
    role = env.tx.iam.get_role(role_name) if role_name and parsed.account == env.arns.account else None
    if role is None or env.arns.role(role.name, role.path) != role_arn:
        raise _denied(caller, "sts:AssumeRole", role_arn, "no such role in this account")
    duration = check_duration(params.get("DurationSeconds"), maximum=role.max_session_duration, chained=chained)
    policy_arns = check_session_policies(env, params.get("Policy"), params.get("PolicyArns", []))
    mfa_at = verify_mfa(env, caller, params.get("SerialNumber"), params.get("TokenCode"))
    decide = getattr(env.authorizer, "decide_with_resource_policy", None)
    compile_trust = getattr(env.authorizer, "compile_trust", None)
    if decide is None or compile_trust is None:  # fail closed: no trust evaluation without the policy engine
        raise _denied(caller, "sts:AssumeRole", role_arn, "authorizer cannot evaluate trust policies")
    trust = compile_trust(role.trust_policy, role_arn)
    role_tags = dict(env.tx.iam.get_tags("role", role.id))
    context = _trust_context(env, params, role_tags, tags, source_identity, mfa_at)
    wanted = ["sts:AssumeRole"]
    if tags.request_tags or tags.transitive_keys:
        wanted.append("sts:TagSession")
    if source_identity is not None:
        wanted.append("sts:SetSourceIdentity")
    for action in wanted:
        decision = decide(env.call, caller, action, role_arn, trust, context)
        if decision.effect != "Allow":
            raise _denied(caller, action, role_arn, f"{decision.reason}; matched={list(decision.matched)}")
    if role_use is None:  # called outside an application: no per-node throttle
        env.tx.iam.record_role_use(role.name, env.call.now, env.call.region)
    else:
        role_use.record(env.tx, role.id, role.name, env.call.now, env.call.region)
    session_name = str(params["RoleSessionName"])
    spec = SessionSpec(
        kind="assumed-role",
        account=env.arns.account,
        principal_arn=role_arn,
        principal_id=role.id,
        principal_name=role.name,
        duration_seconds=duration,
        session_name=session_name,
        policy=params.get("Policy"),
        policy_arns=policy_arns,
        tags=tags.tags,
        transitive_tag_keys=tags.transitive_keys,
        source_identity=source_identity,
        mfa_authenticated_at=mfa_at,
        chain_depth=caller.chain_depth + 1 if chained else 1,
        federated_provider=caller.federated_provider,
        federated_subject=caller.federated_subject,
        federated_keys=tuple(caller.federated_keys.items()) if chained else (),
    )
    minted = mint(spec, codec=keyring.codec, now=env.call.now, entropy=env.entropy)
    out: dict[str, Any] = {
        "Credentials": minted.credentials_shape(),
        "AssumedRoleUser": {
            "Arn": env.arns.assumed_role(role.name, session_name),
            "AssumedRoleId": f"{role.id}:{session_name}",
        },
    }
    if minted.packed_policy_size is not None:
        out["PackedPolicySize"] = minted.packed_policy_size
    if source_identity is not None:
        out["SourceIdentity"] = source_identity
    return out
