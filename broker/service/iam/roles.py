"""Role operations: CreateRole, GetRole, ListRoles, UpdateRole, UpdateRoleDescription,
UpdateAssumeRolePolicy, DeleteRole.

IAM API Reference, API_CreateRole (https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html):
``MaxSessionDuration`` 3600-43200 seconds, default 3600; the trust policy is validated as a resource
(trust) policy and stored exactly as submitted; ``EntityAlreadyExists`` "Role with name X already exists."

Trust-policy lint (issue 5 item 6; AWS refuses such policies for the shared providers it recognises, IAM User
Guide "Identity-provider controls for shared OIDC providers",
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_oidc_secure-by-default.html; broker does so
only when configured, docs/compatibility.md): CreateRole and UpdateAssumeRolePolicy run
``broker.federation.oidc.profiles.lint_trust`` on the document. A statement that trusts a shared OIDC issuer
(GitHub Actions, GitLab CI, Kubernetes, SPIFFE presets) without pinning the workload (``sub`` or the immutable id
claims) is refused with ``MalformedPolicyDocument`` when ``BROKER_REFUSE_UNPINNED_TRUST=1``
(``trust_lint_operations(refuse_unpinned=True)``); otherwise the call succeeds and its audit event carries the
findings in ``additionalEventData.trustPolicyWarnings`` (``[{"code", "pointer", "message"}]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from typing import Any

from broker import ids
from broker.errors import DeleteConflict, EntityAlreadyExists, MalformedPolicyDocument, ValidationError
from broker.federation.oidc.profiles import lint_trust
from broker.service.env import OpEnv, OpFunc
from broker.service.iam.boundaries import require_boundary_policy
from broker.service.iam.common import authorize_role, path_of, repo, role_shape
from broker.service.iam.pagination import paginate
from broker.service.iam.validation import TRUST_POLICY_MAX, check_policy, check_tags, tag_context
from broker.store.sqlalchemy.repositories.iam_records import RoleRecord

__all__ = [
    "DEFAULT_MAX_SESSION",
    "check_trust_pinning",
    "create_role",
    "delete_role",
    "get_role",
    "list_roles",
    "trust_lint_operations",
    "update_assume_role_policy",
    "update_role",
    "update_role_description",
]

DEFAULT_MAX_SESSION = 3600
MIN_SESSION, MAX_SESSION = 3600, 43200


def _duration(value: Any) -> int:
    seconds = int(value)
    if seconds < MIN_SESSION:
        raise ValidationError.from_messages(
            [
                f"Value '{seconds}' at 'maxSessionDuration' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {MIN_SESSION}"
            ]
        )
    if seconds > MAX_SESSION:
        raise ValidationError.from_messages(
            [
                f"Value '{seconds}' at 'maxSessionDuration' failed to satisfy constraint: "
                f"Member must have value less than or equal to {MAX_SESSION}"
            ]
        )
    return seconds


def check_trust_pinning(env: OpEnv, document: str, *, refuse: bool) -> None:
    """Refuse (``refuse``) or note in the audit event the shared-issuer pinning findings of ``document``."""
    findings = lint_trust(document)
    if not findings:
        return
    if refuse:
        first = findings[0]
        raise MalformedPolicyDocument(
            f"Trust policy does not pin the workload of a shared OIDC issuer at {first.pointer}: {first.message}",
            detail="; ".join(f"{f.pointer}: {f.code}: {f.message}" for f in findings),
        )
    env.audit_data["trustPolicyWarnings"] = [
        {"code": f.code, "pointer": f.pointer, "message": f.message} for f in findings
    ]


def trust_lint_operations(*, refuse_unpinned: bool) -> dict[str, OpFunc]:
    """CreateRole and UpdateAssumeRolePolicy bound to the ``BROKER_REFUSE_UNPINNED_TRUST`` setting."""
    return {
        "CreateRole": partial(create_role, refuse_unpinned=refuse_unpinned),
        "UpdateAssumeRolePolicy": partial(update_assume_role_policy, refuse_unpinned=refuse_unpinned),
    }


def create_role(env: OpEnv, params: Mapping[str, Any], *, refuse_unpinned: bool = False) -> dict[str, Any]:
    name, path = str(params["RoleName"]), path_of(params)
    tags = check_tags(params.get("Tags", []))
    context = tag_context(tags)
    boundary = params.get("PermissionsBoundary")
    if boundary:
        context["iam:PermissionsBoundary"] = [str(boundary)]
    env.authorize("iam:CreateRole", env.arns.role(name, path), context)
    duration = _duration(params.get("MaxSessionDuration", DEFAULT_MAX_SESSION))
    trust = str(params["AssumeRolePolicyDocument"])
    check_policy(trust, "trust", TRUST_POLICY_MAX)
    check_trust_pinning(env, trust, refuse=refuse_unpinned)
    iam = repo(env)
    if boundary:
        require_boundary_policy(env, str(boundary))
    if iam.get_role(name) is not None:
        raise EntityAlreadyExists(f"Role with name {name} already exists.")
    role = RoleRecord(
        id=ids.role_id(env.entropy),
        name=name,
        path=path,
        created_at=env.call.now,
        trust_policy=trust,
        max_session_duration=duration,
        description=str(params["Description"]) if "Description" in params else None,
        boundary_arn=str(boundary) if boundary else None,
    )
    iam.create_role(role)
    iam.set_tags("role", role.id, tags)
    shape = role_shape(env, role, full=True)
    shape.pop("RoleLastUsed", None)
    return {"Role": shape}


def get_role(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    role = authorize_role(env, "iam:GetRole", str(params["RoleName"]))
    return {"Role": role_shape(env, role, full=True)}


def list_roles(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """ListRoles omits tags, boundary and last-use (API_ListRoles, "Response Elements")."""
    prefix = path_of(params, "PathPrefix")
    env.authorize("iam:ListRoles", env.arns.iam(f"role{prefix}"))
    page, more = paginate(repo(env).list_roles(prefix), lambda r: r.name.lower(), params)
    return {"Roles": [role_shape(env, r) for r in page], **more}


def update_role(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    role = authorize_role(env, "iam:UpdateRole", str(params["RoleName"]))
    changed = role
    if "Description" in params:
        changed = replace(changed, description=str(params["Description"]))
    if "MaxSessionDuration" in params:
        changed = replace(changed, max_session_duration=_duration(params["MaxSessionDuration"]))
    repo(env).save_role(changed)
    return {}


def update_role_description(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    role = authorize_role(env, "iam:UpdateRoleDescription", str(params["RoleName"]))
    changed = replace(role, description=str(params["Description"]))
    repo(env).save_role(changed)
    shape = role_shape(env, changed, full=True)
    return {"Role": shape}


def update_assume_role_policy(
    env: OpEnv, params: Mapping[str, Any], *, refuse_unpinned: bool = False
) -> dict[str, Any]:
    role = authorize_role(env, "iam:UpdateAssumeRolePolicy", str(params["RoleName"]))
    document = str(params["PolicyDocument"])
    check_policy(document, "trust", TRUST_POLICY_MAX)
    check_trust_pinning(env, document, refuse=refuse_unpinned)
    repo(env).save_role(replace(role, trust_policy=document))
    return {}


def delete_role(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """DeleteRole refuses while inline or attached policies remain (API_DeleteRole, "Errors")."""
    role = authorize_role(env, "iam:DeleteRole", str(params["RoleName"]))
    iam = repo(env)
    if iam.list_inline("role", role.id):
        raise DeleteConflict("Cannot delete entity, must delete policies first.")
    if iam.attached("role", role.id):
        raise DeleteConflict("Cannot delete entity, must detach all policies first.")
    iam.delete_role(role.id)
    return {}
