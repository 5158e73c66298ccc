"""GetAccountSummary: entity counts and quotas
(API_GetAccountSummary, https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetAccountSummary.html)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.service.env import OpEnv
from broker.service.iam.access_keys import ACCESS_KEYS_PER_USER
from broker.service.iam.attachments import ATTACHED_PER_ENTITY
from broker.service.iam.common import repo
from broker.service.iam.groups import GROUPS_PER_USER
from broker.service.iam.policies import VERSIONS_PER_POLICY
from broker.service.iam.validation import MANAGED_POLICY_MAX, TRUST_POLICY_MAX

__all__ = ["get_account_summary"]

_QUOTAS = {
    "UsersQuota": 5000,
    "GroupsQuota": 300,
    "RolesQuota": 1000,
    "PoliciesQuota": 1500,
    "GroupsPerUserQuota": GROUPS_PER_USER,
    "AccessKeysPerUserQuota": ACCESS_KEYS_PER_USER,
    "AttachedPoliciesPerUserQuota": ATTACHED_PER_ENTITY,
    "AttachedPoliciesPerGroupQuota": ATTACHED_PER_ENTITY,
    "AttachedPoliciesPerRoleQuota": ATTACHED_PER_ENTITY,
    "PolicyVersionsInUseQuota": 10000,
    "VersionsPerPolicyQuota": VERSIONS_PER_POLICY,
    "PolicySizeQuota": MANAGED_POLICY_MAX,
    "AssumeRolePolicySizeQuota": TRUST_POLICY_MAX,
    "UserPolicySizeQuota": 2048,
    "GroupPolicySizeQuota": 5120,
    "RolePolicySizeQuota": 10240,
}


def get_account_summary(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    env.authorize("iam:GetAccountSummary", "*")
    return {"SummaryMap": {**_QUOTAS, **repo(env).counts()}}
