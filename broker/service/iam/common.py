"""Shared plumbing for the IAM operations: the repository, entity lookups and output shapes.

NoSuchEntity wording follows AWS ("The role with name X cannot be found."; IAM API Reference,
GetRole "Errors", https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRole.html#API_GetRole_Errors).
Lookups never raise before the operation has been authorized on the entity's ARN, so a caller without
permission cannot probe which names exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from broker.errors import NoSuchEntity, ValidationError
from broker.service.env import OpEnv
from broker.store.sqlalchemy.repositories.iam_records import (
    GroupRecord,
    PolicyRecord,
    RoleRecord,
    UserRecord,
)

if TYPE_CHECKING:  # the repository class itself is an adapter; only its records are imported at run time
    from broker.store.sqlalchemy.repositories.iam import IamRepository

__all__ = [
    "boundary_shape",
    "group_shape",
    "no_such_policy",
    "policy_shape",
    "repo",
    "role_shape",
    "tags_shape",
    "user_shape",
]


def repo(env: OpEnv) -> IamRepository:
    """The IAM repository of the operation's unit of work."""
    iam: IamRepository = env.tx.iam
    return iam


def path_of(params: Mapping[str, Any], member: str = "Path") -> str:
    return str(params.get(member) or "/")


def no_such_user(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The user with name {name} cannot be found.")


def no_such_role(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The role with name {name} cannot be found.")


def no_such_group(name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The group with name {name} cannot be found.")


def no_such_policy(arn: str) -> NoSuchEntity:
    return NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")


def authorize_user(
    env: OpEnv, action: str, name: str, context: Mapping[str, Sequence[str]] | None = None
) -> UserRecord:
    """Authorize ``action`` on the user's ARN, then return the user or raise NoSuchEntity."""
    user = repo(env).get_user(name)
    env.authorize(action, env.arns.user(name, user.path if user else "/"), context)
    if user is None:
        raise no_such_user(name)
    return user


def authorize_target_user(env: OpEnv, params: Mapping[str, Any], action: str) -> UserRecord | None:
    """The user named by ``UserName``, or the calling user when it is absent; ``None`` means the root user.

    AWS: "If you do not specify a user name, IAM determines the user name implicitly based on the Amazon Web
    Services access key ID signing the request" (e.g. ListAccessKeys, ListMFADevices in the IAM API Reference).
    """
    name = params.get("UserName")
    principal = env.call.principal
    if name is None:
        if principal is not None and principal.is_root:
            env.authorize(action, env.arns.root())
            return None
        if principal is None or principal.kind != "user":
            raise ValidationError("Must specify userName when calling with non-User credentials")
        name = principal.name
    return authorize_user(env, action, str(name))


def authorize_role(
    env: OpEnv, action: str, name: str, context: Mapping[str, Sequence[str]] | None = None
) -> RoleRecord:
    role = repo(env).get_role(name)
    env.authorize(action, env.arns.role(name, role.path if role else "/"), context)
    if role is None:
        raise no_such_role(name)
    return role


def authorize_group(
    env: OpEnv, action: str, name: str, context: Mapping[str, Sequence[str]] | None = None
) -> GroupRecord:
    group = repo(env).get_group(name)
    env.authorize(action, env.arns.group(name, group.path if group else "/"), context)
    if group is None:
        raise no_such_group(name)
    return group


def authorize_policy(
    env: OpEnv, action: str, arn: str, context: Mapping[str, Sequence[str]] | None = None
) -> PolicyRecord:
    env.authorize(action, arn, context)
    found = repo(env).get_policy(arn)
    if found is None:
        raise no_such_policy(arn)
    return found


def tags_shape(tags: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags]


def boundary_shape(arn: str) -> dict[str, str]:
    return {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn}


def user_shape(env: OpEnv, user: UserRecord, *, full: bool = False) -> dict[str, Any]:
    """The ``User`` structure; ``full`` adds the boundary and tags (GetUser/CreateUser)."""
    out: dict[str, Any] = {
        "Path": user.path,
        "UserName": user.name,
        "UserId": user.id,
        "Arn": env.arns.user(user.name, user.path),
        "CreateDate": user.created_at,
    }
    if full:
        if user.boundary_arn:
            out["PermissionsBoundary"] = boundary_shape(user.boundary_arn)
        tags = repo(env).get_tags("user", user.id)
        if tags:
            out["Tags"] = tags_shape(tags)
    return out


def group_shape(env: OpEnv, group: GroupRecord) -> dict[str, Any]:
    return {
        "Path": group.path,
        "GroupName": group.name,
        "GroupId": group.id,
        "Arn": env.arns.group(group.name, group.path),
        "CreateDate": group.created_at,
    }


def role_shape(env: OpEnv, role: RoleRecord, *, full: bool = False) -> dict[str, Any]:
    """The ``Role`` structure; ``full`` adds boundary, tags and ``RoleLastUsed`` (GetRole)."""
    out: dict[str, Any] = {
        "Path": role.path,
        "RoleName": role.name,
        "RoleId": role.id,
        "Arn": env.arns.role(role.name, role.path),
        "CreateDate": role.created_at,
        "AssumeRolePolicyDocument": role.trust_policy,
        "MaxSessionDuration": role.max_session_duration,
    }
    if role.description is not None:
        out["Description"] = role.description
    if full:
        if role.boundary_arn:
            out["PermissionsBoundary"] = boundary_shape(role.boundary_arn)
        tags = repo(env).get_tags("role", role.id)
        if tags:
            out["Tags"] = tags_shape(tags)
        last: dict[str, Any] = {}
        if role.last_used_at is not None:
            last["LastUsedDate"] = role.last_used_at
        if role.last_used_region is not None:
            last["Region"] = role.last_used_region
        out["RoleLastUsed"] = last
    return out


def policy_shape(env: OpEnv, pol: PolicyRecord, *, full: bool = False) -> dict[str, Any]:
    """The ``Policy`` structure; ``full`` adds the description and tags (GetPolicy/CreatePolicy)."""
    out: dict[str, Any] = {
        "PolicyName": pol.name,
        "PolicyId": pol.id,
        "Arn": pol.arn,
        "Path": pol.path,
        "DefaultVersionId": pol.default_version,
        "AttachmentCount": pol.attachment_count,
        "PermissionsBoundaryUsageCount": pol.boundary_count,
        "IsAttachable": True,
        "CreateDate": pol.created_at,
        "UpdateDate": pol.updated_at,
    }
    if full:
        if pol.description is not None:
            out["Description"] = pol.description
        tags = repo(env).get_tags("policy", pol.id)
        if tags:
            out["Tags"] = tags_shape(tags)
    return out
