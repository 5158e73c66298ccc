"""User operations: CreateUser, GetUser, ListUsers, UpdateUser, DeleteUser.

IAM API Reference: https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateUser.html and the
matching pages for each operation (sections "Request Parameters" and "Errors").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from broker import ids
from broker.errors import DeleteConflict, EntityAlreadyExists, ValidationError
from broker.service.env import OpEnv
from broker.service.iam.boundaries import require_boundary_policy
from broker.service.iam.common import authorize_user, path_of, repo, user_shape
from broker.service.iam.pagination import paginate
from broker.service.iam.validation import check_tags, tag_context
from broker.store.sqlalchemy.repositories.iam_records import UserRecord

__all__ = ["create_user", "delete_user", "get_user", "list_users", "update_user"]


def create_user(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """CreateUser; ``EntityAlreadyExists`` "User with name X already exists." (names case-insensitive)."""
    name, path = str(params["UserName"]), path_of(params)
    tags = check_tags(params.get("Tags", []))
    context = tag_context(tags)
    boundary = params.get("PermissionsBoundary")
    if boundary:
        context["iam:PermissionsBoundary"] = [str(boundary)]
    env.authorize("iam:CreateUser", env.arns.user(name, path), context)
    iam = repo(env)
    if boundary:
        require_boundary_policy(env, str(boundary))
    if iam.get_user(name) is not None:
        raise EntityAlreadyExists(f"User with name {name} already exists.")
    user = UserRecord(ids.user_id(env.entropy), name, path, env.call.now, str(boundary) if boundary else None)
    iam.create_user(user)
    iam.set_tags("user", user.id, tags)
    return {"User": user_shape(env, user, full=True)}


def get_user(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """GetUser; without ``UserName`` it describes the caller (the root user included)."""
    name = params.get("UserName")
    principal = env.call.principal
    if name is None:
        if principal is not None and principal.is_root:
            env.authorize("iam:GetUser", env.arns.root())
            keys = repo(env).list_access_keys(None)
            created = keys[0].created_at if keys else env.call.now
            return {
                "User": {
                    "Path": "/",
                    "UserName": "root",
                    "UserId": principal.account,
                    "Arn": principal.arn,
                    "CreateDate": created,
                }
            }
        if principal is None or principal.kind != "user":
            raise ValidationError("Must specify userName when calling with non-User credentials")
        name = principal.name
    user = authorize_user(env, "iam:GetUser", str(name))
    return {"User": user_shape(env, user, full=True)}


def list_users(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    prefix = path_of(params, "PathPrefix")
    env.authorize("iam:ListUsers", env.arns.iam(f"user{prefix}"))
    users = repo(env).list_users(prefix)
    page, more = paginate(users, lambda u: u.name.lower(), params)
    return {"Users": [user_shape(env, u) for u in page], **more}


def update_user(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """UpdateUser: rename (``NewUserName``) and/or move (``NewPath``)."""
    user = authorize_user(env, "iam:UpdateUser", str(params["UserName"]))
    new_name = str(params.get("NewUserName") or user.name)
    new_path = str(params.get("NewPath") or user.path)
    iam = repo(env)
    if new_name.lower() != user.name.lower() and iam.get_user(new_name) is not None:
        raise EntityAlreadyExists(f"User with name {new_name} already exists.")
    iam.save_user(replace(user, name=new_name, path=new_path))
    return {}


def delete_user(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """DeleteUser refuses while keys, policies, groups or MFA devices remain (AWS "Deleting an IAM user",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_users_remove.html)."""
    user = authorize_user(env, "iam:DeleteUser", str(params["UserName"]))
    iam = repo(env)
    dep = iam.user_dependents(user)
    if dep.access_keys:
        raise DeleteConflict("Cannot delete entity, must delete access keys first.")
    if dep.inline_policies:
        raise DeleteConflict("Cannot delete entity, must delete policies first.")
    if dep.attached_policies:
        raise DeleteConflict("Cannot delete entity, must detach all policies first.")
    if dep.groups:
        raise DeleteConflict("Cannot delete entity, must remove users from group first.")
    if dep.mfa_devices:
        raise DeleteConflict("Cannot delete entity, must delete MFA device first.")
    iam.delete_user(user.id)
    return {}
