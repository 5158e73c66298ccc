"""Group operations: CreateGroup, GetGroup, ListGroups, UpdateGroup, DeleteGroup, AddUserToGroup,
RemoveUserFromGroup, ListGroupsForUser.

IAM API Reference (https://docs.aws.amazon.com/IAM/latest/APIReference/API_AddUserToGroup.html and
siblings). Quota: 10 groups per user ("IAM and AWS STS quotas", section "IAM object quotas",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-entities).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from broker import ids
from broker.errors import DeleteConflict, EntityAlreadyExists, LimitExceeded
from broker.service.env import OpEnv
from broker.service.iam.common import (
    authorize_group,
    authorize_user,
    group_shape,
    no_such_user,
    path_of,
    repo,
    user_shape,
)
from broker.service.iam.pagination import paginate
from broker.store.sqlalchemy.repositories.iam_records import GroupRecord

__all__ = [
    "GROUPS_PER_USER",
    "add_user_to_group",
    "create_group",
    "delete_group",
    "get_group",
    "list_groups",
    "list_groups_for_user",
    "remove_user_from_group",
    "update_group",
]

GROUPS_PER_USER = 10


def create_group(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    name, path = str(params["GroupName"]), path_of(params)
    env.authorize("iam:CreateGroup", env.arns.group(name, path))
    iam = repo(env)
    if iam.get_group(name) is not None:
        raise EntityAlreadyExists(f"Group with name {name} already exists.")
    group = GroupRecord(ids.group_id(env.entropy), name, path, env.call.now)
    iam.create_group(group)
    return {"Group": group_shape(env, group)}


def get_group(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """GetGroup: the group and its users (paginated)."""
    group = authorize_group(env, "iam:GetGroup", str(params["GroupName"]))
    members = repo(env).group_members(group.id)
    page, more = paginate(members, lambda u: u.name.lower(), params)
    return {"Group": group_shape(env, group), "Users": [user_shape(env, u) for u in page], **more}


def list_groups(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    prefix = path_of(params, "PathPrefix")
    env.authorize("iam:ListGroups", env.arns.iam(f"group{prefix}"))
    page, more = paginate(repo(env).list_groups(prefix), lambda g: g.name.lower(), params)
    return {"Groups": [group_shape(env, g) for g in page], **more}


def update_group(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    group = authorize_group(env, "iam:UpdateGroup", str(params["GroupName"]))
    new_name = str(params.get("NewGroupName") or group.name)
    new_path = str(params.get("NewPath") or group.path)
    iam = repo(env)
    if new_name.lower() != group.name.lower() and iam.get_group(new_name) is not None:
        raise EntityAlreadyExists(f"Group with name {new_name} already exists.")
    iam.save_group(replace(group, name=new_name, path=new_path))
    return {}


def delete_group(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """DeleteGroup refuses while the group has members or policies (API_DeleteGroup, "Errors")."""
    group = authorize_group(env, "iam:DeleteGroup", str(params["GroupName"]))
    iam = repo(env)
    if iam.count_members(group.id):
        raise DeleteConflict("Cannot delete entity, must remove users from group first.")
    if iam.list_inline("group", group.id):
        raise DeleteConflict("Cannot delete entity, must delete policies first.")
    if iam.attached("group", group.id):
        raise DeleteConflict("Cannot delete entity, must detach all policies first.")
    iam.delete_group(group.id)
    return {}


def add_user_to_group(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    group = authorize_group(env, "iam:AddUserToGroup", str(params["GroupName"]))
    iam = repo(env)
    user = iam.get_user(str(params["UserName"]))
    if user is None:
        raise no_such_user(str(params["UserName"]))
    if iam.is_member(group.id, user.id):
        return {}
    if len(iam.groups_for_user(user.id)) >= GROUPS_PER_USER:
        raise LimitExceeded(f"Cannot exceed quota for GroupsPerUser: {GROUPS_PER_USER}")
    iam.add_member(group.id, user.id)
    return {}


def remove_user_from_group(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    group = authorize_group(env, "iam:RemoveUserFromGroup", str(params["GroupName"]))
    iam = repo(env)
    name = str(params["UserName"])
    user = iam.get_user(name)
    if user is None or not iam.is_member(group.id, user.id):
        raise no_such_user(name)
    iam.remove_member(group.id, user.id)
    return {}


def list_groups_for_user(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    user = authorize_user(env, "iam:ListGroupsForUser", str(params["UserName"]))
    page, more = paginate(repo(env).groups_for_user(user.id), lambda g: g.name.lower(), params)
    return {"Groups": [group_shape(env, g) for g in page], **more}
