"""IAM users through OPERATIONS on both engines: CRUD, case-insensitive names, errors, nothing written on error."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from broker.errors import DeleteConflict, EntityAlreadyExists, NoSuchEntity, ValidationError
from broker.principal import Principal
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import ACCOUNT, Caller, count_rows
from tests.contract.iam_docs import ALLOW_ALL

START = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_create_get_user(iam: Caller) -> None:
    out = iam("CreateUser", UserName="alice", Path="/eng/", Tags=[{"Key": "team", "Value": "a"}])
    user = out["User"]
    assert user["UserName"] == "alice"
    assert user["Path"] == "/eng/"
    assert user["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/eng/alice"
    assert user["UserId"].startswith("AIDA") and len(user["UserId"]) == 21
    assert user["CreateDate"] == START
    assert user["Tags"] == [{"Key": "team", "Value": "a"}]
    got = iam("GetUser", UserName="ALICE")["User"]
    assert got == user


def test_get_user_without_name_is_the_caller(iam: Caller) -> None:
    me = iam("GetUser")["User"]
    assert me["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert me["UserId"] == ACCOUNT


def test_get_user_without_name_for_role_session_is_refused(iam: Caller, root: Principal) -> None:
    from dataclasses import replace

    role_session = replace(root, kind="assumed-role")
    with pytest.raises(ValidationError) as err:
        iam("GetUser", principal=role_session)
    assert err.value.message == "Must specify userName when calling with non-User credentials"


def test_duplicate_user_case_insensitive(iam: Caller, store: SqlStore) -> None:
    iam("CreateUser", UserName="alice")
    with pytest.raises(EntityAlreadyExists) as err:
        iam("CreateUser", UserName="Alice")
    assert err.value.message == "User with name Alice already exists."
    assert err.value.code == "EntityAlreadyExists"
    assert count_rows(store, "iam_users") == 1


def test_missing_user(iam: Caller) -> None:
    with pytest.raises(NoSuchEntity) as err:
        iam("GetUser", UserName="ghost")
    assert err.value.message == "The user with name ghost cannot be found."
    assert err.value.status == 404


def test_list_users_path_prefix_and_pagination(iam: Caller) -> None:
    for name in ["carol", "alice", "bob", "dave"]:
        iam("CreateUser", UserName=name, Path="/eng/" if name != "dave" else "/ops/")
    eng = iam("ListUsers", PathPrefix="/eng/")
    assert [u["UserName"] for u in eng["Users"]] == ["alice", "bob", "carol"]
    assert eng["IsTruncated"] is False
    first = iam("ListUsers", MaxItems=2)
    assert [u["UserName"] for u in first["Users"]] == ["alice", "bob"]
    assert first["IsTruncated"] is True
    second = iam("ListUsers", MaxItems=2, Marker=first["Marker"])
    assert [u["UserName"] for u in second["Users"]] == ["carol", "dave"]
    assert second["IsTruncated"] is False
    assert "Marker" not in second


def test_update_user_rename_and_move(iam: Caller) -> None:
    iam("CreateUser", UserName="alice")
    iam("CreateUser", UserName="bob")
    with pytest.raises(EntityAlreadyExists) as err:
        iam("UpdateUser", UserName="alice", NewUserName="BOB")
    assert err.value.message == "User with name BOB already exists."
    iam("UpdateUser", UserName="alice", NewUserName="Alicia", NewPath="/x/")
    got = iam("GetUser", UserName="alicia")["User"]
    assert (got["UserName"], got["Path"]) == ("Alicia", "/x/")
    with pytest.raises(NoSuchEntity):
        iam("GetUser", UserName="alice")
    iam("UpdateUser", UserName="alicia", NewUserName="ALICIA")  # case-only rename of itself is fine
    assert iam("GetUser", UserName="alicia")["User"]["UserName"] == "ALICIA"


def test_delete_user_conflicts(iam: Caller, store: SqlStore) -> None:
    iam("CreateUser", UserName="alice")
    key = iam("CreateAccessKey", UserName="alice")["AccessKey"]["AccessKeyId"]
    with pytest.raises(DeleteConflict) as err:
        iam("DeleteUser", UserName="alice")
    assert err.value.message == "Cannot delete entity, must delete access keys first."
    iam("DeleteAccessKey", UserName="alice", AccessKeyId=key)

    iam("PutUserPolicy", UserName="alice", PolicyName="p", PolicyDocument=ALLOW_ALL)
    with pytest.raises(DeleteConflict) as err:
        iam("DeleteUser", UserName="alice")
    assert err.value.message == "Cannot delete entity, must delete policies first."
    iam("DeleteUserPolicy", UserName="alice", PolicyName="p")

    arn = iam("CreatePolicy", PolicyName="mp", PolicyDocument=ALLOW_ALL)["Policy"]["Arn"]
    iam("AttachUserPolicy", UserName="alice", PolicyArn=arn)
    with pytest.raises(DeleteConflict) as err:
        iam("DeleteUser", UserName="alice")
    assert err.value.message == "Cannot delete entity, must detach all policies first."
    iam("DetachUserPolicy", UserName="alice", PolicyArn=arn)

    iam("CreateGroup", GroupName="g")
    iam("AddUserToGroup", GroupName="g", UserName="alice")
    with pytest.raises(DeleteConflict) as err:
        iam("DeleteUser", UserName="alice")
    assert err.value.message == "Cannot delete entity, must remove users from group first."
    iam("RemoveUserFromGroup", GroupName="g", UserName="alice")

    assert count_rows(store, "iam_users") == 1
    iam("DeleteUser", UserName="alice")
    assert count_rows(store, "iam_users") == 0
    assert count_rows(store, "iam_tags") == 0


def test_user_boundary(iam: Caller) -> None:
    arn = iam("CreatePolicy", PolicyName="b", PolicyDocument=ALLOW_ALL)["Policy"]["Arn"]
    iam("CreateUser", UserName="alice", PermissionsBoundary=arn)
    got = iam("GetUser", UserName="alice")["User"]
    assert got["PermissionsBoundary"] == {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn}
    iam("DeleteUserPermissionsBoundary", UserName="alice")
    assert "PermissionsBoundary" not in iam("GetUser", UserName="alice")["User"]
    missing = f"arn:aws:iam::{ACCOUNT}:policy/nope"
    with pytest.raises(NoSuchEntity) as err:
        iam("PutUserPermissionsBoundary", UserName="alice", PermissionsBoundary=missing)
    assert err.value.message == f"Policy {missing} does not exist or is not attachable."
    iam("PutUserPermissionsBoundary", UserName="alice", PermissionsBoundary=arn)
    assert iam("GetPolicy", PolicyArn=arn)["Policy"]["PermissionsBoundaryUsageCount"] == 1


def test_create_user_with_missing_boundary_writes_nothing(iam: Caller, store: SqlStore) -> None:
    with pytest.raises(NoSuchEntity):
        iam("CreateUser", UserName="alice", PermissionsBoundary=f"arn:aws:iam::{ACCOUNT}:policy/nope")
    assert count_rows(store, "iam_users") == 0


def test_non_root_is_denied(iam: Caller, root: Principal, store: SqlStore) -> None:
    from dataclasses import replace

    from broker.errors import AccessDenied

    bob = replace(root, kind="user", arn=f"arn:aws:iam::{ACCOUNT}:user/bob", name="bob")
    with pytest.raises(AccessDenied) as err:
        iam("CreateUser", UserName="alice", principal=bob)
    assert "iam:CreateUser" in err.value.message
    assert f"arn:aws:iam::{ACCOUNT}:user/alice" in err.value.message
    assert count_rows(store, "iam_users") == 0


def test_unique_name_race_reads_as_entity_already_exists(store: SqlStore) -> None:
    """Two transactions that both passed the existence check: the loser gets EntityAlreadyExists."""
    from broker.store.sqlalchemy.repositories.iam_records import UserRecord

    with store.transaction() as tx:
        tx.iam.create_user(UserRecord("AIDAAAAAAAAAAAAAAAAA1", "alice", "/", START))
    with pytest.raises(EntityAlreadyExists) as err, store.transaction() as tx:
        tx.iam.create_user(UserRecord("AIDAAAAAAAAAAAAAAAAA2", "ALICE", "/", START))
    assert err.value.message == "User with name ALICE already exists."
    assert count_rows(store, "iam_users") == 1


def test_rename_carries_mfa_devices(iam: Caller, store: SqlStore) -> None:
    iam("CreateUser", UserName="alice")
    with store.transaction() as tx:
        from broker.store.sqlalchemy.models.security import MfaDeviceRow

        tx.session.add(
            MfaDeviceRow(
                serial_number=f"arn:aws:iam::{ACCOUNT}:mfa/alice", user_name="alice", sealed_seed=b"x", created_at=START
            )
        )
    iam("UpdateUser", UserName="alice", NewUserName="alicia")
    with store.transaction() as tx:
        owner = tx.session.execute(sa.text("SELECT user_name FROM mfa_devices")).scalar_one()
    assert owner == "alicia"
    with pytest.raises(DeleteConflict) as err:
        iam("DeleteUser", UserName="alicia")
    assert err.value.message == "Cannot delete entity, must delete MFA device first."
