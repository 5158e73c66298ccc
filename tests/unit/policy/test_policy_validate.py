"""Validation: every problem collected, each with its JSON pointer and AWS's wording.

Sources: "IAM JSON policy grammar" and "IAM JSON policy elements reference"; messages as IAM returns them
(``MalformedPolicyDocument``), see broker/policy/validate.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from policy_helpers import DOC_GRAMMAR, DOC_PRINCIPAL, allow, doc

from broker.errors import LimitExceeded, MalformedPolicyDocument, PackedPolicyTooLarge
from broker.policy import (
    PackedPolicyError,
    PolicyDocumentError,
    PolicySizeError,
    Problem,
    compile_policy,
    validate,
)

SYNTAX = "Syntax errors in policy."
VENDOR = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
TRUST_OK = {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}


def problems(document: str, kind: Any = "identity") -> list[tuple[str, str]]:
    return [(p.pointer, p.message) for p in validate(document, kind)]


VALID = [
    ("minimal identity", "identity", doc(allow("s3:GetObject", "arn:aws:s3:::b/*"))),
    ("statement as object", "identity", json.dumps({"Version": "2012-10-17", "Statement": allow()})),
    ("no version (2008 semantics)", "identity", doc(allow(), version=None)),
    ("version 2008", "identity", doc(allow(), version="2008-10-17")),
    ("id element", "identity", json.dumps({"Version": "2012-10-17", "Id": "x", "Statement": [allow()]})),
    (
        "element order free",
        "identity",
        '{"Statement":[{"Resource":"*","Action":"s3:*","Effect":"Deny"}],"Version":"2012-10-17"}',
    ),
    ("NotAction", "identity", doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})),
    ("NotResource", "identity", doc({"Effect": "Deny", "Action": "s3:*", "NotResource": ["arn:aws:s3:::b/*"]})),
    ("wildcard vendor action", "identity", doc(allow("*:Get*"))),
    ("empty sid", "identity", doc(allow(Sid=""), allow(Sid=""))),
    (
        "condition number and bool values",
        "identity",
        doc(
            allow(
                Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}, "Bool": {"aws:SecureTransport": True}}
            )
        ),
    ),
    ("condition list values", "identity", doc(allow(Condition={"StringEquals": {"aws:username": ["a", "b"]}}))),
    ("empty condition operator block", "identity", doc(allow(Condition={"StringEquals": {}}))),
    ("variables", "identity", doc(allow("s3:*", "arn:aws:s3:::b/${aws:username}/*"))),
    ("variable default", "identity", doc(allow("s3:*", "arn:aws:s3:::b/${aws:PrincipalTag/team, 'x'}/*"))),
    ("escapes", "identity", doc(allow("s3:*", "arn:aws:s3:::b/${*}${?}${$}"))),
    ("trust aws root", "trust", doc(TRUST_OK)),
    (
        "trust federated",
        "trust",
        doc(
            {
                "Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/idp.example:8443/realms/x"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {"idp.example:8443/realms/x:sub": "u"}},
            }
        ),
    ),
    (
        "trust service",
        "trust",
        doc(
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": ["sts:AssumeRole", "sts:TagSession"],
            }
        ),
    ),
    (
        "trust sts wildcard",
        "trust",
        doc({"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "sts:AssumeRole*"}),
    ),
    (
        "trust session principal",
        "trust",
        doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:sts::123456789012:assumed-role/r/s"},
                "Action": "sts:AssumeRole",
            }
        ),
    ),
    (
        "resource policy star principal",
        "resource",
        doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}),
    ),
    (
        "resource policy sid with spaces",
        "resource",
        doc(
            {
                "Sid": "Public read",
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": "s3:GetObject",
                "Resource": "*",
            }
        ),
    ),
    (
        "resource NotPrincipal",
        "resource",
        doc(
            {
                "Effect": "Deny",
                "NotPrincipal": {"AWS": "arn:aws:iam::123456789012:user/a"},
                "Action": "s3:*",
                "Resource": "*",
            }
        ),
    ),
    ("session policy", "session", doc(allow("s3:GetObject", "*"))),
    ("boundary", "boundary", doc(allow("s3:*", "*"))),
    ("ipv6 cidr", "identity", doc(allow(Condition={"IpAddress": {"aws:SourceIp": ["2001:db8::/32", "10.0.0.0/8"]}}))),
    ("epoch date", "identity", doc(allow(Condition={"DateGreaterThan": {"aws:CurrentTime": "1700000000"}}))),
    ("iso date", "identity", doc(allow(Condition={"DateLessThan": {"aws:CurrentTime": "2024-01-01T00:00:00Z"}}))),
    (
        "ifexists and set ops",
        "identity",
        doc(allow(Condition={"ForAnyValue:StringLikeIfExists": {"aws:TagKeys": "a*"}})),
    ),
    (
        "oidc key with port (two colons)",
        "identity",
        doc(allow(Condition={"StringEquals": {"idp.example:8443/x:sub": "u"}})),
    ),
]


@pytest.mark.parametrize(("name", "kind", "document"), VALID, ids=[v[0] for v in VALID])
def test_valid_documents_have_no_problems(name: str, kind: Any, document: str) -> None:
    assert validate(document, kind) == []


INVALID: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    ("not json", "identity", "{nope", [("", SYNTAX)]),
    ("json array", "identity", "[]", [("", SYNTAX)]),
    (
        "non-finite number",
        "identity",
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"NumericEquals":{"s3:max-keys":NaN}}}]}',
        [("", SYNTAX)],
    ),
    (
        "duplicate top-level key",
        "identity",
        '{"Version":"2012-10-17","Statement":[],"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}',
        [("/Statement", SYNTAX)],
    ),
    (
        "duplicate statement key",
        "identity",
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Effect":"Deny","Action":"s3:*","Resource":"*"}]}',
        [("/Statement/0/Effect", SYNTAX)],
    ),
    (
        "unknown top-level field",
        "identity",
        json.dumps({"Version": "2012-10-17", "Statment": [], "Statement": [allow()]}),
        [("/Statment", "Unknown field Statment")],
    ),
    (
        "unknown statement field",
        "identity",
        doc(allow(Actions="s3:*")),
        [("/Statement/0/Actions", "Unknown field Actions")],
    ),
    ("bad version", "identity", doc(allow(), version="2020-01-01"), [("/Version", SYNTAX)]),
    (
        "id not string",
        "identity",
        json.dumps({"Version": "2012-10-17", "Id": 3, "Statement": [allow()]}),
        [("/Id", SYNTAX)],
    ),
    (
        "missing statement",
        "identity",
        json.dumps({"Version": "2012-10-17"}),
        [("", "Missing required field Statement")],
    ),
    (
        "empty statement list",
        "identity",
        json.dumps({"Version": "2012-10-17", "Statement": []}),
        [("/Statement", SYNTAX)],
    ),
    ("statement string", "identity", json.dumps({"Version": "2012-10-17", "Statement": "x"}), [("/Statement", SYNTAX)]),
    (
        "statement entry not object",
        "identity",
        json.dumps({"Version": "2012-10-17", "Statement": [allow(), 3]}),
        [("/Statement/1", SYNTAX)],
    ),
    (
        "missing effect",
        "identity",
        doc({"Action": "s3:*", "Resource": "*"}),
        [("/Statement/0", "Missing required field Effect")],
    ),
    (
        "effect lower case",
        "identity",
        doc({"Effect": "allow", "Action": "s3:*", "Resource": "*"}),
        [("/Statement/0/Effect", "The policy failed legacy parsing")],
    ),
    (
        "effect invalid",
        "identity",
        doc({"Effect": "Permit", "Action": "s3:*", "Resource": "*"}),
        [("/Statement/0/Effect", SYNTAX)],
    ),
    (
        "no action",
        "identity",
        doc({"Effect": "Allow", "Resource": "*"}),
        [("/Statement/0", "Policy statement must contain actions.")],
    ),
    (
        "empty action list",
        "identity",
        doc(allow([])),
        [("/Statement/0/Action", "Policy statement must contain actions.")],
    ),
    ("action and notaction", "identity", doc(allow("s3:*", NotAction="iam:*")), [("/Statement/0", SYNTAX)]),
    ("action wrong type", "identity", doc(allow({"a": 1})), [("/Statement/0/Action", SYNTAX)]),
    ("action no vendor", "identity", doc(allow("GetObject")), [("/Statement/0/Action", VENDOR)]),
    (
        "action two colons",
        "identity",
        doc(allow(["s3:Get:Object"])),
        [("/Statement/0/Action/0", "Actions/Condition can contain only one colon.")],
    ),
    ("action bad vendor", "identity", doc(allow("s 3:Get")), [("/Statement/0/Action", "Vendor s 3 is not valid")]),
    ("action empty name", "identity", doc(allow("s3:")), [("/Statement/0/Action", "Policy has invalid action")]),
    (
        "no resource",
        "identity",
        doc({"Effect": "Allow", "Action": "s3:*"}),
        [("/Statement/0", "Policy statement must contain resources.")],
    ),
    (
        "empty resource list",
        "identity",
        doc(allow("s3:*", [])),
        [("/Statement/0/Resource", "Policy statement must contain resources.")],
    ),
    ("resource and notresource", "identity", doc(allow("s3:*", "*", NotResource="*")), [("/Statement/0", SYNTAX)]),
    (
        "resource not arn",
        "identity",
        doc(allow("s3:*", "bucket")),
        [("/Statement/0/Resource", 'Resource bucket must be in ARN format or "*".')],
    ),
    (
        "resource too few segments",
        "identity",
        doc(allow("s3:*", "arn:aws:s3")),
        [("/Statement/0/Resource", 'Resource arn:aws:s3 must be in ARN format or "*".')],
    ),
    (
        "resource bad partition",
        "identity",
        doc(allow("s3:*", "arn:AWS:s3:::b")),
        [("/Statement/0/Resource", 'Partition "AWS" is not valid for resource "arn:AWS:s3:::b".')],
    ),
    (
        "resource wildcard vendor",
        "identity",
        doc(allow("s3:*", "arn:aws:s*:::b")),
        [("/Statement/0/Resource", "Resource vendor must be fully qualified and cannot contain regexes.")],
    ),
    (
        "iam resource with region",
        "identity",
        doc(allow("iam:*", ["arn:aws:iam::123456789012:role/a", "arn:aws:iam:us-east-1:123456789012:role/x"])),
        [
            (
                "/Statement/0/Resource/1",
                "IAM resource arn:aws:iam:us-east-1:123456789012:role/x cannot contain region information.",
            )
        ],
    ),
    (
        "variable outside resource part",
        "identity",
        doc(allow("s3:*", "arn:aws:s3:${aws:username}::b")),
        [
            (
                "/Statement/0/Resource",
                "Resource arn:aws:s3:${aws:username}::b can use policy variables only in its resource part",
            )
        ],
    ),
    (
        "malformed variable",
        "identity",
        doc(allow("s3:*", "arn:aws:s3:::b/${not a key}")),
        [("/Statement/0/Resource", "Invalid policy variable ${not a key}")],
    ),
    (
        "principal in identity",
        "identity",
        doc(allow(Principal="*")),
        [("/Statement/0/Principal", "Has prohibited field Principal")],
    ),
    (
        "notprincipal in boundary",
        "boundary",
        doc(allow(NotPrincipal="*")),
        [("/Statement/0/NotPrincipal", "Has prohibited field NotPrincipal")],
    ),
    (
        "principal in session",
        "session",
        doc(allow(Principal={"AWS": "123456789012"})),
        [("/Statement/0/Principal", "Policy document should not specify a principal.")],
    ),
    (
        "trust missing principal",
        "trust",
        doc({"Effect": "Allow", "Action": "sts:AssumeRole"}),
        [("/Statement/0", "Missing required field Principal")],
    ),
    (
        "trust with resource",
        "trust",
        doc({**TRUST_OK, "Resource": "*"}),
        [("/Statement/0/Resource", "Has prohibited field Resource")],
    ),
    (
        "trust notprincipal",
        "trust",
        doc({"Effect": "Deny", "NotPrincipal": {"AWS": "123456789012"}, "Action": "sts:AssumeRole"}),
        [("/Statement/0/NotPrincipal", "Has prohibited field NotPrincipal")],
    ),
    (
        "trust invalid action",
        "trust",
        doc({**TRUST_OK, "Action": ["sts:AssumeRole", "s3:GetObject"]}),
        [("/Statement/0/Action/1", "Policy has invalid action")],
    ),
    (
        "trust non-role sts action",
        "trust",
        doc({**TRUST_OK, "Action": "sts:GetCallerIdentity"}),
        [("/Statement/0/Action", "Policy has invalid action")],
    ),
    (
        "resource missing principal",
        "resource",
        doc(allow("s3:GetObject")),
        [("/Statement/0", "Missing required field Principal")],
    ),
    (
        "principal partial wildcard",
        "resource",
        doc(allow("s3:GetObject", Principal={"AWS": "arn:aws:iam::123456789012:user/*"})),
        [("/Statement/0/Principal/AWS", "Invalid principal in policy")],
    ),
    (
        "principal unknown type",
        "resource",
        doc(allow("s3:GetObject", Principal={"Users": "x"})),
        [("/Statement/0/Principal/Users", "Invalid principal in policy")],
    ),
    (
        "principal bad list entry",
        "trust",
        doc({**TRUST_OK, "Principal": {"AWS": ["123456789012", "bob"]}}),
        [("/Statement/0/Principal/AWS/1", "Invalid principal in policy")],
    ),
    (
        "principal string not star",
        "trust",
        doc({**TRUST_OK, "Principal": "everyone"}),
        [("/Statement/0/Principal", "Invalid principal in policy")],
    ),
    (
        "principal wrong json type",
        "trust",
        doc({**TRUST_OK, "Principal": {"AWS": 5}}),
        [("/Statement/0/Principal/AWS", SYNTAX)],
    ),
    (
        "federated bad arn",
        "trust",
        doc({**TRUST_OK, "Principal": {"Federated": "arn:aws:iam::123456789012:role/x"}}),
        [("/Statement/0/Principal/Federated", "Invalid principal in policy")],
    ),
    (
        "duplicate sid",
        "identity",
        doc(allow(Sid="A"), allow(Sid="B"), allow(Sid="A")),
        [("/Statement/2/Sid", "Statement IDs (SID) in a single policy must be unique.")],
    ),
    (
        "sid not alphanumeric",
        "identity",
        doc(allow(Sid="my sid")),
        [
            (
                "/Statement/0/Sid",
                "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression "
                "[0-9A-Za-z]*",
            )
        ],
    ),
    ("sid not string", "identity", doc(allow(Sid=1)), [("/Statement/0/Sid", SYNTAX)]),
    ("condition not object", "identity", doc(allow(Condition=["x"])), [("/Statement/0/Condition", SYNTAX)]),
    (
        "unknown operator",
        "identity",
        doc(allow(Condition={"StringMatches": {"aws:username": "a"}})),
        [("/Statement/0/Condition/StringMatches", SYNTAX)],
    ),
    (
        "operator names are case-sensitive",
        "identity",
        doc(allow(Condition={"stringequals": {"aws:username": "a"}})),
        [("/Statement/0/Condition/stringequals", SYNTAX)],
    ),
    (
        "null with ifexists",
        "identity",
        doc(allow(Condition={"NullIfExists": {"aws:username": "true"}})),
        [("/Statement/0/Condition/NullIfExists", SYNTAX)],
    ),
    (
        "operator block not object",
        "identity",
        doc(allow(Condition={"StringEquals": "x"})),
        [("/Statement/0/Condition/StringEquals", SYNTAX)],
    ),
    (
        "condition key without vendor",
        "identity",
        doc(allow(Condition={"StringEquals": {"username": "a"}})),
        [("/Statement/0/Condition/StringEquals/username", VENDOR)],
    ),
    (
        "condition value object",
        "identity",
        doc(allow(Condition={"StringEquals": {"aws:username": {"a": 1}}})),
        [("/Statement/0/Condition/StringEquals/aws:username", SYNTAX)],
    ),
    (
        "condition value null",
        "identity",
        doc(allow(Condition={"StringEquals": {"aws:username": None}})),
        [("/Statement/0/Condition/StringEquals/aws:username", SYNTAX)],
    ),
    (
        "condition empty list",
        "identity",
        doc(allow(Condition={"StringEquals": {"aws:username": []}})),
        [("/Statement/0/Condition/StringEquals/aws:username", SYNTAX)],
    ),
    (
        "bad date",
        "identity",
        doc(allow(Condition={"DateLessThan": {"aws:CurrentTime": "yesterday"}})),
        [("/Statement/0/Condition/DateLessThan/aws:CurrentTime", "Invalid date value 'yesterday' in condition")],
    ),
    (
        "bad number",
        "identity",
        doc(allow(Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "ten"}})),
        [("/Statement/0/Condition/NumericLessThan/aws:MultiFactorAuthAge", "Invalid numeric value 'ten' in condition")],
    ),
    (
        "bad cidr",
        "identity",
        doc(allow(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.300/8"}})),
        [
            (
                "/Statement/0/Condition/IpAddress/aws:SourceIp",
                "Invalid IP address or CIDR block '10.0.0.300/8' in condition",
            )
        ],
    ),
    (
        "bad bool",
        "identity",
        doc(allow(Condition={"Bool": {"aws:SecureTransport": "yes"}})),
        [
            (
                "/Statement/0/Condition/Bool/aws:SecureTransport",
                "Invalid Bool value 'yes' in condition: use true or false",
            )
        ],
    ),
    (
        "bad null",
        "identity",
        doc(allow(Condition={"Null": {"aws:username": "maybe"}})),
        [("/Statement/0/Condition/Null/aws:username", "Invalid Null value 'maybe' in condition: use true or false")],
    ),
    (
        "bad base64",
        "identity",
        doc(allow(Condition={"BinaryEquals": {"s3:x": "not base64!"}})),
        [("/Statement/0/Condition/BinaryEquals/s3:x", "Invalid base64 value 'not base64!' in BinaryEquals condition")],
    ),
    (
        "bad variable in condition",
        "identity",
        doc(allow(Condition={"StringEquals": {"s3:prefix": "${bad key}"}})),
        [("/Statement/0/Condition/StringEquals/s3:prefix", "Invalid policy variable ${bad key}")],
    ),
    (
        "character outside allowed set",
        "identity",
        doc(allow(Condition={"StringEquals": {"aws:username": "\u263a"}})).replace("\\u263a", "\u263a"),
        [("", SYNTAX)],
    ),
]


@pytest.mark.parametrize(("name", "kind", "document", "expected"), INVALID, ids=[v[0] for v in INVALID])
def test_invalid_documents_report_pointer_and_message(
    name: str, kind: Any, document: str, expected: list[tuple[str, str]]
) -> None:
    assert problems(document, kind) == expected


def test_every_problem_is_collected_in_document_order() -> None:
    document = doc(
        {"Sid": "A", "Effect": "allow", "Action": "GetObject", "Resource": "bucket", "Principal": "*", "X": 1},
        {"Sid": "A", "Effect": "Deny", "Action": "s3:*", "Resource": "*", "Condition": {"Bogus": {}}},
    )
    assert problems(document) == [
        ("/Statement/0/X", "Unknown field X"),
        ("/Statement/0/Effect", "The policy failed legacy parsing"),
        ("/Statement/0/Principal", "Has prohibited field Principal"),
        ("/Statement/0/Action", VENDOR),
        ("/Statement/0/Resource", 'Resource bucket must be in ARN format or "*".'),
        ("/Statement/1/Sid", "Statement IDs (SID) in a single policy must be unique."),
        ("/Statement/1/Condition/Bogus", SYNTAX),
    ]


def test_json_pointer_escapes_slash_and_tilde() -> None:
    document = doc(allow(Condition={"StringEquals": {"aws:PrincipalTag/a~b": {"x": 1}}}))
    assert problems(document) == [("/Statement/0/Condition/StringEquals/aws:PrincipalTag~1a~0b", SYNTAX)]


def test_compile_raises_malformed_policy_document_with_all_problems() -> None:
    document = doc(allow("GetObject"), allow("s3:*", "bucket"))
    with pytest.raises(PolicyDocumentError) as caught:
        compile_policy(document, policy_id="p", kind="identity")
    error = caught.value
    assert isinstance(error, MalformedPolicyDocument)
    assert error.code == "MalformedPolicyDocument"
    assert error.message == VENDOR
    assert error.problems == (
        Problem("/Statement/0/Action", VENDOR),
        Problem("/Statement/1/Resource", 'Resource bucket must be in ARN format or "*".'),
    )
    assert error.detail == (
        f'/Statement/0/Action: {VENDOR}; /Statement/1/Resource: Resource bucket must be in ARN format or "*".'
    )


def test_principal_sources_are_cited() -> None:
    assert DOC_PRINCIPAL.startswith("https://docs.aws.amazon.com/") and DOC_GRAMMAR.endswith(".html")


# ---- sizes -----------------------------------------------------------------------------------------------
# "IAM and AWS STS quotas": managed 6,144; trust 2,048; session 2,048; whitespace not counted.


def padded(size: int) -> str:
    """An identity policy whose counted size is exactly ``size`` characters."""
    base = doc(allow("s3:GetObject", "arn:aws:s3:::b/"))
    counted = len(base.replace(" ", ""))
    filler = "x" * (size - counted)
    return doc(allow("s3:GetObject", f"arn:aws:s3:::b/{filler}"))


def test_whitespace_is_not_counted() -> None:
    from broker.policy import policy_size

    assert policy_size('{ "a" :\n\t[ 1 , 2 ] }') == len('{"a":[1,2]}')
    assert policy_size('{"a b": " "}') == len('{"a b":" "}')
    assert policy_size('{"q": "\\" x"}') == len('{"q":"\\" x"}')


@pytest.mark.parametrize(("kind", "limit"), [("identity", 6144), ("boundary", 6144), ("resource", 20480)])
def test_default_size_limit_per_kind(kind: Any, limit: int) -> None:
    from broker.policy import DEFAULT_MAX_SIZE, policy_size

    assert DEFAULT_MAX_SIZE[kind] == limit
    assert policy_size(padded(6144)) == 6144
    if kind != "resource":
        assert validate(padded(6144), kind) == []
        assert problems(padded(6145), kind) == [("", f"Cannot exceed quota for PolicySize: {limit}")]


def test_session_and_trust_limits() -> None:
    session_doc = doc(allow("s3:GetObject", "arn:aws:s3:::b/" + "x" * 2100))
    [problem] = validate(session_doc, "session")
    assert problem == Problem("", "Session policy exceeds the maximum size of 2048 characters", "PackedPolicyTooLarge")
    trust_doc = doc({**TRUST_OK, "Condition": {"StringEquals": {"aws:PrincipalTag/x": "y" * 2100}}})
    assert [(p.message, p.code) for p in validate(trust_doc, "trust")] == [
        ("Cannot exceed quota for ACLSizePerRole: 2048", "LimitExceeded")
    ]


def test_size_limit_is_a_parameter() -> None:
    inline_user = padded(2049)
    assert problems(inline_user, "identity") == []
    from broker.policy import validate as v

    assert [(p.message, p.code) for p in v(inline_user, "identity", max_size=2048)] == [
        ("Cannot exceed quota for PolicySize: 2048", "LimitExceeded")
    ]


def test_size_errors_raise_limit_exceeded_and_packed_policy_too_large() -> None:
    with pytest.raises(PolicySizeError) as too_big:
        compile_policy(padded(7000), policy_id="p", kind="identity")
    assert isinstance(too_big.value, LimitExceeded) and too_big.value.code == "LimitExceeded"
    with pytest.raises(PackedPolicyError) as packed:
        compile_policy(padded(3000), policy_id="p", kind="session")
    assert isinstance(packed.value, PackedPolicyTooLarge)


def test_malformed_wins_over_size_when_both() -> None:
    document = doc(allow("GetObject", "arn:aws:s3:::b/" + "x" * 7000))
    with pytest.raises(PolicyDocumentError) as caught:
        compile_policy(document, policy_id="p", kind="identity")
    assert caught.value.problems == (Problem("/Statement/0/Action", VENDOR),)


def test_huge_document_is_not_parsed() -> None:
    document = doc(allow("s3:*", "arn:aws:s3:::b/" + "x" * 200_000))
    assert problems(document) == [("", "Cannot exceed quota for PolicySize: 6144")]
