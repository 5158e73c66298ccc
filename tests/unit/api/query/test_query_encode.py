"""Responses encoded by broker parse, with botocore's own Query parser, back into the result given."""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import pytest
from query_helpers import CODEC, parse_response

from broker.api.query.encode import encode_output, format_timestamp
from broker.api.query.model import lookup, operations

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DOC = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                              "Action": "sts:AssumeRole", "Condition": {"StringLike": {
                                                  "aws:PrincipalTag/x": "a+b c&d%e<f>"}}}]}
DOC_TEXT = json.dumps(DOC)
ROLE = {
    "Path": "/ci/", "RoleName": "ci-deploy", "RoleId": "AROA3XFRBF535PLBIFPI4", "CreateDate": T0,
    "Arn": "arn:aws:iam::123456789012:role/ci/ci-deploy", "AssumeRolePolicyDocument": DOC_TEXT,
    "Description": "line 1\r\nline <2> & \"3\"", "MaxSessionDuration": 3600,
    "PermissionsBoundary": {"PermissionsBoundaryType": "Policy",
                            "PermissionsBoundaryArn": "arn:aws:iam::123456789012:policy/b"},
    "Tags": [{"Key": "team", "Value": "platform"}, {"Key": "équipe", "Value": ""}],
    "RoleLastUsed": {"LastUsedDate": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "Region": "us-east-1"},
}
CREDS = {"AccessKeyId": "ASIA3XFRBF535EXAMPLE", "SecretAccessKey": "s/e+c=r", "SessionToken": "tok+/=",
         "Expiration": T0}

CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("iam", "CreateRole", {"Role": ROLE}),
    ("iam", "GetRole", {"Role": ROLE}),
    ("iam", "ListRoles", {"Roles": [ROLE, {**ROLE, "RoleName": "other"}], "IsTruncated": True, "Marker": "m1"}),
    ("iam", "ListRoles", {"Roles": [], "IsTruncated": False}),
    ("iam", "GetRolePolicy", {"RoleName": "r", "PolicyName": "p", "PolicyDocument": DOC_TEXT}),
    ("iam", "GetPolicyVersion", {"PolicyVersion": {"Document": DOC_TEXT, "VersionId": "v2",
                                                   "IsDefaultVersion": False, "CreateDate": T0}}),
    ("iam", "GetAccountAuthorizationDetails", {
        "RoleDetailList": [{"RoleName": "r", "AssumeRolePolicyDocument": DOC_TEXT,
                            "RolePolicyList": [{"PolicyName": "p", "PolicyDocument": DOC_TEXT}]}],
        "Policies": [{"PolicyName": "m", "PolicyVersionList": [{"Document": DOC_TEXT, "VersionId": "v1",
                                                                "IsDefaultVersion": True}]}],
        "IsTruncated": False}),
    ("iam", "GetAccountSummary", {"SummaryMap": {"Users": 3, "Roles": 12, "PolicyVersionsInUseQuota": 10000}}),
    ("iam", "GetCredentialReport", {"Content": b"user,arn\n\x00\xff", "ReportFormat": "text/csv",
                                    "GeneratedTime": datetime(2026, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)}),
    ("iam", "CreateAccessKey", {"AccessKey": {
        "UserName": "alice", "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Status": "Active",
        "SecretAccessKey": "wJal/r+XUtnF=", "CreateDate": T0}}),
    ("iam", "GetOpenIDConnectProvider", {"Url": "token.actions.githubusercontent.com",
                                         "ClientIDList": ["sts.amazonaws.com"], "ThumbprintList": ["a" * 40],
                                         "CreateDate": T0, "Tags": []}),
    ("sts", "AssumeRole", {"Credentials": CREDS, "PackedPolicySize": 6, "SourceIdentity": "octocat",
                           "AssumedRoleUser": {"AssumedRoleId": "AROA3XFRBF535PLBIFPI4:s1",
                                               "Arn": "arn:aws:sts::123456789012:assumed-role/r/s1"}}),
    ("sts", "AssumeRoleWithWebIdentity", {
        "Credentials": CREDS, "SubjectFromWebIdentityToken": "repo:o/r:ref:refs/heads/main",
        "Audience": "sts.amazonaws.com", "Provider": "arn:aws:iam::123456789012:oidc-provider/x",
        "AssumedRoleUser": {"AssumedRoleId": "AROA3XFRBF535PLBIFPI4:s1",
                            "Arn": "arn:aws:sts::123456789012:assumed-role/r/s1"}}),
    ("sts", "GetCallerIdentity", {"UserId": "AIDAEXAMPLE", "Account": "123456789012",
                                  "Arn": "arn:aws:iam::123456789012:user/alice"}),
    ("iam", "DeleteRole", {}),
    ("iam", "TagRole", {}),
]


@pytest.mark.parametrize(("service", "operation", "result"), CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_botocore_parses_what_we_encode(service: str, operation: str, result: dict[str, Any]) -> None:
    op = operations()[operation]
    body = CODEC.encode_response(op, result, "req-1")
    parsed = parse_response(service, operation, body)
    assert parsed.pop("ResponseMetadata")["RequestId"] == "req-1"
    want = json.loads(json.dumps(result, default=lambda v: v.isoformat() if isinstance(v, datetime) else repr(v)))
    if service == "iam":
        want = json.loads(json.dumps(want).replace(json.dumps(DOC_TEXT), json.dumps(DOC)))
    got = json.loads(json.dumps(parsed, default=lambda v: (
        v.astimezone(UTC).isoformat() if isinstance(v, datetime) else repr(v))))
    assert got == want


def test_empty_lists_parse_as_empty_lists() -> None:
    body = CODEC.encode_response(operations()["ListRoles"], {"Roles": [], "IsTruncated": False}, "r")
    assert parse_response("iam", "ListRoles", body)["Roles"] == []


def test_envelope_and_namespace() -> None:
    body = CODEC.encode_response(lookup("GetCallerIdentity", "2011-06-15"),
                                 {"UserId": "u", "Account": "123456789012", "Arn": "a"}, "rid")
    root = ET.fromstring(body)
    ns = "{https://sts.amazonaws.com/doc/2011-06-15/}"
    assert root.tag == f"{ns}GetCallerIdentityResponse"
    assert [child.tag for child in root] == [f"{ns}GetCallerIdentityResult", f"{ns}ResponseMetadata"]
    assert root.findtext(f"{ns}ResponseMetadata/{ns}RequestId") == "rid"


def test_operation_without_output_renders_only_metadata() -> None:
    body = CODEC.encode_response(operations()["DeleteRole"], None, "rid")
    assert body == (b'<DeleteRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
                    b"<ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></DeleteRoleResponse>")


def test_policy_documents_are_percent_encoded_including_plus() -> None:
    body = CODEC.encode_response(operations()["GetRolePolicy"],
                                 {"RoleName": "r", "PolicyName": "p", "PolicyDocument": '{"a":"b+c d"}'}, "rid")
    assert b"<PolicyDocument>%7B%22a%22%3A%22b%2Bc%20d%22%7D</PolicyDocument>" in body


def test_policy_document_given_as_mapping_is_serialised() -> None:
    body = CODEC.encode_response(operations()["GetRolePolicy"],
                                 {"RoleName": "r", "PolicyName": "p", "PolicyDocument": DOC}, "rid")
    assert parse_response("iam", "GetRolePolicy", body)["PolicyDocument"] == DOC


def test_only_policy_document_shapes_are_encoded() -> None:
    body = CODEC.encode_response(operations()["GetRole"], {"Role": {**ROLE, "Description": "{\"a\": 1}"}}, "rid")
    assert b"<Description>{\"a\": 1}</Description>" in body


def test_request_id_and_text_are_escaped() -> None:
    body = CODEC.encode_response(operations()["GetCallerIdentity"],
                                 {"UserId": "<u&>", "Account": "1", "Arn": "]]>"}, "<rid>")
    assert b"<UserId>&lt;u&amp;&gt;</UserId>" in body and b"<RequestId>&lt;rid&gt;</RequestId>" in body
    assert b"<Arn>]]&gt;</Arn>" in body


def test_timestamps() -> None:
    assert format_timestamp(T0) == "2026-01-01T00:00:00Z"
    assert format_timestamp(datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)) == "2026-01-01T00:00:00.123Z"
    with pytest.raises(ValueError, match="naive datetime"):
        format_timestamp(datetime(2026, 1, 1))


def test_undefined_keys_raise_when_strict() -> None:
    with pytest.raises(ValueError, match=r"CreateRoleResponse has no member\(s\) \['Secret'\]"):
        CODEC.encode_response(operations()["CreateRole"], {"Role": ROLE, "Secret": "x"}, "rid")
    with pytest.raises(ValueError, match=r"Role has no member\(s\) \['Extra'\]"):
        CODEC.encode_response(operations()["CreateRole"], {"Role": {**ROLE, "Extra": 1}}, "rid")
    with pytest.raises(ValueError, match="DeleteRole has no output shape"):
        CODEC.encode_response(operations()["DeleteRole"], {"Role": ROLE}, "rid")


def test_undefined_keys_are_dropped_and_named_in_production(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        body = encode_output(operations()["CreateRole"], {"Role": ROLE, "Secret": "hunter2"}, "rid")
    assert b"Secret" not in body and b"hunter2" not in body
    assert "Secret" in caplog.text and "hunter2" not in caplog.text


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({"Role": {**ROLE, "MaxSessionDuration": "3600"}}, r"roleMaxSessionDurationType \(integer\) cannot hold a str"),
        ({"Role": {**ROLE, "MaxSessionDuration": True}}, r"roleMaxSessionDurationType \(integer\) cannot hold a bool"),
        ({"Role": {**ROLE, "Tags": {"k": "v"}}}, "tagListType expects a list"),
        ({"Role": "r"}, "Role expects a mapping"),
        ({"Role": {**ROLE, "Description": "bell\x07"}}, "U\\+0007 cannot be represented in XML 1.0"),
    ],
)
def test_wrong_types_fail_loudly(result: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CODEC.encode_response(operations()["CreateRole"], result, "rid")


def test_none_values_are_absent() -> None:
    body = CODEC.encode_response(operations()["ListRoles"], {"Roles": [], "IsTruncated": False, "Marker": None}, "r")
    assert b"Marker" not in body
