"""Managed policies: CreatePolicy, GetPolicy, ListPolicies, DeletePolicy, and their versions
(CreatePolicyVersion, GetPolicyVersion, ListPolicyVersions, DeletePolicyVersion, SetDefaultPolicyVersion).

"Versioning IAM policies" (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_managed-versioning.html):
at most five versions; the default version cannot be deleted; a policy is deleted only once detached
and down to its default version (API_DeletePolicy, "Errors"). Document size 6,144 characters
(reference_iam-quotas.html, "IAM and AWS STS character limits"). Policy names are unique in the account.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker import ids
from broker.errors import DeleteConflict, EntityAlreadyExists, LimitExceeded, NoSuchEntity
from broker.service.env import OpEnv
from broker.service.iam.common import authorize_policy, path_of, policy_shape, repo
from broker.service.iam.pagination import paginate
from broker.service.iam.validation import MANAGED_POLICY_MAX, check_policy, check_tags, tag_context
from broker.store.sqlalchemy.repositories.iam_records import PolicyRecord, PolicyVersionRecord

__all__ = [
    "VERSIONS_PER_POLICY",
    "create_policy",
    "create_policy_version",
    "delete_policy",
    "delete_policy_version",
    "get_policy",
    "get_policy_version",
    "list_policies",
    "list_policy_versions",
    "set_default_policy_version",
]

VERSIONS_PER_POLICY = 5


def _version_shape(v: PolicyVersionRecord, *, document: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"VersionId": v.version_id, "IsDefaultVersion": v.is_default, "CreateDate": v.created_at}
    if document:
        out["Document"] = v.document
    return out


def _no_such_version(arn: str, version_id: str) -> NoSuchEntity:
    return NoSuchEntity(f"Policy {arn} version {version_id} does not exist or is not attachable.")


def create_policy(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    name, path = str(params["PolicyName"]), path_of(params)
    arn = env.arns.policy(name, path)
    tags = check_tags(params.get("Tags", []))
    env.authorize("iam:CreatePolicy", arn, tag_context(tags))
    document = str(params["PolicyDocument"])
    check_policy(document, "identity", MANAGED_POLICY_MAX)
    iam = repo(env)
    if iam.get_policy_by_name(name) is not None:
        raise EntityAlreadyExists(f"A policy called {name} already exists. Duplicate names are not allowed.")
    now = env.call.now
    pol = PolicyRecord(
        id=ids.policy_id(env.entropy),
        name=name,
        path=path,
        arn=arn,
        default_version="v1",
        created_at=now,
        updated_at=now,
        description=str(params["Description"]) if "Description" in params else None,
    )
    iam.create_policy(pol, document)
    iam.set_tags("policy", pol.id, tags)
    return {"Policy": policy_shape(env, pol, full=True)}


def get_policy(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    pol = authorize_policy(env, "iam:GetPolicy", str(params["PolicyArn"]))
    return {"Policy": policy_shape(env, pol, full=True)}


def _keep(pol: PolicyRecord, params: Mapping[str, Any]) -> bool:
    if params.get("Scope", "All") == "AWS":
        return False  # broker has no AWS managed policies
    if not params.get("OnlyAttached"):
        return True
    usage = params.get("PolicyUsageFilter")
    if usage == "PermissionsPolicy":
        return pol.attachment_count > 0
    if usage == "PermissionsBoundary":
        return pol.boundary_count > 0
    return pol.attachment_count > 0 or pol.boundary_count > 0


def list_policies(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """ListPolicies with ``Scope`` (All/Local/AWS), ``OnlyAttached``, ``PolicyUsageFilter``, ``PathPrefix``."""
    prefix = path_of(params, "PathPrefix")
    env.authorize("iam:ListPolicies", env.arns.iam(f"policy{prefix}"))
    found = [p for p in repo(env).list_policies(prefix) if _keep(p, params)]
    page, more = paginate(found, lambda p: p.name.lower(), params)
    return {"Policies": [policy_shape(env, p) for p in page], **more}


def delete_policy(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    pol = authorize_policy(env, "iam:DeletePolicy", str(params["PolicyArn"]))
    iam = repo(env)
    if pol.attachment_count:
        raise DeleteConflict("Cannot delete a policy attached to entities.")
    if pol.boundary_count:
        raise DeleteConflict("Cannot delete a policy used as a permissions boundary.")
    if len(iam.policy_versions(pol.id)) > 1:
        raise DeleteConflict(
            "This policy has more than one version. Before you delete a policy, you must delete the policy's "
            "versions. The default version is deleted with the policy."
        )
    iam.delete_policy(pol.id)
    return {}


def create_policy_version(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    pol = authorize_policy(env, "iam:CreatePolicyVersion", str(params["PolicyArn"]))
    document = str(params["PolicyDocument"])
    check_policy(document, "identity", MANAGED_POLICY_MAX)
    iam = repo(env)
    if len(iam.policy_versions(pol.id)) >= VERSIONS_PER_POLICY:
        raise LimitExceeded(
            f"A managed policy can have up to {VERSIONS_PER_POLICY} versions. Before you create a new version, "
            "you must delete an existing version."
        )
    version_id = iam.add_policy_version(pol.id, document, env.call.now, bool(params.get("SetAsDefault", False)))
    version = iam.get_policy_version(pol.id, version_id)
    assert version is not None
    return {"PolicyVersion": _version_shape(version, document=True)}


def get_policy_version(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    pol = authorize_policy(env, "iam:GetPolicyVersion", str(params["PolicyArn"]))
    version = repo(env).get_policy_version(pol.id, str(params["VersionId"]))
    if version is None:
        raise _no_such_version(pol.arn, str(params["VersionId"]))
    return {"PolicyVersion": _version_shape(version, document=True)}


def list_policy_versions(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """Newest version first, as AWS lists them."""
    pol = authorize_policy(env, "iam:ListPolicyVersions", str(params["PolicyArn"]))
    versions = repo(env).policy_versions(pol.id)
    width = 12
    page, more = paginate(versions, lambda v: str(10**width - int(v.version_id[1:])).zfill(width), params)
    return {"Versions": [_version_shape(v, document=False) for v in page], **more}


def delete_policy_version(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    pol = authorize_policy(env, "iam:DeletePolicyVersion", str(params["PolicyArn"]))
    iam = repo(env)
    version = iam.get_policy_version(pol.id, str(params["VersionId"]))
    if version is None:
        raise _no_such_version(pol.arn, str(params["VersionId"]))
    if version.is_default:
        raise DeleteConflict("Cannot delete the default version of a policy.")
    iam.delete_policy_version(pol.id, version.version_id)
    return {}


def set_default_policy_version(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    pol = authorize_policy(env, "iam:SetDefaultPolicyVersion", str(params["PolicyArn"]))
    iam = repo(env)
    version = iam.get_policy_version(pol.id, str(params["VersionId"]))
    if version is None:
        raise _no_such_version(pol.arn, str(params["VersionId"]))
    iam.set_default_version(pol.id, version.version_id, env.call.now)
    return {}
