"""Access keys on both engines: quota, caller defaults (root included), sealed secrets, last use."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa

from broker.credentials.envelope import Envelope
from broker.errors import LimitExceeded, NoSuchEntity
from broker.principal import Principal
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import ACCOUNT, START, Caller, count_rows


def test_create_list_update_delete(iam: Caller, store: SqlStore, envelope: Envelope) -> None:
    iam("CreateUser", UserName="alice")
    key = iam("CreateAccessKey", UserName="alice")["AccessKey"]
    akid, secret = key["AccessKeyId"], key["SecretAccessKey"]
    assert akid.startswith("AKIA") and len(akid) == 20
    assert len(secret) == 40
    assert (key["UserName"], key["Status"], key["CreateDate"]) == ("alice", "Active", START)

    listed = iam("ListAccessKeys", UserName="alice")["AccessKeyMetadata"]
    assert listed == [{"UserName": "alice", "AccessKeyId": akid, "Status": "Active", "CreateDate": START}]
    assert "SecretAccessKey" not in str(listed)

    iam("UpdateAccessKey", UserName="alice", AccessKeyId=akid, Status="Inactive")
    assert iam("ListAccessKeys", UserName="alice")["AccessKeyMetadata"][0]["Status"] == "Inactive"

    with store.transaction() as tx:
        rec = tx.iam.find_access_key(akid)
        raw = tx.session.execute(sa.text("SELECT sealed_secret FROM iam_access_keys")).scalar_one()
    assert rec is not None and rec.owner == "user" and rec.user_name == "alice" and rec.status == "Inactive"
    assert secret not in repr(rec)
    assert secret.encode() not in bytes(raw)
    assert envelope.open(bytes(raw), aad=f"access-key:{akid}".encode()).decode() == secret

    iam("DeleteAccessKey", UserName="alice", AccessKeyId=akid)
    assert count_rows(store, "iam_access_keys") == 0
    with pytest.raises(NoSuchEntity) as err:
        iam("DeleteAccessKey", UserName="alice", AccessKeyId=akid)
    assert err.value.message == f"The Access Key with id {akid} cannot be found."


def test_two_keys_per_user(iam: Caller, store: SqlStore) -> None:
    iam("CreateUser", UserName="alice")
    iam("CreateAccessKey", UserName="alice")
    iam("CreateAccessKey", UserName="alice")
    with pytest.raises(LimitExceeded) as err:
        iam("CreateAccessKey", UserName="alice")
    assert err.value.message == "Cannot exceed quota for AccessKeysPerUser: 2"
    assert count_rows(store, "iam_access_keys") == 2


def test_key_of_another_user_is_not_found(iam: Caller) -> None:
    iam("CreateUser", UserName="alice")
    iam("CreateUser", UserName="bob")
    akid = iam("CreateAccessKey", UserName="alice")["AccessKey"]["AccessKeyId"]
    with pytest.raises(NoSuchEntity):
        iam("UpdateAccessKey", UserName="bob", AccessKeyId=akid, Status="Inactive")
    with pytest.raises(NoSuchEntity):
        iam("UpdateAccessKey", AccessKeyId=akid, Status="Inactive")  # root's keys, not alice's


def test_root_keys_without_user_name(iam: Caller, store: SqlStore, envelope: Envelope) -> None:
    with store.transaction() as tx:
        tx.iam.seed_root_access_key(
            "AKIAROOTROOTROOTROOT", envelope.seal(b"s" * 40, b"access-key:AKIAROOTROOTROOTROOT"), START
        )
        tx.iam.seed_root_access_key("AKIAROOTROOTROOTROOT", b"ignored", START)  # idempotent
    created = iam("CreateAccessKey")["AccessKey"]
    assert "UserName" not in created
    keys = iam("ListAccessKeys")["AccessKeyMetadata"]
    assert {k["AccessKeyId"] for k in keys} == {"AKIAROOTROOTROOTROOT", created["AccessKeyId"]}
    with pytest.raises(LimitExceeded):
        iam("CreateAccessKey")
    iam("UpdateAccessKey", AccessKeyId=created["AccessKeyId"], Status="Inactive")
    with store.transaction() as tx:
        rec = tx.iam.find_access_key("AKIAROOTROOTROOTROOT")
    assert rec is not None and rec.owner == "root" and rec.user_id is None
    assert iam("GetAccountSummary")["SummaryMap"]["AccountAccessKeysPresent"] == 1


def test_user_defaults_to_caller(iam: Caller, root: Principal) -> None:
    iam("CreateUser", UserName="alice")
    alice = replace(root, kind="user", name="alice", arn=f"arn:aws:iam::{ACCOUNT}:user/alice")
    # The foundation authorizer admits only root, so a user calling for itself is denied (policy engine later).
    from broker.errors import AccessDenied

    with pytest.raises(AccessDenied) as err:
        iam("ListAccessKeys", principal=alice)
    assert f"on resource: arn:aws:iam::{ACCOUNT}:user/alice" in err.value.message


def test_last_used(iam: Caller, store: SqlStore) -> None:
    iam("CreateUser", UserName="alice")
    akid = iam("CreateAccessKey", UserName="alice")["AccessKey"]["AccessKeyId"]
    fresh = iam("GetAccessKeyLastUsed", AccessKeyId=akid)
    assert fresh == {"UserName": "alice", "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"}}
    when = START + timedelta(hours=1)
    with store.transaction() as tx:
        tx.iam.record_access_key_use(akid, when, "eu-west-1", "iam")
    used = iam("GetAccessKeyLastUsed", AccessKeyId=akid)["AccessKeyLastUsed"]
    assert used == {"ServiceName": "iam", "Region": "eu-west-1", "LastUsedDate": when}
    with pytest.raises(NoSuchEntity):
        iam("GetAccessKeyLastUsed", AccessKeyId="AKIAAAAAAAAAAAAAAAAA")
