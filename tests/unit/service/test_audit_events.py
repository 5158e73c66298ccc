"""broker.service.audit: CloudTrail shape, identity types, recursive case-insensitive redaction, the sink."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from broker.errors import AccessDenied, InvalidIdentityToken
from broker.principal import CallContext, Principal
from broker.service.audit import HIDDEN, LoggingAuditSink, build_event, redact

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"

ROOT = Principal("root", f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, ACCOUNT, "root", f"arn:aws:iam::{ACCOUNT}:root",
                 access_key_id="AKIAROOTROOTROOTROOT")
USER = Principal("user", f"arn:aws:iam::{ACCOUNT}:user/alice", ACCOUNT, "AIDAALICEALICEALICE01", "alice",
                 f"arn:aws:iam::{ACCOUNT}:user/alice", access_key_id="AKIAALICEALICEALICE0")
SESSION = Principal(
    "assumed-role",
    f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/ci",
    ACCOUNT,
    "AROADEPLOYDEPLOYDEPLO:ci",
    "ci",
    f"arn:aws:iam::{ACCOUNT}:role/ci/Deploy",
    access_key_id="ASIASESSIONSESSION01",
    session_name="ci",
    mfa_present=True,
    token_issued_at=datetime(2026, 1, 1, 11, 0, tzinfo=UTC),
    source_identity="alice",
    temporary=True,
)


def call(principal: Principal | None) -> CallContext:
    return CallContext(request_id="5f2c1e4a-0000-4000-8000-000000000001", now=NOW, principal=principal,
                       source_ip="203.0.113.7", user_agent="aws-cli/1.32", region="eu-west-1")


def test_success_event_shape_for_root() -> None:
    event = build_event(call(ROOT), "iam", "CreateRole", {"RoleName": "r"}, {"Role": {"CreateDate": NOW}}, None)
    assert event == {
        "eventVersion": "1.08",
        "eventTime": "2026-01-01T12:00:00Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "CreateRole",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/1.32",
        "userIdentity": {
            "type": "Root",
            "principalId": ACCOUNT,
            "arn": f"arn:aws:iam::{ACCOUNT}:root",
            "accountId": ACCOUNT,
            "accessKeyId": "AKIAROOTROOTROOTROOT",
        },
        "requestParameters": {"RoleName": "r"},
        "responseElements": {"Role": {"CreateDate": "2026-01-01T12:00:00Z"}},
        "requestID": "5f2c1e4a-0000-4000-8000-000000000001",
        "eventID": event["eventID"],
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
    }
    json.dumps(event)  # JSON-ready


def test_event_id_is_stable_per_request_and_differs_between_requests() -> None:
    a = build_event(call(ROOT), "iam", "ListRoles", {}, {}, None)
    b = build_event(call(ROOT), "iam", "ListRoles", {}, {}, None)
    other = CallContext(request_id="another", now=NOW, principal=ROOT)
    c = build_event(other, "iam", "ListRoles", {}, {}, None)
    assert a["eventID"] == b["eventID"] != c["eventID"]
    assert a["readOnly"] is True
    assert a["requestParameters"] is None and a["responseElements"] is None


def test_iam_user_identity() -> None:
    identity = build_event(call(USER), "iam", "GetUser", {}, None, None)["userIdentity"]
    assert identity == {
        "type": "IAMUser",
        "principalId": "AIDAALICEALICEALICE01",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
        "accountId": ACCOUNT,
        "accessKeyId": "AKIAALICEALICEALICE0",
        "userName": "alice",
    }


def test_assumed_role_identity_and_session_id() -> None:
    event = build_event(call(SESSION), "sts", "GetCallerIdentity", {}, None, None)
    assert event["eventSource"] == "sts.amazonaws.com"
    assert event["sessionId"] == "ASIASESSIONSESSION01"
    assert event["userIdentity"] == {
        "type": "AssumedRole",
        "principalId": "AROADEPLOYDEPLOYDEPLO:ci",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/Deploy/ci",
        "accountId": ACCOUNT,
        "accessKeyId": "ASIASESSIONSESSION01",
        "sessionContext": {
            "attributes": {"mfaAuthenticated": "true", "creationDate": "2026-01-01T11:00:00Z"},
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROADEPLOYDEPLOYDEPLO",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/ci/Deploy",
                "accountId": ACCOUNT,
                "userName": "Deploy",
            },
            "sourceIdentity": "alice",
        },
    }


@pytest.mark.parametrize(
    ("action", "kind"),
    [("AssumeRoleWithWebIdentity", "WebIdentityUser"), ("AssumeRoleWithSAML", "SAMLUser"), ("GetUser", "Unknown")],
)
def test_unsigned_callers(action: str, kind: str) -> None:
    event = build_event(call(None), "sts", action, {}, None, None)
    assert event["userIdentity"] == {"type": kind}
    assert event["recipientAccountId"] is None


def test_web_identity_request_and_credentials_response_are_redacted() -> None:
    params = {"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "s", "WebIdentityToken": JWT}
    result = {
        "Credentials": {
            "AccessKeyId": "ASIAEXAMPLEEXAMPLE01",
            "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "SessionToken": "FQoGZXIvYXdzE...",
            "Expiration": NOW,
        },
        "SubjectFromWebIdentityToken": "alice",
    }
    event = build_event(call(None), "sts", "AssumeRoleWithWebIdentity", params, result, None)
    assert event["requestParameters"]["WebIdentityToken"] == HIDDEN
    assert event["requestParameters"]["RoleSessionName"] == "s"
    creds = event["responseElements"]["Credentials"]
    assert creds == {
        "AccessKeyId": "ASIAEXAMPLEEXAMPLE01",
        "SecretAccessKey": HIDDEN,
        "SessionToken": HIDDEN,
        "Expiration": "2026-01-01T12:00:00Z",
    }
    text = json.dumps(event)
    for secret in (JWT, "wJalrXUtnFEMI", "FQoGZXIvYXdzE"):
        assert secret not in text


def test_redaction_is_case_insensitive_and_recursive() -> None:
    data = {
        "outer": [{"password": "p1"}, {"Nested": {"AUTHENTICATIONCODE1": "123456", "authenticationCode2": "654321"}}],
        "TokenCode": "111111",
        "Base32StringSeed": b"seed",
        "QRCodePNG": b"png",
        "samlassertion": "PHNhbWxwOlJlc3BvbnNl",
        "AddPrivateKey": "-----BEGIN PRIVATE KEY-----",
        "kept": "visible",
        "Password": None,
    }
    assert redact(data) == {
        "outer": [{"password": HIDDEN}, {"Nested": {"AUTHENTICATIONCODE1": HIDDEN, "authenticationCode2": HIDDEN}}],
        "TokenCode": HIDDEN,
        "Base32StringSeed": HIDDEN,
        "QRCodePNG": HIDDEN,
        "samlassertion": HIDDEN,
        "AddPrivateKey": HIDDEN,
        "kept": "visible",
        "Password": None,
    }


def test_jwt_anywhere_is_hidden_and_huge_strings_summarised() -> None:
    assert redact({"Description": f"token {JWT} here"}) == {"Description": HIDDEN}
    big = redact({"SAMLMetadataDocument": "x" * 20000})["SAMLMetadataDocument"]
    assert big.startswith("<20000 characters, sha256 ") and len(big) < 120


def test_error_event_carries_code_message_and_detail() -> None:
    error = AccessDenied("User: x is not authorized", detail="no statement matched iam:CreateRole")
    event = build_event(call(USER), "iam", "CreateRole", {"RoleName": "r"}, None, error)
    assert event["errorCode"] == "AccessDenied"
    assert event["errorMessage"] == "User: x is not authorized"
    assert event["additionalEventData"] == {"errorDetail": "no statement matched iam:CreateRole"}
    assert event["responseElements"] is None
    plain = build_event(call(USER), "iam", "CreateRole", {}, None, InvalidIdentityToken("bad token"))
    assert "additionalEventData" not in plain


def test_error_detail_never_leaks_a_token() -> None:
    error = InvalidIdentityToken("Invalid token", detail=f"signature check failed for {JWT}")
    event = build_event(call(None), "sts", "AssumeRoleWithWebIdentity", {}, None, error)
    assert JWT not in json.dumps(event)


def test_logging_sink_writes_one_json_line(caplog: pytest.LogCaptureFixture) -> None:
    event = build_event(call(ROOT), "iam", "CreateUser", {"UserName": "bob", "Password": "hunter2"}, None, None)
    with caplog.at_level(logging.INFO, logger="broker.audit"):
        LoggingAuditSink()(event)
    (record,) = caplog.records
    assert record.name == "broker.audit"
    assert "\n" not in record.getMessage()
    logged = json.loads(record.getMessage())
    assert logged["eventName"] == "CreateUser"
    assert logged["requestParameters"] == {"UserName": "bob", "Password": HIDDEN}
    assert "hunter2" not in record.getMessage()
