"""Lint findings (IAM Access Analyzer policy checks as the model) and context keys (GetContextKeysFor*Policy)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from policy_helpers import allow, deny, doc

from broker.policy import Finding, PolicyDocumentError, context_keys, lint

GITHUB = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"


def codes(document: str, kind: Any = "identity") -> list[tuple[str, str, str]]:
    return [(f.severity, f.code, f.pointer) for f in lint(document, kind)]


def web_trust(condition: dict[str, Any] | None) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Federated": GITHUB},
        "Action": "sts:AssumeRoleWithWebIdentity",
    }
    if condition is not None:
        statement["Condition"] = condition
    return doc(statement)


LINT_CASES: list[tuple[str, str, Any, list[tuple[str, str, str]]]] = [
    ("clean", doc(allow("s3:GetObject", "arn:aws:s3:::b/*")), "identity", []),
    ("full access", doc(allow()), "identity", [("security", "FULL_ACCESS", "/Statement/0")]),
    (
        "full access with condition is fine",
        doc(allow(Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})),
        "identity",
        [],
    ),
    (
        "allow with NotAction",
        doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
        "identity",
        [("security", "ALLOW_WITH_NOT_ACTION", "/Statement/0/NotAction")],
    ),
    ("deny with NotAction is fine", doc({"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"}), "identity", []),
    (
        "allow with NotResource",
        doc({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::x"}),
        "identity",
        [("security", "ALLOW_WITH_NOT_RESOURCE", "/Statement/0/NotResource")],
    ),
    (
        "pass role on star",
        doc(allow(["iam:PassRole"], "*")),
        "identity",
        [("security", "PASS_ROLE_WITH_STAR", "/Statement/0/Resource")],
    ),
    (
        "forallvalues allow without null guard",
        doc(allow("s3:*", "arn:aws:s3:::b", Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}})),
        "identity",
        [("security", "FORALLVALUES_WITH_ALLOW", "/Statement/0/Condition/ForAllValues:StringEquals/aws:TagKeys")],
    ),
    (
        "forallvalues with null guard",
        doc(
            allow(
                "s3:*",
                "arn:aws:s3:::b",
                Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}, "Null": {"aws:TagKeys": "false"}},
            )
        ),
        "identity",
        [],
    ),
    (
        "forallvalues in deny is fine",
        doc(deny("s3:*", "arn:aws:s3:::b", Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}})),
        "identity",
        [],
    ),
    (
        "set operator on single-valued key",
        doc(deny("s3:*", "arn:aws:s3:::b", Condition={"ForAnyValue:StringEquals": {"aws:username": "a"}})),
        "identity",
        [
            (
                "warning",
                "SET_OPERATOR_ON_SINGLE_VALUED_KEY",
                "/Statement/0/Condition/ForAnyValue:StringEquals/aws:username",
            )
        ],
    ),
    (
        "unknown global key",
        doc(allow("s3:*", "arn:aws:s3:::b", Condition={"StringEquals": {"aws:UserName2": "a"}})),
        "identity",
        [("warning", "UNKNOWN_GLOBAL_CONDITION_KEY", "/Statement/0/Condition/StringEquals/aws:UserName2")],
    ),
    (
        "tag keys are known",
        doc(allow("s3:*", "arn:aws:s3:::b", Condition={"StringEquals": {"aws:PrincipalTag/x": "a"}})),
        "identity",
        [],
    ),
    (
        "string like star",
        doc(allow("s3:*", "arn:aws:s3:::b", Condition={"StringLike": {"s3:prefix": "*"}})),
        "identity",
        [("security", "BROAD_STRING_LIKE", "/Statement/0/Condition/StringLike/s3:prefix")],
    ),
    (
        "missing version",
        doc(allow("s3:*", "arn:aws:s3:::b"), version=None),
        "identity",
        [("warning", "MISSING_VERSION", "")],
    ),
    (
        "old version",
        doc(allow("s3:*", "arn:aws:s3:::b"), version="2008-10-17"),
        "identity",
        [("suggestion", "MISSING_VERSION", "/Version")],
    ),
    (
        "wildcard principal",
        doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}),
        "resource",
        [("security", "WILDCARD_PRINCIPAL", "/Statement/0/Principal")],
    ),
    (
        "aws star principal with condition",
        doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1"}},
            }
        ),
        "resource",
        [("warning", "WILDCARD_PRINCIPAL", "/Statement/0/Principal")],
    ),
    (
        "federated trust without conditions",
        web_trust(None),
        "trust",
        [
            ("security", "FEDERATED_TRUST_WITHOUT_AUD", "/Statement/0/Principal"),
            ("security", "FEDERATED_TRUST_WITHOUT_SUB", "/Statement/0/Principal"),
        ],
    ),
    (
        "federated trust with aud and exact sub",
        web_trust(
            {
                "StringEquals": {
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                    "token.actions.githubusercontent.com:sub": "repo:org/app:ref:refs/heads/main",
                }
            }
        ),
        "trust",
        [],
    ),
    (
        "federated trust with wildcard sub",
        web_trust(
            {
                "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
                "StringLike": {"token.actions.githubusercontent.com:sub": "repo:org/*"},
            }
        ),
        "trust",
        [
            (
                "security",
                "BROAD_STRING_LIKE",
                "/Statement/0/Condition/StringLike/token.actions.githubusercontent.com:sub",
            )
        ],
    ),
    (
        "saml trust without SAML:aud",
        doc(
            {
                "Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::123456789012:saml-provider/Okta"},
                "Action": "sts:AssumeRoleWithSAML",
            }
        ),
        "trust",
        [("security", "FEDERATED_TRUST_WITHOUT_AUD", "/Statement/0/Principal")],
    ),
    (
        "saml trust with SAML:aud",
        doc(
            {
                "Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::123456789012:saml-provider/Okta"},
                "Action": "sts:AssumeRoleWithSAML",
                "Condition": {"StringEquals": {"SAML:aud": "https://signin.aws.amazon.com/saml"}},
            }
        ),
        "trust",
        [],
    ),
    ("invalid document", "{", "identity", [("error", "VALIDATION", "")]),
]


@pytest.mark.parametrize(("name", "document", "kind", "expected"), LINT_CASES, ids=[c[0] for c in LINT_CASES])
def test_lint_findings(name: str, document: str, kind: Any, expected: list[tuple[str, str, str]]) -> None:
    assert codes(document, kind) == expected


def test_lint_messages_and_order() -> None:
    document = doc(allow(), allow("s3:*", "arn:aws:s3:::b", Condition={"StringEquals": {"aws:Foo": "x"}}), version=None)
    findings = lint(document, "identity")
    assert findings == [
        Finding("security", "FULL_ACCESS", "/Statement/0", "The statement allows every action on every resource."),
        Finding(
            "warning",
            "MISSING_VERSION",
            "",
            'Use "Version": "2012-10-17": under 2008-10-17 policy variables are not substituted.',
        ),
        Finding(
            "warning",
            "UNKNOWN_GLOBAL_CONDITION_KEY",
            "/Statement/1/Condition/StringEquals/aws:Foo",
            "aws:Foo is not an AWS global condition key; the request will never carry it.",
        ),
    ]


def test_lint_reports_validation_problems_as_errors_and_still_lints() -> None:
    document = doc(allow(Sid="a b"))
    assert codes(document) == [("error", "VALIDATION", "/Statement/0/Sid"), ("security", "FULL_ACCESS", "/Statement/0")]


KEYS_CASES: list[tuple[str, str, list[str]]] = [
    ("none", doc(allow()), []),
    (
        "condition keys in order",
        doc(
            allow(
                Condition={
                    "StringEquals": {"aws:username": "a", "s3:prefix": "p"},
                    "IpAddress": {"aws:SourceIp": "10.0.0.0/8"},
                }
            )
        ),
        ["aws:username", "s3:prefix", "aws:SourceIp"],
    ),
    (
        "case-insensitive dedupe keeps first spelling",
        doc(
            allow(Condition={"StringEquals": {"AWS:UserName": "a"}}), deny(Condition={"Null": {"aws:username": "true"}})
        ),
        ["AWS:UserName"],
    ),
    (
        "variables in resource",
        doc(allow("s3:*", "arn:aws:s3:::b/${aws:username}/${aws:PrincipalTag/team, 'x'}")),
        ["aws:username", "aws:PrincipalTag/team"],
    ),
    (
        "variables in condition values",
        doc(allow(Condition={"StringLike": {"s3:prefix": "home/${aws:userid}/*"}})),
        ["s3:prefix", "aws:userid"],
    ),
    ("escapes are not keys", doc(allow("s3:*", "arn:aws:s3:::b/${*}")), []),
    ("no variables under 2008", doc(allow("s3:*", "arn:aws:s3:::b/${aws:username}"), version="2008-10-17"), []),
    (
        "statement object",
        json.dumps({"Version": "2012-10-17", "Statement": allow(Condition={"Bool": {"aws:SecureTransport": "true"}})}),
        ["aws:SecureTransport"],
    ),
    (
        "trust policy keys",
        doc(
            {
                "Effect": "Allow",
                "Principal": {"Federated": GITHUB},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "x"}},
            }
        ),
        ["token.actions.githubusercontent.com:aud"],
    ),
]


@pytest.mark.parametrize(("name", "document", "expected"), KEYS_CASES, ids=[c[0] for c in KEYS_CASES])
def test_context_keys(name: str, document: str, expected: list[str]) -> None:
    assert context_keys(document) == expected


def test_context_keys_of_non_json_raises_malformed() -> None:
    with pytest.raises(PolicyDocumentError) as caught:
        context_keys("nope")
    assert caught.value.message == "Syntax errors in policy."
