"""The IAM API: one function per operation, registered by AWS action name in :data:`OPERATIONS`.

Each operation is ``op(env: OpEnv, params) -> dict`` (broker/service/env.py): ``params`` are decoded and
shape-checked by the Query codec; the function authorizes (``env.authorize``), validates semantics,
reads and writes through ``env.tx.iam`` and returns the botocore output shape. The dispatcher owns the
transaction and the audit event.
"""

from __future__ import annotations

from broker.service.env import OpFunc
from broker.service.iam import access_keys, boundaries, groups, policies, roles, summary, users
from broker.service.iam.attachments import attachment_operations, list_entities_for_policy
from broker.service.iam.inline import inline_operations
from broker.service.iam.tags import tag_operations

__all__ = ["OPERATIONS"]

OPERATIONS: dict[str, OpFunc] = {
    "CreateUser": users.create_user,
    "GetUser": users.get_user,
    "ListUsers": users.list_users,
    "UpdateUser": users.update_user,
    "DeleteUser": users.delete_user,
    "CreateGroup": groups.create_group,
    "GetGroup": groups.get_group,
    "ListGroups": groups.list_groups,
    "UpdateGroup": groups.update_group,
    "DeleteGroup": groups.delete_group,
    "AddUserToGroup": groups.add_user_to_group,
    "RemoveUserFromGroup": groups.remove_user_from_group,
    "ListGroupsForUser": groups.list_groups_for_user,
    "CreateAccessKey": access_keys.create_access_key,
    "ListAccessKeys": access_keys.list_access_keys,
    "UpdateAccessKey": access_keys.update_access_key,
    "DeleteAccessKey": access_keys.delete_access_key,
    "GetAccessKeyLastUsed": access_keys.get_access_key_last_used,
    "CreateRole": roles.create_role,
    "GetRole": roles.get_role,
    "ListRoles": roles.list_roles,
    "UpdateRole": roles.update_role,
    "UpdateRoleDescription": roles.update_role_description,
    "UpdateAssumeRolePolicy": roles.update_assume_role_policy,
    "DeleteRole": roles.delete_role,
    "PutUserPermissionsBoundary": boundaries.put_user_permissions_boundary,
    "DeleteUserPermissionsBoundary": boundaries.delete_user_permissions_boundary,
    "PutRolePermissionsBoundary": boundaries.put_role_permissions_boundary,
    "DeleteRolePermissionsBoundary": boundaries.delete_role_permissions_boundary,
    "CreatePolicy": policies.create_policy,
    "GetPolicy": policies.get_policy,
    "ListPolicies": policies.list_policies,
    "DeletePolicy": policies.delete_policy,
    "CreatePolicyVersion": policies.create_policy_version,
    "GetPolicyVersion": policies.get_policy_version,
    "ListPolicyVersions": policies.list_policy_versions,
    "DeletePolicyVersion": policies.delete_policy_version,
    "SetDefaultPolicyVersion": policies.set_default_policy_version,
    "ListEntitiesForPolicy": list_entities_for_policy,
    "GetAccountSummary": summary.get_account_summary,
    **inline_operations(),
    **attachment_operations(),
    **tag_operations(),
}
