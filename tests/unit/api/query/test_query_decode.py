"""Requests serialized by botocore's own Query serializer decode to the parameters boto3 was given."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from query_helpers import CODEC, serialize

from broker.api.query.decode import decode_input
from broker.api.query.model import lookup
from broker.errors import InvalidAction, MalformedQueryString

POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'
ROLE_ARN = "arn:aws:iam::123456789012:role/ci-deploy"

CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("iam", "CreateRole", {
        "RoleName": "ci-deploy", "Path": "/ci/", "AssumeRolePolicyDocument": POLICY, "Description": "CI role",
        "MaxSessionDuration": 43200, "PermissionsBoundary": "arn:aws:iam::123456789012:policy/boundary",
        "Tags": [{"Key": "team", "Value": "platform"}, {"Key": "équipe", "Value": "données 1"}],
    }),
    ("iam", "CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": POLICY, "Tags": []}),
    ("iam", "CreateUser", {"UserName": "alice", "Tags": [{"Key": "k", "Value": ""}]}),
    ("iam", "ListRoles", {"PathPrefix": "/ci/", "Marker": "abc", "MaxItems": 1000}),
    ("iam", "UpdateAccessKey", {"UserName": "alice", "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Status": "Inactive"}),
    ("iam", "CreatePolicyVersion", {
        "PolicyArn": "arn:aws:iam::123456789012:policy/p", "PolicyDocument": POLICY, "SetAsDefault": True}),
    ("iam", "CreatePolicyVersion", {
        "PolicyArn": "arn:aws:iam::123456789012:policy/p", "PolicyDocument": POLICY, "SetAsDefault": False}),
    ("iam", "CreateOpenIDConnectProvider", {
        "Url": "https://token.actions.githubusercontent.com", "ClientIDList": ["sts.amazonaws.com", "b"],
        "ThumbprintList": ["a" * 40], "Tags": [{"Key": "k", "Value": "v"}]}),
    ("iam", "UntagRole", {"RoleName": "r", "TagKeys": ["a", "b", "c"]}),
    ("iam", "SimulateCustomPolicy", {
        "PolicyInputList": [POLICY], "ActionNames": ["s3:GetObject", "s3:PutObject"],
        "ResourceArns": ["arn:aws:s3:::b/*"],
        "ContextEntries": [
            {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.0.0.1"], "ContextKeyType": "ip"},
            {"ContextKeyName": "aws:TagKeys", "ContextKeyValues": ["a", "b"], "ContextKeyType": "stringList"},
        ],
        "MaxItems": 5}),
    ("iam", "UploadSSHPublicKey", {"UserName": "alice", "SSHPublicKeyBody": "ssh-rsa AAAA"}),
    ("iam", "CreateVirtualMFADevice", {"VirtualMFADeviceName": "dev"}),
    ("sts", "AssumeRole", {
        "RoleArn": ROLE_ARN, "RoleSessionName": "gha-run-42", "DurationSeconds": 3600, "Policy": POLICY,
        "PolicyArns": [{"arn": "arn:aws:iam::123456789012:policy/a"}, {"arn": "arn:aws:iam::aws:policy/b"}],
        "Tags": [{"Key": "project", "Value": "x"}], "TransitiveTagKeys": ["project"], "ExternalId": "ext-1",
        "SourceIdentity": "octocat"}),
    ("sts", "AssumeRoleWithWebIdentity", {
        "RoleArn": ROLE_ARN, "RoleSessionName": "s1", "WebIdentityToken": "eyJ" + "a" * 1000,
        "ProviderId": "www.amazon.com", "DurationSeconds": 900}),
    ("sts", "AssumeRoleWithSAML", {
        "RoleArn": ROLE_ARN, "PrincipalArn": "arn:aws:iam::123456789012:saml-provider/Okta",
        "SAMLAssertion": "PHNhbWxwOlJlc3BvbnNlPg==" * 10}),
    ("sts", "GetCallerIdentity", {}),
    ("sts", "GetSessionToken", {"DurationSeconds": 129600, "SerialNumber": "arn:aws:iam::123456789012:mfa/u",
                                "TokenCode": "123456"}),
    ("sts", "GetFederationToken", {"Name": "bob", "PolicyArns": [{"arn": "arn:aws:iam::aws:policy/ReadOnly"}]}),
    ("sts", "DecodeAuthorizationMessage", {"EncodedMessage": "abc"}),
]


@pytest.mark.parametrize(("service", "operation", "params"), CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_botocore_request_round_trips(service: str, operation: str, params: dict[str, Any]) -> None:
    body = serialize(service, operation, params)
    op, decoded = CODEC.decode_request(body, "", "application/x-www-form-urlencoded; charset=utf-8")
    assert (op.service, op.name) == (service, operation)
    assert decoded == params


def test_presigned_get_with_signing_parameters_decodes_from_query_string() -> None:
    query = (
        "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260101%2Fus-east-1%2Fsts%2Faws4_request"
        "&X-Amz-Date=20260101T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=abcd"
    )
    decoded = CODEC.decode(b"", query, None)
    assert decoded.operation.name == "GetCallerIdentity"
    assert decoded.params == {}
    assert decoded.raw["X-Amz-Signature"] == "abcd"


def test_unknown_parameters_are_ignored_not_copied() -> None:
    body = serialize("iam", "GetRole", {"RoleName": "r"}) + b"&Bogus=1&RoleName2=x&Tags.member.1.Key=k"
    assert CODEC.decode_request(body, "", None)[1] == {"RoleName": "r"}


def test_absent_optional_members_are_absent() -> None:
    params = CODEC.decode_request(serialize("iam", "ListRoles", {}), "", None)[1]
    assert params == {}
    assert "MaxItems" not in params


def test_timestamps_and_blobs_decode_to_python_types() -> None:
    # No IAM/STS operation takes a timestamp or blob input today, so the scalar decoder is driven directly.
    from broker.api.query.decode import _Decoder
    from broker.api.query.model import Shape

    decoder = _Decoder()
    stamp = Shape(name="dateType", type="timestamp")
    blob = Shape(name="b", type="blob", max=3)
    assert decoder.scalar(stamp, "2026-01-01T00:00:00Z", "t", False) == datetime(2026, 1, 1, tzinfo=UTC)
    assert decoder.scalar(stamp, "2026-01-01T01:00:00.5+01:00", "t", False) == datetime(
        2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    assert decoder.scalar(stamp, "2026-01-01T00:00:00", "t", False).tzinfo is UTC
    assert decoder.scalar(blob, "AAEC", "b", False) == b"\x00\x01\x02"
    assert decoder.errors == []
    decoder.scalar(blob, "AAECAw==", "b", False)
    decoder.scalar(blob, "!!", "b", False)
    decoder.scalar(stamp, "2026-01-01", "t", False)
    assert decoder.errors == [
        "Value 'java.nio.HeapByteBuffer[pos=0 lim=4 cap=4]' at 'b' failed to satisfy constraint: "
        "Member must have length less than or equal to 3",
        "Value '!!' at 'b' failed to satisfy constraint: Member must be base64-encoded",
        "Value '2026-01-01' at 't' failed to satisfy constraint: Member must be an ISO 8601 timestamp",
    ]


@pytest.mark.parametrize("index", ["0", "01", "x", "-1", "1e3", "9999999999"])
def test_bad_list_index_is_malformed(index: str) -> None:
    op = lookup("UntagRole", "2010-05-08")
    with pytest.raises(MalformedQueryString) as err:
        decode_input(op, {"RoleName": "r", f"TagKeys.member.{index}": "a"})
    assert err.value.message == f"Invalid list index '{index}' in parameter tagKeys"


def test_list_items_are_ordered_by_index_not_arrival() -> None:
    op = lookup("UntagRole", "2010-05-08")
    params = {"RoleName": "r", "TagKeys.member.10": "j", "TagKeys.member.2": "b", "TagKeys.member.1": "a"}
    assert decode_input(op, params)["TagKeys"] == ["a", "b", "j"]


def test_unknown_action_in_a_real_request() -> None:
    body = serialize("iam", "GetRole", {"RoleName": "r"}).replace(b"Action=GetRole", b"Action=GetRoles")
    with pytest.raises(InvalidAction, match=r"^Could not find operation GetRoles for version 2010-05-08$"):
        CODEC.decode_request(body, "", None)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("PolicyArns.member.1.Arn=arn%3Aaws%3Aiam%3A%3Aaws%3Apolicy%2Fx",
         "Unknown parameter 'Arn' under 'policyArns.1.member'"),
        ("Tags.member.1.key=k", "Unknown parameter 'key' under 'tags.1.member'"),
        ("Tags.item.1.Key=k", "Unknown parameter 'item' under 'tags'"),
        ("RoleSessionName.x=1", "Unknown parameter 'x' under 'roleSessionName'"),
    ],
)
def test_unknown_keys_under_known_members_are_refused(extra: str, message: str) -> None:
    body = serialize("sts", "AssumeRole", {"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "s1"})
    with pytest.raises(MalformedQueryString) as err:
        CODEC.decode_request(body + b"&" + extra.encode(), "", None)
    assert (err.value.code, err.value.message) == ("MalformedQueryString", message)
