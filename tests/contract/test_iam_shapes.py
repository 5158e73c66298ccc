"""Every IAM operation's output matches its botocore output shape: no unknown members, required ones present,
timestamps aware, and every registered action exists in the IAM model."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import botocore.session
import pytest

from broker.service.iam import OPERATIONS
from tests.contract.conftest import ACCOUNT, Caller
from tests.contract.iam_docs import ALLOW_ALL, TRUST

_MODEL = botocore.session.get_session().get_service_model("iam")


def _check(shape: Any, value: Any, where: str) -> None:
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), where
        unknown = set(value) - set(shape.members)
        assert not unknown, f"{where}: unknown members {unknown}"
        missing = set(shape.required_members) - set(value)
        assert not missing, f"{where}: missing required {missing}"
        for name, member in value.items():
            _check(shape.members[name], member, f"{where}.{name}")
    elif kind == "list":
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            _check(shape.member, item, f"{where}[{i}]")
    elif kind == "map":
        assert isinstance(value, dict), where
        for k, v in value.items():
            _check(shape.value, v, f"{where}[{k}]")
    elif kind == "timestamp":
        assert isinstance(value, datetime) and value.tzinfo is not None, where
    elif kind == "boolean":
        assert isinstance(value, bool), where
    elif kind in ("integer", "long"):
        assert isinstance(value, int) and not isinstance(value, bool), where
    else:
        assert isinstance(value, str), where


def test_every_action_is_in_the_model() -> None:
    assert set(OPERATIONS) <= set(_MODEL.operation_names)


@pytest.fixture
def checked(iam: Caller) -> Caller:
    def run(action: str, **params: Any) -> dict[str, Any]:
        out: dict[str, Any] = iam(action, **params)
        output = _MODEL.operation_model(action).output_shape
        if output is None:
            assert out == {}, action
        else:
            _check(output, out, action)
        return out

    return run


def test_output_shapes(checked: Caller) -> None:
    c = checked
    tags = [{"Key": "k", "Value": "v"}]
    arn = c("CreatePolicy", PolicyName="p", PolicyDocument=ALLOW_ALL, Tags=tags)["Policy"]["Arn"]
    c("CreateUser", UserName="u", Tags=tags, PermissionsBoundary=arn)
    c("CreateGroup", GroupName="g")
    c("CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST, Tags=tags, PermissionsBoundary=arn, Description="d")
    akid = c("CreateAccessKey", UserName="u")["AccessKey"]["AccessKeyId"]
    steps: list[tuple[str, dict[str, Any]]] = [
        ("GetUser", {"UserName": "u"}),
        ("GetUser", {}),
        ("ListUsers", {"MaxItems": 1}),
        ("TagUser", {"UserName": "u", "Tags": tags}),
        ("ListUserTags", {"UserName": "u"}),
        ("AddUserToGroup", {"GroupName": "g", "UserName": "u"}),
        ("GetGroup", {"GroupName": "g"}),
        ("ListGroups", {}),
        ("ListGroupsForUser", {"UserName": "u"}),
        ("ListAccessKeys", {"UserName": "u"}),
        ("GetAccessKeyLastUsed", {"AccessKeyId": akid}),
        ("UpdateAccessKey", {"UserName": "u", "AccessKeyId": akid, "Status": "Inactive"}),
        ("GetRole", {"RoleName": "r"}),
        ("ListRoles", {}),
        ("UpdateRole", {"RoleName": "r", "MaxSessionDuration": 7200}),
        ("UpdateRoleDescription", {"RoleName": "r", "Description": "x"}),
        ("UpdateAssumeRolePolicy", {"RoleName": "r", "PolicyDocument": TRUST}),
        ("ListRoleTags", {"RoleName": "r"}),
        ("PutRolePolicy", {"RoleName": "r", "PolicyName": "i", "PolicyDocument": ALLOW_ALL}),
        ("GetRolePolicy", {"RoleName": "r", "PolicyName": "i"}),
        ("ListRolePolicies", {"RoleName": "r"}),
        ("PutUserPolicy", {"UserName": "u", "PolicyName": "i", "PolicyDocument": ALLOW_ALL}),
        ("GetUserPolicy", {"UserName": "u", "PolicyName": "i"}),
        ("PutGroupPolicy", {"GroupName": "g", "PolicyName": "i", "PolicyDocument": ALLOW_ALL}),
        ("GetGroupPolicy", {"GroupName": "g", "PolicyName": "i"}),
        ("ListGroupPolicies", {"GroupName": "g"}),
        ("AttachRolePolicy", {"RoleName": "r", "PolicyArn": arn}),
        ("AttachUserPolicy", {"UserName": "u", "PolicyArn": arn}),
        ("AttachGroupPolicy", {"GroupName": "g", "PolicyArn": arn}),
        ("ListAttachedRolePolicies", {"RoleName": "r"}),
        ("ListAttachedUserPolicies", {"UserName": "u"}),
        ("ListAttachedGroupPolicies", {"GroupName": "g"}),
        ("ListEntitiesForPolicy", {"PolicyArn": arn}),
        ("GetPolicy", {"PolicyArn": arn}),
        ("ListPolicies", {"OnlyAttached": True}),
        ("CreatePolicyVersion", {"PolicyArn": arn, "PolicyDocument": ALLOW_ALL}),
        ("GetPolicyVersion", {"PolicyArn": arn, "VersionId": "v2"}),
        ("ListPolicyVersions", {"PolicyArn": arn}),
        ("SetDefaultPolicyVersion", {"PolicyArn": arn, "VersionId": "v2"}),
        ("DeletePolicyVersion", {"PolicyArn": arn, "VersionId": "v1"}),
        ("ListPolicyTags", {"PolicyArn": arn}),
        ("GetAccountSummary", {}),
        ("PutUserPermissionsBoundary", {"UserName": "u", "PermissionsBoundary": arn}),
        ("DeleteUserPermissionsBoundary", {"UserName": "u"}),
        ("PutRolePermissionsBoundary", {"RoleName": "r", "PermissionsBoundary": arn}),
        ("DeleteRolePermissionsBoundary", {"RoleName": "r"}),
    ]
    for action, params in steps:
        c(action, **params)
    assert c("GetUser", UserName="u")["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/u"
