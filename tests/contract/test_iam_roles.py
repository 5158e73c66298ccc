"""IAM roles on both engines: create/get/list/update/delete, trust policy, durations, boundary, tags, errors."""

from __future__ import annotations

import pytest

from broker.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    InvalidInput,
    LimitExceeded,
    MalformedPolicyDocument,
    NoSuchEntity,
    ValidationError,
)
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import ACCOUNT, START, Caller, count_rows
from tests.contract.iam_docs import ALLOW_ALL, TRUST


def test_create_role_shape(iam: Caller) -> None:
    role = iam(
        "CreateRole",
        RoleName="Deploy",
        AssumeRolePolicyDocument=TRUST,
        Description="d",
        Tags=[{"Key": "env", "Value": "prod"}],
    )["Role"]
    assert role["RoleName"] == "Deploy"
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/Deploy"
    assert role["RoleId"].startswith("AROA") and len(role["RoleId"]) == 21
    assert role["AssumeRolePolicyDocument"] == TRUST  # stored exactly as given
    assert role["MaxSessionDuration"] == 3600
    assert role["Description"] == "d"
    assert role["CreateDate"] == START
    assert role["Tags"] == [{"Key": "env", "Value": "prod"}]
    got = iam("GetRole", RoleName="deploy")["Role"]
    assert got["RoleLastUsed"] == {}
    assert {k: v for k, v in got.items() if k != "RoleLastUsed"} == role


def test_role_not_found_and_duplicate(iam: Caller, store: SqlStore) -> None:
    with pytest.raises(NoSuchEntity) as err:
        iam("GetRole", RoleName="X")
    assert err.value.message == "The role with name X cannot be found."
    iam("CreateRole", RoleName="X", AssumeRolePolicyDocument=TRUST)
    with pytest.raises(EntityAlreadyExists) as dup:
        iam("CreateRole", RoleName="x", AssumeRolePolicyDocument=TRUST)
    assert dup.value.message == "Role with name x already exists."
    assert count_rows(store, "iam_roles") == 1


@pytest.mark.parametrize(
    ("seconds", "message"),
    [
        (
            3599,
            "1 validation error detected: Value '3599' at 'maxSessionDuration' failed to satisfy constraint: "
            "Member must have value greater than or equal to 3600",
        ),
        (
            43201,
            "1 validation error detected: Value '43201' at 'maxSessionDuration' failed to satisfy constraint: "
            "Member must have value less than or equal to 43200",
        ),
    ],
)
def test_max_session_duration_range(iam: Caller, store: SqlStore, seconds: int, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        iam("CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST, MaxSessionDuration=seconds)
    assert err.value.message == message
    assert count_rows(store, "iam_roles") == 0
    iam("CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST, MaxSessionDuration=43200)
    with pytest.raises(ValidationError):
        iam("UpdateRole", RoleName="r", MaxSessionDuration=seconds)
    assert iam("GetRole", RoleName="r")["Role"]["MaxSessionDuration"] == 43200


def test_malformed_trust_policy_writes_nothing(iam: Caller, store: SqlStore) -> None:
    with pytest.raises(MalformedPolicyDocument):
        iam("CreateRole", RoleName="r", AssumeRolePolicyDocument="{not json")
    assert count_rows(store, "iam_roles") == 0


def test_trust_policy_too_large(iam: Caller) -> None:
    big = TRUST.replace('"sts:AssumeRole"', '["sts:AssumeRole", ' + ", ".join(['"sts:TagSession"'] * 150) + "]")
    with pytest.raises(LimitExceeded) as err:
        iam("CreateRole", RoleName="r", AssumeRolePolicyDocument=big)
    assert err.value.message == "Cannot exceed quota for ACLSizePerRole: 2048"


def test_update_role_and_description_and_trust(iam: Caller) -> None:
    iam("CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST)
    iam("UpdateRole", RoleName="r", Description="new", MaxSessionDuration=7200)
    got = iam("GetRole", RoleName="r")["Role"]
    assert (got["Description"], got["MaxSessionDuration"]) == ("new", 7200)
    out = iam("UpdateRoleDescription", RoleName="r", Description="newer")
    assert out["Role"]["Description"] == "newer"
    other = TRUST.replace("ec2", "lambda")
    iam("UpdateAssumeRolePolicy", RoleName="r", PolicyDocument=other)
    assert iam("GetRole", RoleName="r")["Role"]["AssumeRolePolicyDocument"] == other
    with pytest.raises(MalformedPolicyDocument):
        iam("UpdateAssumeRolePolicy", RoleName="r", PolicyDocument="[]")
    assert iam("GetRole", RoleName="r")["Role"]["AssumeRolePolicyDocument"] == other


def test_list_roles(iam: Caller) -> None:
    for name, path in [("b", "/svc/"), ("a", "/svc/"), ("c", "/")]:
        iam("CreateRole", RoleName=name, Path=path, AssumeRolePolicyDocument=TRUST)
    out = iam("ListRoles", PathPrefix="/svc/")
    assert [r["RoleName"] for r in out["Roles"]] == ["a", "b"]
    assert "Tags" not in out["Roles"][0] and "RoleLastUsed" not in out["Roles"][0]
    page = iam("ListRoles", MaxItems=1)
    assert page["IsTruncated"] is True
    rest = iam("ListRoles", MaxItems=5, Marker=page["Marker"])
    assert [r["RoleName"] for r in rest["Roles"]] == ["b", "c"]


def test_delete_role_conflicts(iam: Caller, store: SqlStore) -> None:
    iam("CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "k", "Value": "v"}])
    iam("PutRolePolicy", RoleName="r", PolicyName="inline", PolicyDocument=ALLOW_ALL)
    with pytest.raises(DeleteConflict) as err:
        iam("DeleteRole", RoleName="r")
    assert err.value.message == "Cannot delete entity, must delete policies first."
    iam("DeleteRolePolicy", RoleName="r", PolicyName="inline")
    arn = iam("CreatePolicy", PolicyName="mp", PolicyDocument=ALLOW_ALL)["Policy"]["Arn"]
    iam("AttachRolePolicy", RoleName="r", PolicyArn=arn)
    with pytest.raises(DeleteConflict) as err:
        iam("DeleteRole", RoleName="r")
    assert err.value.message == "Cannot delete entity, must detach all policies first."
    iam("DetachRolePolicy", RoleName="r", PolicyArn=arn)
    iam("DeleteRole", RoleName="r")
    assert count_rows(store, "iam_roles") == 0
    assert count_rows(store, "iam_tags") == 0
    with pytest.raises(NoSuchEntity):
        iam("DeleteRole", RoleName="r")


def test_role_boundary(iam: Caller) -> None:
    arn = iam("CreatePolicy", PolicyName="b", PolicyDocument=ALLOW_ALL)["Policy"]["Arn"]
    iam("CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST, PermissionsBoundary=arn)
    assert iam("GetRole", RoleName="r")["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == arn
    iam("DeleteRolePermissionsBoundary", RoleName="r")
    assert "PermissionsBoundary" not in iam("GetRole", RoleName="r")["Role"]
    iam("PutRolePermissionsBoundary", RoleName="r", PermissionsBoundary=arn)
    with pytest.raises(DeleteConflict) as err:
        iam("DeletePolicy", PolicyArn=arn)
    assert err.value.message == "Cannot delete a policy used as a permissions boundary."


def test_role_tags(iam: Caller, store: SqlStore) -> None:
    iam("CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "Env", "Value": "a"}])
    iam("TagRole", RoleName="r", Tags=[{"Key": "env", "Value": "b"}, {"Key": "team", "Value": "x"}])
    assert iam("ListRoleTags", RoleName="r")["Tags"] == [{"Key": "env", "Value": "b"}, {"Key": "team", "Value": "x"}]
    iam("UntagRole", RoleName="r", TagKeys=["ENV"])
    assert iam("ListRoleTags", RoleName="r")["Tags"] == [{"Key": "team", "Value": "x"}]
    with pytest.raises(InvalidInput) as err:
        iam("TagRole", RoleName="r", Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])
    assert err.value.message == "Duplicate tag keys found. Please note that Tag keys are case insensitive."
    with pytest.raises(InvalidInput) as err:
        iam("TagRole", RoleName="r", Tags=[{"Key": "aws:x", "Value": "1"}])
    assert err.value.message == "Tag keys beginning with 'aws:' are reserved for AWS use."
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(49)]
    iam("TagRole", RoleName="r", Tags=many)  # 49 + team = 50
    with pytest.raises(LimitExceeded) as lim:
        iam("TagRole", RoleName="r", Tags=[{"Key": "one-more", "Value": "v"}])
    assert lim.value.message == "The number of tags has reached the maximum limit."
    assert count_rows(store, "iam_tags") == 50
    page = iam("ListRoleTags", RoleName="r", MaxItems=30)
    rest = iam("ListRoleTags", RoleName="r", Marker=page["Marker"])
    assert len(page["Tags"]) + len(rest["Tags"]) == 50
