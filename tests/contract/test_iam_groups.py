"""Groups and membership on both engines, and the policy sets the authorizer reads."""

from __future__ import annotations

import pytest

from broker.errors import DeleteConflict, EntityAlreadyExists, LimitExceeded, NoSuchEntity
from broker.store.sqlalchemy.repositories.iam_records import version_key
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import ACCOUNT, Caller, count_rows
from tests.contract.iam_docs import ALLOW_ALL, S3_READ, TRUST


def test_group_lifecycle(iam: Caller, store: SqlStore) -> None:
    g = iam("CreateGroup", GroupName="Admins", Path="/ops/")["Group"]
    assert g["Arn"] == f"arn:aws:iam::{ACCOUNT}:group/ops/Admins"
    assert g["GroupId"].startswith("AGPA")
    with pytest.raises(EntityAlreadyExists) as dup:
        iam("CreateGroup", GroupName="admins")
    assert dup.value.message == "Group with name admins already exists."
    with pytest.raises(NoSuchEntity) as nse:
        iam("GetGroup", GroupName="nope")
    assert nse.value.message == "The group with name nope cannot be found."
    for name in ["bob", "alice"]:
        iam("CreateUser", UserName=name)
        iam("AddUserToGroup", GroupName="admins", UserName=name)
    iam("AddUserToGroup", GroupName="admins", UserName="bob")  # already a member: no-op
    got = iam("GetGroup", GroupName="Admins")
    assert [u["UserName"] for u in got["Users"]] == ["alice", "bob"]
    assert got["IsTruncated"] is False
    assert [x["GroupName"] for x in iam("ListGroupsForUser", UserName="bob")["Groups"]] == ["Admins"]
    with pytest.raises(DeleteConflict) as dc:
        iam("DeleteGroup", GroupName="admins")
    assert dc.value.message == "Cannot delete entity, must remove users from group first."
    iam("RemoveUserFromGroup", GroupName="admins", UserName="bob")
    iam("RemoveUserFromGroup", GroupName="admins", UserName="alice")
    with pytest.raises(NoSuchEntity):
        iam("RemoveUserFromGroup", GroupName="admins", UserName="alice")
    iam("UpdateGroup", GroupName="admins", NewGroupName="Root", NewPath="/")
    assert iam("ListGroups")["Groups"][0]["GroupName"] == "Root"
    iam("PutGroupPolicy", GroupName="root", PolicyName="p", PolicyDocument=ALLOW_ALL)
    with pytest.raises(DeleteConflict) as dp:
        iam("DeleteGroup", GroupName="root")
    assert dp.value.message == "Cannot delete entity, must delete policies first."
    iam("DeleteGroupPolicy", GroupName="root", PolicyName="p")
    iam("DeleteGroup", GroupName="root")
    assert count_rows(store, "iam_groups") == 0


def test_ten_groups_per_user(iam: Caller, store: SqlStore) -> None:
    iam("CreateUser", UserName="u")
    for i in range(11):
        iam("CreateGroup", GroupName=f"g{i:02d}")
    for i in range(10):
        iam("AddUserToGroup", GroupName=f"g{i:02d}", UserName="u")
    with pytest.raises(LimitExceeded) as err:
        iam("AddUserToGroup", GroupName="g10", UserName="u")
    assert err.value.message == "Cannot exceed quota for GroupsPerUser: 10"
    assert count_rows(store, "iam_group_members") == 10
    page = iam("ListGroupsForUser", UserName="u", MaxItems=6)
    rest = iam("ListGroupsForUser", UserName="u", Marker=page["Marker"])
    assert [g["GroupName"] for g in page["Groups"] + rest["Groups"]] == [f"g{i:02d}" for i in range(10)]


def test_add_missing_user_to_group(iam: Caller, store: SqlStore) -> None:
    iam("CreateGroup", GroupName="g")
    with pytest.raises(NoSuchEntity) as err:
        iam("AddUserToGroup", GroupName="g", UserName="ghost")
    assert err.value.message == "The user with name ghost cannot be found."
    assert count_rows(store, "iam_group_members") == 0


def test_policies_for_user_and_role(iam: Caller, store: SqlStore) -> None:
    iam("CreateUser", UserName="u", Tags=[{"Key": "team", "Value": "x"}])
    iam("CreateGroup", GroupName="g")
    iam("AddUserToGroup", GroupName="g", UserName="u")
    managed = iam("CreatePolicy", PolicyName="m", PolicyDocument=S3_READ)["Policy"]["Arn"]
    boundary = iam("CreatePolicy", PolicyName="b", PolicyDocument=ALLOW_ALL)["Policy"]["Arn"]
    iam("PutUserPolicy", UserName="u", PolicyName="own", PolicyDocument=ALLOW_ALL)
    iam("AttachGroupPolicy", GroupName="g", PolicyArn=managed)
    iam("PutGroupPolicy", GroupName="g", PolicyName="grp", PolicyDocument=S3_READ)
    iam("PutUserPermissionsBoundary", UserName="u", PermissionsBoundary=boundary)
    with store.transaction() as tx:
        pols = tx.iam.policies_for_user("U")
    assert pols is not None
    assert [d.document for d in pols.identity] == [ALLOW_ALL, S3_READ, S3_READ]
    assert pols.identity[2].policy_id == managed
    assert pols.identity[2].version_key == version_key(S3_READ)
    assert pols.boundary is not None and pols.boundary.policy_id == boundary
    assert pols.tags == {"team": "x"}

    # a new default version changes the version key
    iam("CreatePolicyVersion", PolicyArn=managed, PolicyDocument=ALLOW_ALL, SetAsDefault=True)
    with store.transaction() as tx:
        again = tx.iam.policies_for_user("u")
        assert tx.iam.policies_for_user("nobody") is None
    assert again is not None and again.identity[2].version_key == version_key(ALLOW_ALL)

    with store.transaction() as tx:
        group = tx.iam.policies_for_group("G")
        assert tx.iam.policies_for_group("none") is None
    assert group is not None and [d.document for d in group.identity] == [S3_READ, ALLOW_ALL]
    assert group.identity[0].policy_id.startswith("inline:group:AGPA") and group.identity[0].policy_id.endswith(":grp")

    iam("CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST)
    iam("AttachRolePolicy", RoleName="r", PolicyArn=managed)
    with store.transaction() as tx:
        role = tx.iam.policies_for_role("R")
    assert role is not None and [d.policy_id for d in role.identity] == [managed]
    assert role.boundary is None and role.tags == {}
