"""The policy engine through the running server: self-authorization and the simulator API via boto3."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import ACCOUNT, Server

pytestmark = pytest.mark.e2e


def _doc(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_user_allowed_list_roles_but_not_create_role(server: Server) -> None:
    iam = server.client()
    iam.create_user(UserName="reader")
    iam.put_user_policy(
        UserName="reader",
        PolicyName="list-roles",
        PolicyDocument=_doc({"Sid": "List", "Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}),
    )
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    reader = server.client(key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    assert isinstance(reader.list_roles()["Roles"], list)
    with pytest.raises(ClientError) as exc:
        reader.create_role(
            RoleName="nope",
            AssumeRolePolicyDocument=_doc(
                {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}
            ),
        )
    err = exc.value.response["Error"]
    assert err["Code"] == "AccessDenied"
    assert err["Message"] == (
        f"User: arn:aws:iam::{ACCOUNT}:user/reader is not authorized to perform: iam:CreateRole on resource: "
        f"arn:aws:iam::{ACCOUNT}:role/nope because no identity-based policy allows the iam:CreateRole action"
    )
    assert "nope" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]

    # An explicit deny through a group wins over the user's own allow.
    iam.create_group(GroupName="no-list")
    iam.put_group_policy(
        GroupName="no-list",
        PolicyName="deny",
        PolicyDocument=_doc({"Effect": "Deny", "Action": "iam:List*", "Resource": "*"}),
    )
    iam.add_user_to_group(GroupName="no-list", UserName="reader")
    with pytest.raises(ClientError) as exc:
        reader.list_roles()
    assert exc.value.response["Error"]["Message"].endswith("with an explicit deny in an identity-based policy")
    iam.remove_user_from_group(GroupName="no-list", UserName="reader")
    assert isinstance(reader.list_roles()["Roles"], list)

    # A permissions boundary intersects.
    boundary = iam.create_policy(
        PolicyName="only-users", PolicyDocument=_doc({"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"})
    )["Policy"]["Arn"]
    iam.put_user_permissions_boundary(UserName="reader", PermissionsBoundary=boundary)
    with pytest.raises(ClientError) as exc:
        reader.list_roles()
    assert exc.value.response["Error"]["Message"].endswith(
        "because no permissions boundary allows the iam:ListRoles action"
    )
    iam.delete_user_permissions_boundary(UserName="reader")
    iam.delete_policy(PolicyArn=boundary)
    iam.delete_group_policy(GroupName="no-list", PolicyName="deny")
    iam.delete_group(GroupName="no-list")


def test_simulate_custom_policy(server: Server) -> None:
    iam = server.client()
    allow = _doc(
        {"Sid": "Read", "Effect": "Allow", "Action": "s3:Get*", "Resource": "arn:aws:s3:::data/*"},
        {
            "Sid": "TeamWrite",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}},
        },
    )
    deny = _doc({"Sid": "NoSecrets", "Effect": "Deny", "Action": "s3:*", "Resource": "arn:aws:s3:::data/secret*"})
    out = iam.simulate_custom_policy(
        PolicyInputList=[allow, deny],
        ActionNames=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        ResourceArns=["arn:aws:s3:::data/a.txt", "arn:aws:s3:::data/secret.txt"],
    )["EvaluationResults"]
    got = {(r["EvalActionName"], r["EvalResourceName"]): r for r in out}
    assert got[("s3:GetObject", "arn:aws:s3:::data/a.txt")]["EvalDecision"] == "allowed"
    assert got[("s3:GetObject", "arn:aws:s3:::data/secret.txt")]["EvalDecision"] == "explicitDeny"
    assert got[("s3:PutObject", "arn:aws:s3:::data/a.txt")]["EvalDecision"] == "implicitDeny"
    assert got[("s3:PutObject", "arn:aws:s3:::data/a.txt")]["MissingContextValues"] == ["aws:PrincipalTag/team"]
    assert got[("s3:DeleteObject", "arn:aws:s3:::data/a.txt")]["EvalDecision"] == "implicitDeny"
    matched = got[("s3:GetObject", "arn:aws:s3:::data/a.txt")]["MatchedStatements"]
    assert matched[0]["SourcePolicyId"] == "PolicyInputList.1"
    assert matched[0]["StartPosition"]["Line"] == 1 and matched[0]["StartPosition"]["Column"] > 1

    with_tag = iam.simulate_custom_policy(
        PolicyInputList=[allow],
        ActionNames=["s3:PutObject"],
        ContextEntries=[
            {"ContextKeyName": "aws:PrincipalTag/team", "ContextKeyValues": ["blue"], "ContextKeyType": "string"}
        ],
    )["EvaluationResults"]
    assert with_tag[0]["EvalDecision"] == "allowed"

    with pytest.raises(ClientError) as exc:
        iam.simulate_custom_policy(PolicyInputList=["{not json"], ActionNames=["s3:GetObject"])
    assert exc.value.response["Error"]["Code"] == "MalformedPolicyDocument"

    keys = iam.get_context_keys_for_custom_policy(PolicyInputList=[allow])["ContextKeyNames"]
    assert keys == ["aws:PrincipalTag/team"]


def test_simulate_principal_policy_with_boundary(server: Server) -> None:
    iam = server.client()
    iam.create_user(UserName="sim")
    iam.put_user_policy(
        UserName="sim", PolicyName="all-s3", PolicyDocument=_doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    )
    boundary = iam.create_policy(
        PolicyName="sim-boundary", PolicyDocument=_doc({"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"})
    )["Policy"]["Arn"]
    iam.put_user_permissions_boundary(UserName="sim", PermissionsBoundary=boundary)
    arn = f"arn:aws:iam::{ACCOUNT}:user/sim"
    results = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:GetObject", "s3:PutObject"])[
        "EvaluationResults"
    ]
    by_action = {r["EvalActionName"]: r for r in results}
    assert by_action["s3:GetObject"]["EvalDecision"] == "allowed"
    assert by_action["s3:GetObject"]["PermissionsBoundaryDecisionDetail"]["AllowedByPermissionsBoundary"] is True
    assert by_action["s3:PutObject"]["EvalDecision"] == "implicitDeny"
    assert by_action["s3:PutObject"]["PermissionsBoundaryDecisionDetail"]["AllowedByPermissionsBoundary"] is False
    sources = {m["SourcePolicyId"]: m["SourcePolicyType"] for m in by_action["s3:GetObject"]["MatchedStatements"]}
    assert sources["all-s3"] == "user"

    paged = iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:GetObject", "s3:PutObject"], MaxItems=1)
    assert paged["IsTruncated"] and len(paged["EvaluationResults"]) == 1
    rest = iam.simulate_principal_policy(
        PolicySourceArn=arn, ActionNames=["s3:GetObject", "s3:PutObject"], Marker=paged["Marker"]
    )
    assert [r["EvalActionName"] for r in rest["EvaluationResults"]] == ["s3:PutObject"]

    with pytest.raises(ClientError) as exc:
        iam.simulate_principal_policy(
            PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/ghost", ActionNames=["s3:GetObject"]
        )
    assert exc.value.response["Error"]["Code"] == "NoSuchEntity"
    iam.delete_user_permissions_boundary(UserName="sim")
    iam.delete_user_policy(UserName="sim", PolicyName="all-s3")
    iam.delete_user(UserName="sim")
    iam.delete_policy(PolicyArn=boundary)
