"""Managed policies, versions, attachments and inline policies on both engines."""

from __future__ import annotations

import pytest

from broker.errors import DeleteConflict, EntityAlreadyExists, LimitExceeded, MalformedPolicyDocument, NoSuchEntity
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import ACCOUNT, Caller, count_rows
from tests.contract.iam_docs import ALLOW_ALL, S3_READ, TRUST, padded


def _policy(iam: Caller, name: str = "p", doc: str = ALLOW_ALL, **kw: object) -> str:
    return str(iam("CreatePolicy", PolicyName=name, PolicyDocument=doc, **kw)["Policy"]["Arn"])


def test_create_get_policy(iam: Caller) -> None:
    pol = iam(
        "CreatePolicy",
        PolicyName="Read",
        Path="/team/",
        PolicyDocument=S3_READ,
        Description="r",
        Tags=[{"Key": "a", "Value": "b"}],
    )["Policy"]
    assert pol["Arn"] == f"arn:aws:iam::{ACCOUNT}:policy/team/Read"
    assert pol["PolicyId"].startswith("ANPA")
    assert (pol["DefaultVersionId"], pol["AttachmentCount"], pol["IsAttachable"]) == ("v1", 0, True)
    assert pol["Description"] == "r"
    assert pol["Tags"] == [{"Key": "a", "Value": "b"}]
    assert iam("GetPolicy", PolicyArn=pol["Arn"])["Policy"] == pol
    v1 = iam("GetPolicyVersion", PolicyArn=pol["Arn"], VersionId="v1")["PolicyVersion"]
    assert (v1["Document"], v1["IsDefaultVersion"]) == (S3_READ, True)


def test_policy_errors(iam: Caller, store: SqlStore) -> None:
    _policy(iam, "P")
    with pytest.raises(EntityAlreadyExists) as err:
        _policy(iam, "p", Path="/other/")
    assert err.value.message == "A policy called p already exists. Duplicate names are not allowed."
    missing = f"arn:aws:iam::{ACCOUNT}:policy/nope"
    with pytest.raises(NoSuchEntity) as nse:
        iam("GetPolicy", PolicyArn=missing)
    assert nse.value.message == f"Policy {missing} does not exist or is not attachable."
    with pytest.raises(MalformedPolicyDocument):
        _policy(iam, "bad", "not json")
    with pytest.raises(LimitExceeded) as big:
        _policy(iam, "big", padded(6145))
    assert big.value.message == "Cannot exceed quota for PolicySize: 6144"
    _policy(iam, "exact", padded(6144))
    assert count_rows(store, "iam_managed_policies") == 2


def test_versions_lifecycle(iam: Caller, store: SqlStore) -> None:
    arn = _policy(iam)
    for _ in range(4):
        iam("CreatePolicyVersion", PolicyArn=arn, PolicyDocument=S3_READ)
    with pytest.raises(LimitExceeded) as err:
        iam("CreatePolicyVersion", PolicyArn=arn, PolicyDocument=S3_READ)
    assert err.value.message == (
        "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing "
        "version."
    )
    assert count_rows(store, "iam_policy_versions") == 5
    listed = iam("ListPolicyVersions", PolicyArn=arn)["Versions"]
    assert [v["VersionId"] for v in listed] == ["v5", "v4", "v3", "v2", "v1"]
    assert [v["IsDefaultVersion"] for v in listed] == [False, False, False, False, True]
    with pytest.raises(DeleteConflict) as dc:
        iam("DeletePolicyVersion", PolicyArn=arn, VersionId="v1")
    assert dc.value.message == "Cannot delete the default version of a policy."
    iam("SetDefaultPolicyVersion", PolicyArn=arn, VersionId="v3")
    assert iam("GetPolicy", PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v3"
    iam("DeletePolicyVersion", PolicyArn=arn, VersionId="v1")
    new = iam("CreatePolicyVersion", PolicyArn=arn, PolicyDocument=ALLOW_ALL, SetAsDefault=True)["PolicyVersion"]
    assert (new["VersionId"], new["IsDefaultVersion"]) == ("v6", True)  # ids are never reused
    with pytest.raises(NoSuchEntity) as nv:
        iam("GetPolicyVersion", PolicyArn=arn, VersionId="v1")
    assert nv.value.message == f"Policy {arn} version v1 does not exist or is not attachable."
    with pytest.raises(DeleteConflict) as multi:
        iam("DeletePolicy", PolicyArn=arn)
    assert multi.value.message.startswith("This policy has more than one version.")
    for v in ["v2", "v3", "v4", "v5"]:
        iam("DeletePolicyVersion", PolicyArn=arn, VersionId=v)
    iam("DeletePolicy", PolicyArn=arn)
    assert count_rows(store, "iam_managed_policies") == 0
    assert count_rows(store, "iam_policy_versions") == 0


def test_list_policy_versions_pagination(iam: Caller) -> None:
    arn = _policy(iam)
    for _ in range(3):
        iam("CreatePolicyVersion", PolicyArn=arn, PolicyDocument=S3_READ)
    first = iam("ListPolicyVersions", PolicyArn=arn, MaxItems=3)
    rest = iam("ListPolicyVersions", PolicyArn=arn, Marker=first["Marker"])
    assert [v["VersionId"] for v in first["Versions"] + rest["Versions"]] == ["v4", "v3", "v2", "v1"]


def test_attachments(iam: Caller, store: SqlStore) -> None:
    iam("CreateUser", UserName="u")
    iam("CreateGroup", GroupName="g")
    iam("CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST)
    arn = _policy(iam)
    iam("AttachUserPolicy", UserName="u", PolicyArn=arn)
    iam("AttachUserPolicy", UserName="u", PolicyArn=arn)  # idempotent
    iam("AttachGroupPolicy", GroupName="g", PolicyArn=arn)
    iam("AttachRolePolicy", RoleName="r", PolicyArn=arn)
    assert iam("ListAttachedRolePolicies", RoleName="r")["AttachedPolicies"] == [{"PolicyName": "p", "PolicyArn": arn}]
    assert iam("GetPolicy", PolicyArn=arn)["Policy"]["AttachmentCount"] == 3
    ents = iam("ListEntitiesForPolicy", PolicyArn=arn)
    assert [u["UserName"] for u in ents["PolicyUsers"]] == ["u"]
    assert [g["GroupName"] for g in ents["PolicyGroups"]] == ["g"]
    assert [r["RoleName"] for r in ents["PolicyRoles"]] == ["r"]
    only_roles = iam("ListEntitiesForPolicy", PolicyArn=arn, EntityFilter="Role")
    assert (only_roles["PolicyUsers"], len(only_roles["PolicyRoles"])) == ([], 1)
    with pytest.raises(DeleteConflict) as err:
        iam("DeletePolicy", PolicyArn=arn)
    assert err.value.message == "Cannot delete a policy attached to entities."
    assert [p["PolicyName"] for p in iam("ListPolicies", OnlyAttached=True)["Policies"]] == ["p"]
    iam("DetachGroupPolicy", GroupName="g", PolicyArn=arn)
    with pytest.raises(NoSuchEntity) as nse:
        iam("DetachGroupPolicy", GroupName="g", PolicyArn=arn)
    assert nse.value.message == f"Policy {arn} was not found."
    missing = f"arn:aws:iam::{ACCOUNT}:policy/none"
    with pytest.raises(NoSuchEntity):
        iam("AttachRolePolicy", RoleName="r", PolicyArn=missing)
    assert count_rows(store, "iam_attachments") == 2


def test_attachment_quota(iam: Caller, store: SqlStore) -> None:
    iam("CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST)
    arns = [_policy(iam, f"p{i}") for i in range(11)]
    for arn in arns[:10]:
        iam("AttachRolePolicy", RoleName="r", PolicyArn=arn)
    with pytest.raises(LimitExceeded) as err:
        iam("AttachRolePolicy", RoleName="r", PolicyArn=arns[10])
    assert err.value.message == "Cannot exceed quota for PoliciesPerRole: 10"
    assert count_rows(store, "iam_attachments") == 10
    page = iam("ListAttachedRolePolicies", RoleName="r", MaxItems=4)
    assert page["IsTruncated"] is True and len(page["AttachedPolicies"]) == 4


def test_list_policies_filters(iam: Caller) -> None:
    _policy(iam, "b", Path="/x/")
    _policy(iam, "a")
    assert [p["PolicyName"] for p in iam("ListPolicies")["Policies"]] == ["a", "b"]
    assert [p["PolicyName"] for p in iam("ListPolicies", PathPrefix="/x/")["Policies"]] == ["b"]
    assert iam("ListPolicies", Scope="AWS")["Policies"] == []
    assert [p["PolicyName"] for p in iam("ListPolicies", Scope="Local")["Policies"]] == ["a", "b"]
    assert iam("ListPolicies", OnlyAttached=True)["Policies"] == []


def test_inline_policies(iam: Caller, store: SqlStore) -> None:
    iam("CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST)
    iam("PutRolePolicy", RoleName="r", PolicyName="b", PolicyDocument=S3_READ)
    iam("PutRolePolicy", RoleName="r", PolicyName="a", PolicyDocument=S3_READ)
    iam("PutRolePolicy", RoleName="r", PolicyName="a", PolicyDocument=ALLOW_ALL)  # replaces
    got = iam("GetRolePolicy", RoleName="R", PolicyName="a")
    assert got == {"RoleName": "r", "PolicyName": "a", "PolicyDocument": ALLOW_ALL}
    assert iam("ListRolePolicies", RoleName="r")["PolicyNames"] == ["a", "b"]
    with pytest.raises(NoSuchEntity) as err:
        iam("GetRolePolicy", RoleName="r", PolicyName="zz")
    assert err.value.message == "The role policy with name zz cannot be found."
    iam("DeleteRolePolicy", RoleName="r", PolicyName="b")
    with pytest.raises(NoSuchEntity):
        iam("DeleteRolePolicy", RoleName="r", PolicyName="b")
    with pytest.raises(MalformedPolicyDocument):
        iam("PutRolePolicy", RoleName="r", PolicyName="c", PolicyDocument="{")
    assert count_rows(store, "iam_inline_policies") == 1


def test_inline_aggregate_size_per_user(iam: Caller, store: SqlStore) -> None:
    iam("CreateUser", UserName="u")
    iam("PutUserPolicy", UserName="u", PolicyName="one", PolicyDocument=padded(1024))
    iam("PutUserPolicy", UserName="u", PolicyName="two", PolicyDocument=padded(1024))  # exactly 2048 in total
    with pytest.raises(LimitExceeded) as err:
        iam("PutUserPolicy", UserName="u", PolicyName="three", PolicyDocument=padded(200))
    assert err.value.message == "Maximum policy size of 2048 bytes exceeded for user u"
    iam("PutUserPolicy", UserName="u", PolicyName="two", PolicyDocument=padded(1000))  # replacing counts once
    assert count_rows(store, "iam_inline_policies") == 2
    iam("CreateGroup", GroupName="g")
    iam("PutGroupPolicy", GroupName="g", PolicyName="big", PolicyDocument=padded(5120))
    with pytest.raises(LimitExceeded) as gerr:
        iam("PutGroupPolicy", GroupName="g", PolicyName="more", PolicyDocument=padded(120))
    assert gerr.value.message == "Maximum policy size of 5120 bytes exceeded for group g"
    assert iam("GetGroupPolicy", GroupName="g", PolicyName="big")["GroupName"] == "g"
    assert iam("ListGroupPolicies", GroupName="g")["PolicyNames"] == ["big"]


def test_policy_tags(iam: Caller) -> None:
    arn = _policy(iam)
    iam("TagPolicy", PolicyArn=arn, Tags=[{"Key": "k", "Value": "v"}])
    assert iam("ListPolicyTags", PolicyArn=arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    iam("UntagPolicy", PolicyArn=arn, TagKeys=["k"])
    assert iam("ListPolicyTags", PolicyArn=arn)["Tags"] == []


def test_policy_engine_validation_is_wired(iam: Caller, store: SqlStore) -> None:
    with_principal = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}'
    )
    with pytest.raises(MalformedPolicyDocument) as err:
        _policy(iam, "p", with_principal)
    assert err.value.message == "Has prohibited field Principal"
    assert "/Statement/0/Principal" in (err.value.detail or "")
    no_principal = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}'
    with pytest.raises(MalformedPolicyDocument) as terr:
        iam("CreateRole", RoleName="r", AssumeRolePolicyDocument=no_principal)
    assert terr.value.message == "Missing required field Principal"
    assert count_rows(store, "iam_managed_policies") == 0
    assert count_rows(store, "iam_roles") == 0


def test_single_inline_policy_over_quota(iam: Caller) -> None:
    iam("CreateUser", UserName="u")
    with pytest.raises(LimitExceeded) as err:
        iam("PutUserPolicy", UserName="u", PolicyName="big", PolicyDocument=padded(2049))
    assert err.value.message == "Maximum policy size of 2048 bytes exceeded for user u"
