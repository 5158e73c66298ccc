"""Permissions boundaries for users and roles.

"Permissions boundaries for IAM entities"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html): a boundary is a
managed policy; PutRolePermissionsBoundary / PutUserPermissionsBoundary take its ARN and fail with
``NoSuchEntity`` when it does not exist. The condition key ``iam:PermissionsBoundary`` carries the ARN.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from broker.service.env import OpEnv
from broker.service.iam.common import authorize_role, authorize_user, no_such_policy, repo
from broker.store.sqlalchemy.repositories.iam_records import PolicyRecord

__all__ = [
    "delete_role_permissions_boundary",
    "delete_user_permissions_boundary",
    "put_role_permissions_boundary",
    "put_user_permissions_boundary",
    "require_boundary_policy",
]


def require_boundary_policy(env: OpEnv, arn: str) -> PolicyRecord:
    found = repo(env).get_policy(arn)
    if found is None:
        raise no_such_policy(arn)
    return found


def put_user_permissions_boundary(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    arn = str(params["PermissionsBoundary"])
    user = authorize_user(
        env, "iam:PutUserPermissionsBoundary", str(params["UserName"]), {"iam:PermissionsBoundary": [arn]}
    )
    require_boundary_policy(env, arn)
    repo(env).save_user(replace(user, boundary_arn=arn))
    return {}


def delete_user_permissions_boundary(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    user = authorize_user(env, "iam:DeleteUserPermissionsBoundary", str(params["UserName"]))
    repo(env).save_user(replace(user, boundary_arn=None))
    return {}


def put_role_permissions_boundary(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    arn = str(params["PermissionsBoundary"])
    role = authorize_role(
        env, "iam:PutRolePermissionsBoundary", str(params["RoleName"]), {"iam:PermissionsBoundary": [arn]}
    )
    require_boundary_policy(env, arn)
    repo(env).save_role(replace(role, boundary_arn=arn))
    return {}


def delete_role_permissions_boundary(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    role = authorize_role(env, "iam:DeleteRolePermissionsBoundary", str(params["RoleName"]))
    repo(env).save_role(replace(role, boundary_arn=None))
    return {}
