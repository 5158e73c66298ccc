"""Condition operators, one table per family; every row evaluated through the whole engine.

Each row: (operator, key, policy values, request context, expected: does the guarded Allow allow).
Source of every row: "IAM JSON policy elements: Condition operators" (DOC_OPERATORS, the family's
section), "The condition block" (DOC_CONDITION) and "Single-valued vs. multivalued context keys" (DOC_MULTI).
"""

from __future__ import annotations

from typing import Any

import pytest
from policy_helpers import DOC_CONDITION, DOC_MULTI, DOC_OPERATORS, condition_holds

from broker.policy import ContextValue

Row = tuple[str, str, Any, dict[str, ContextValue], bool]


def run(rows: list[Row]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize(("op", "key", "values", "context", "expected"), rows)


STRING: list[Row] = [  # DOC_OPERATORS#Conditions_String
    ("StringEquals", "aws:username", "alice", {"aws:username": "alice"}, True),
    ("StringEquals", "aws:username", "alice", {"aws:username": "Alice"}, False),
    ("StringEquals", "aws:username", ["bob", "alice"], {"aws:username": "alice"}, True),
    ("StringEquals", "aws:username", "al*", {"aws:username": "alice"}, False),
    ("StringEquals", "aws:username", "alice", {}, False),
    ("StringNotEquals", "aws:username", "alice", {"aws:username": "bob"}, True),
    ("StringNotEquals", "aws:username", "alice", {"aws:username": "alice"}, False),
    ("StringNotEquals", "aws:username", ["alice", "bob"], {"aws:username": "bob"}, False),
    ("StringNotEquals", "aws:username", ["alice", "bob"], {"aws:username": "carol"}, True),
    ("StringNotEquals", "aws:username", "alice", {}, True),
    ("StringEqualsIgnoreCase", "aws:username", "ALICE", {"aws:username": "alice"}, True),
    ("StringEqualsIgnoreCase", "aws:username", "ALICE", {"aws:username": "alicia"}, False),
    ("StringNotEqualsIgnoreCase", "aws:username", "ALICE", {"aws:username": "Alice"}, False),
    ("StringNotEqualsIgnoreCase", "aws:username", "ALICE", {"aws:username": "bob"}, True),
    ("StringLike", "s3:prefix", "home/*", {"s3:prefix": "home/alice/x"}, True),
    ("StringLike", "s3:prefix", "home/*", {"s3:prefix": "Home/alice"}, False),
    ("StringLike", "s3:prefix", "home/?", {"s3:prefix": "home/a"}, True),
    ("StringLike", "s3:prefix", "home/?", {"s3:prefix": "home/ab"}, False),
    ("StringLike", "s3:prefix", "*", {"s3:prefix": ""}, True),
    ("StringLike", "s3:prefix", "a.b", {"s3:prefix": "axb"}, False),
    ("StringLike", "s3:prefix", "a*b*c", {"s3:prefix": "aXXbYYc"}, True),
    ("StringLike", "s3:prefix", "[ab]", {"s3:prefix": "a"}, False),
    ("StringLike", "s3:prefix", ["x", "home/*"], {"s3:prefix": "x"}, True),
    ("StringLike", "s3:prefix", "line*", {"s3:prefix": "line1\nline2"}, True),
    ("StringLike", "s3:prefix", "*-prod", {"s3:prefix": "alpha-prod"}, True),
    ("StringLike", "s3:prefix", "*-prod", {"s3:prefix": "alpha-prod2"}, False),
    ("StringLike", "s3:prefix", ["alpha-*", "*-prod"], {"s3:prefix": "beta-prod"}, True),
    ("StringLike", "s3:prefix", ["alpha-*", "*-prod", "x?z"], {"s3:prefix": "xyz"}, True),
    ("StringLike", "s3:prefix", "*mid*", {"s3:prefix": "amidb"}, True),
    ("StringNotLike", "s3:prefix", "*-prod", {"s3:prefix": "alpha-prod"}, False),
    ("StringNotLike", "s3:prefix", "home/*", {"s3:prefix": "etc/passwd"}, True),
    ("StringNotLike", "s3:prefix", ["tmp/*", "home/*"], {"s3:prefix": "home/x"}, False),
    ("StringNotLike", "s3:prefix", "home/*", {}, True),
    ("StringEquals", "aws:SecureTransport", "true", {"aws:SecureTransport": True}, True),
    ("StringEquals", "s3:max-keys", "10", {"s3:max-keys": 10}, True),
]


@run(STRING)
def test_string_operators(op: str, key: str, values: Any, context: dict[str, ContextValue], expected: bool) -> None:
    assert condition_holds(op, key, values, context) is expected


NUMERIC: list[Row] = [  # DOC_OPERATORS#Conditions_Numeric
    ("NumericEquals", "s3:max-keys", "10", {"s3:max-keys": "10"}, True),
    ("NumericEquals", "s3:max-keys", "10", {"s3:max-keys": "10.0"}, True),
    ("NumericEquals", "s3:max-keys", 10, {"s3:max-keys": "11"}, False),
    ("NumericEquals", "s3:max-keys", ["1", "2"], {"s3:max-keys": "2"}, True),
    ("NumericEquals", "s3:max-keys", "10", {"s3:max-keys": "ten"}, False),
    ("NumericEquals", "s3:max-keys", "10", {}, False),
    ("NumericNotEquals", "s3:max-keys", "10", {"s3:max-keys": "11"}, True),
    ("NumericNotEquals", "s3:max-keys", ["10", "11"], {"s3:max-keys": "11"}, False),
    ("NumericNotEquals", "s3:max-keys", "10", {}, True),
    ("NumericLessThan", "aws:MultiFactorAuthAge", "3600", {"aws:MultiFactorAuthAge": "3599"}, True),
    ("NumericLessThan", "aws:MultiFactorAuthAge", "3600", {"aws:MultiFactorAuthAge": "3600"}, False),
    ("NumericLessThan", "aws:MultiFactorAuthAge", ["10", "3600"], {"aws:MultiFactorAuthAge": "100"}, True),
    ("NumericLessThanEquals", "aws:MultiFactorAuthAge", "3600", {"aws:MultiFactorAuthAge": "3600"}, True),
    ("NumericLessThanEquals", "aws:MultiFactorAuthAge", "3600", {"aws:MultiFactorAuthAge": "3600.5"}, False),
    ("NumericGreaterThan", "s3:max-keys", "1.5", {"s3:max-keys": "2"}, True),
    ("NumericGreaterThan", "s3:max-keys", "-1", {"s3:max-keys": "-1"}, False),
    ("NumericGreaterThan", "s3:max-keys", ["5", "100"], {"s3:max-keys": "6"}, True),
    ("NumericGreaterThanEquals", "s3:max-keys", "1e2", {"s3:max-keys": "100"}, True),
    ("NumericGreaterThanEquals", "s3:max-keys", "100", {"s3:max-keys": "99.99"}, False),
    ("NumericLessThan", "aws:MultiFactorAuthAge", "3600", {"aws:MultiFactorAuthAge": "nan"}, False),
    ("NumericLessThan", "aws:MultiFactorAuthAge", "3600", {"aws:MultiFactorAuthAge": 12}, True),
]


@run(NUMERIC)
def test_numeric_operators(op: str, key: str, values: Any, context: dict[str, ContextValue], expected: bool) -> None:
    assert condition_holds(op, key, values, context) is expected


NOW = "2026-11-28T12:00:00Z"
DATE: list[Row] = [  # DOC_OPERATORS#Conditions_Date
    ("DateLessThan", "aws:CurrentTime", "2027-01-01T00:00:00Z", {"aws:CurrentTime": NOW}, True),
    ("DateLessThan", "aws:CurrentTime", "2026-01-01T00:00:00Z", {"aws:CurrentTime": NOW}, False),
    ("DateLessThan", "aws:CurrentTime", NOW, {"aws:CurrentTime": NOW}, False),
    ("DateLessThanEquals", "aws:CurrentTime", NOW, {"aws:CurrentTime": NOW}, True),
    ("DateGreaterThan", "aws:CurrentTime", "2026-11-28", {"aws:CurrentTime": NOW}, True),
    ("DateGreaterThan", "aws:CurrentTime", "2026-11-28T12:00:01Z", {"aws:CurrentTime": NOW}, False),
    ("DateGreaterThanEquals", "aws:CurrentTime", "1795867200", {"aws:CurrentTime": NOW}, True),
    ("DateEquals", "aws:CurrentTime", "1795867200", {"aws:CurrentTime": NOW}, True),
    ("DateEquals", "aws:CurrentTime", "2026-11-28T13:00:00+01:00", {"aws:CurrentTime": NOW}, True),
    ("DateEquals", "aws:CurrentTime", "2026-11-28T12:00:00", {"aws:CurrentTime": NOW}, True),
    ("DateEquals", "aws:CurrentTime", "2026-11-28T12:00:00.000Z", {"aws:CurrentTime": "1795867200"}, True),
    ("DateNotEquals", "aws:CurrentTime", NOW, {"aws:CurrentTime": "2026-11-28T12:00:01Z"}, True),
    ("DateNotEquals", "aws:CurrentTime", NOW, {"aws:CurrentTime": NOW}, False),
    ("DateNotEquals", "aws:CurrentTime", NOW, {}, True),
    ("DateLessThan", "aws:TokenIssueTime", NOW, {}, False),
    ("DateLessThan", "aws:CurrentTime", "2027-01-01T00:00:00Z", {"aws:CurrentTime": "not a date"}, False),
    (
        "DateGreaterThan",
        "aws:CurrentTime",
        ["2030-01-01T00:00:00Z", "2020-01-01T00:00:00Z"],
        {"aws:CurrentTime": NOW},
        True,
    ),
    ("DateLessThan", "aws:CurrentTime", "2026", {"aws:CurrentTime": "1969-12-31T23:59:59Z"}, True),
]


@run(DATE)
def test_date_operators(op: str, key: str, values: Any, context: dict[str, ContextValue], expected: bool) -> None:
    assert condition_holds(op, key, values, context) is expected


def test_date_context_may_be_a_datetime() -> None:
    from datetime import UTC, datetime

    moment = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert condition_holds("DateEquals", "aws:CurrentTime", NOW, {"aws:CurrentTime": moment}) is True


BOOL: list[Row] = [  # DOC_OPERATORS#Conditions_Boolean
    ("Bool", "aws:SecureTransport", "true", {"aws:SecureTransport": "true"}, True),
    ("Bool", "aws:SecureTransport", "true", {"aws:SecureTransport": True}, True),
    ("Bool", "aws:SecureTransport", True, {"aws:SecureTransport": "TRUE"}, True),
    ("Bool", "aws:SecureTransport", "true", {"aws:SecureTransport": False}, False),
    ("Bool", "aws:SecureTransport", "false", {"aws:SecureTransport": "false"}, True),
    ("Bool", "aws:SecureTransport", "false", {}, False),
    ("BoolIfExists", "aws:MultiFactorAuthPresent", "true", {}, True),
    ("BoolIfExists", "aws:MultiFactorAuthPresent", "true", {"aws:MultiFactorAuthPresent": False}, False),
    ("Bool", "aws:SecureTransport", ["true", "false"], {"aws:SecureTransport": "false"}, True),
]


@run(BOOL)
def test_bool_operator(op: str, key: str, values: Any, context: dict[str, ContextValue], expected: bool) -> None:
    assert condition_holds(op, key, values, context) is expected


@pytest.mark.parametrize("values", [["true"], ["false"], ["TRUE", "false"], ["False"]])
def test_bool_matcher_is_the_case_insensitive_comparison_for_every_string(values: list[str]) -> None:
    """``build_bool``'s matcher (membership in every spelling of the policy's words) equals ``value.lower() in
    words`` — the case-insensitive comparison — on every case spelling, on strings that lower-case to more or
    other characters, and, for every cased code point, on each word with one letter replaced by it."""
    from itertools import product

    from broker.policy.conditions.boolean import build_bool

    words = {v.lower() for v in values}
    matcher = build_bool(values)
    probes = ["", "t", "tru", "truee", " true", "true ", "yes", "1", "0", "İ", "ß", "\u212a", "\u0130true", "fa\u017fe"]
    probes += ["".join(p) for w in ("true", "false") for p in product(*((c, c.upper()) for c in w))]
    cased = [chr(code) for code in range(0x110000) if chr(code).lower() != chr(code).upper()]
    probes += [w[:i] + char + w[i + 1 :] for char in cased for w in ("true", "false") for i in range(len(w))]
    for value in probes:
        assert matcher(value) is (value.lower() in words), repr(value)


BINARY: list[Row] = [  # DOC_OPERATORS#Conditions_BinaryEquals
    ("BinaryEquals", "s3:x", "QmluYXJ5VmFsdWU=", {"s3:x": "QmluYXJ5VmFsdWU="}, True),
    ("BinaryEquals", "s3:x", "QmluYXJ5VmFsdWU=", {"s3:x": "QmluYXJ5VmFsdWY="}, False),
    ("BinaryEquals", "s3:x", ["AAEC", "QmluYXJ5VmFsdWU="], {"s3:x": "AAEC"}, True),
    ("BinaryEquals", "s3:x", "AAEC", {"s3:x": "not base64"}, False),
    ("BinaryEquals", "s3:x", "AAEC", {}, False),
]


@run(BINARY)
def test_binary_operator(op: str, key: str, values: Any, context: dict[str, ContextValue], expected: bool) -> None:
    assert condition_holds(op, key, values, context) is expected


IP: list[Row] = [  # DOC_OPERATORS#Conditions_IPAddress
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", {"aws:SourceIp": "203.0.113.7"}, True),
    ("IpAddress", "aws:SourceIp", "203.0.113.0/24", {"aws:SourceIp": "203.0.114.7"}, False),
    ("IpAddress", "aws:SourceIp", "203.0.113.7", {"aws:SourceIp": "203.0.113.7"}, True),
    ("IpAddress", "aws:SourceIp", "203.0.113.7/32", {"aws:SourceIp": "203.0.113.8"}, False),
    ("IpAddress", "aws:SourceIp", "203.0.113.9/24", {"aws:SourceIp": "203.0.113.1"}, True),
    ("IpAddress", "aws:SourceIp", ["10.0.0.0/8", "192.168.0.0/16"], {"aws:SourceIp": "192.168.4.4"}, True),
    ("IpAddress", "aws:SourceIp", "0.0.0.0/0", {"aws:SourceIp": "8.8.8.8"}, True),
    ("IpAddress", "aws:SourceIp", "2001:db8::/32", {"aws:SourceIp": "2001:db8:1::1"}, True),
    ("IpAddress", "aws:SourceIp", "2001:db8::/32", {"aws:SourceIp": "2001:db9::1"}, False),
    ("IpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:SourceIp": "::ffff:10.0.0.1"}, False),
    ("IpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:SourceIp": "2001:db8::1"}, False),
    ("IpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:SourceIp": "10.1"}, False),
    ("IpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:SourceIp": "not-an-ip"}, False),
    ("IpAddress", "aws:SourceIp", "10.0.0.0/8", {}, False),
    ("NotIpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:SourceIp": "11.0.0.1"}, True),
    ("NotIpAddress", "aws:SourceIp", ["10.0.0.0/8", "11.0.0.0/8"], {"aws:SourceIp": "11.0.0.1"}, False),
    ("NotIpAddress", "aws:SourceIp", "10.0.0.0/8", {}, True),
    ("NotIpAddress", "aws:SourceIp", "2001:db8::/32", {"aws:SourceIp": "10.0.0.1"}, True),
    # octet-aligned ranges take a string-prefix fast path; these rows pin its edges
    ("IpAddress", "aws:SourceIp", "203.0.113.7/32", {"aws:SourceIp": "203.0.113.70"}, False),
    ("IpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:SourceIp": "100.1.2.3"}, False),
    ("IpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:SourceIp": "10.1.2"}, False),
    ("IpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:SourceIp": "10.1.2.3.4"}, False),
    ("IpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:SourceIp": "10.256.0.1"}, False),
    ("IpAddress", "aws:SourceIp", ["192.168.0.0/16", "172.16.5.0/24"], {"aws:SourceIp": "172.16.5.200"}, True),
    ("IpAddress", "aws:SourceIp", ["192.168.0.0/16", "172.16.5.0/24"], {"aws:SourceIp": "172.16.50.2"}, False),
    ("IpAddress", "aws:SourceIp", "0.0.0.0/0", {"aws:SourceIp": "::1"}, False),
    ("IpAddress", "aws:SourceIp", "10.0.0.0/12", {"aws:SourceIp": "10.15.255.255"}, True),
    ("IpAddress", "aws:SourceIp", "10.0.0.0/12", {"aws:SourceIp": "10.16.0.0"}, False),
    ("NotIpAddress", "aws:SourceIp", "10.0.0.0/8", {"aws:SourceIp": "10.evil"}, True),
]


@run(IP)
def test_ip_operators(op: str, key: str, values: Any, context: dict[str, ContextValue], expected: bool) -> None:
    assert condition_holds(op, key, values, context) is expected


ROLE = "arn:aws:iam::123456789012:role/team/app"
ARN: list[Row] = [  # DOC_OPERATORS#Conditions_ARN
    ("ArnEquals", "aws:SourceArn", ROLE, {"aws:SourceArn": ROLE}, True),
    ("ArnEquals", "aws:SourceArn", "arn:aws:iam::123456789012:role/*", {"aws:SourceArn": ROLE}, True),
    ("ArnLike", "aws:SourceArn", "arn:aws:iam::*:role/team/*", {"aws:SourceArn": ROLE}, True),
    ("ArnLike", "aws:SourceArn", "arn:aws:iam::*:role/other/*", {"aws:SourceArn": ROLE}, False),
    ("ArnLike", "aws:SourceArn", "arn:aws:iam::1234567890??:role/team/app", {"aws:SourceArn": ROLE}, True),
    ("ArnLike", "aws:SourceArn", "arn:aws:*", {"aws:SourceArn": ROLE}, False),
    ("ArnLike", "aws:SourceArn", "arn:aws:*:*:*:*", {"aws:SourceArn": ROLE}, True),
    ("ArnLike", "aws:SourceArn", "arn:aws:iam::123456789012:ROLE/*", {"aws:SourceArn": ROLE}, False),
    ("ArnLike", "aws:SourceArn", "arn:aws:s3:::b/*", {"aws:SourceArn": "arn:aws:s3:::b/a:b/c"}, True),
    ("ArnLike", "aws:SourceArn", "arn:aws:iam::*:role/*", {}, False),
    ("ArnNotEquals", "aws:SourceArn", ROLE, {"aws:SourceArn": ROLE + "2"}, True),
    ("ArnNotLike", "aws:SourceArn", "arn:aws:iam::*:role/team/*", {"aws:SourceArn": ROLE}, False),
    ("ArnNotLike", "aws:SourceArn", "arn:aws:iam::*:role/other/*", {"aws:SourceArn": ROLE}, True),
    ("ArnNotLike", "aws:SourceArn", "arn:aws:iam::*:role/other/*", {}, True),
]


@run(ARN)
def test_arn_operators(op: str, key: str, values: Any, context: dict[str, ContextValue], expected: bool) -> None:
    assert condition_holds(op, key, values, context) is expected


NULL: list[Row] = [  # DOC_OPERATORS#Conditions_Null
    ("Null", "aws:TokenIssueTime", "true", {}, True),
    ("Null", "aws:TokenIssueTime", "true", {"aws:TokenIssueTime": NOW}, False),
    ("Null", "aws:TokenIssueTime", "false", {"aws:TokenIssueTime": NOW}, True),
    ("Null", "aws:TokenIssueTime", "false", {}, False),
    ("Null", "aws:TagKeys", "true", {"aws:TagKeys": []}, True),
    ("Null", "aws:TagKeys", False, {"aws:TagKeys": ["a"]}, True),
    ("Null", "aws:TokenIssueTime", ["true", "false"], {}, True),
]


@run(NULL)
def test_null_operator(op: str, key: str, values: Any, context: dict[str, ContextValue], expected: bool) -> None:
    assert condition_holds(op, key, values, context) is expected


IF_EXISTS: list[Row] = [  # DOC_OPERATORS#Conditions_IfExists
    ("StringEqualsIfExists", "ec2:InstanceType", "t2.micro", {}, True),
    ("StringEqualsIfExists", "ec2:InstanceType", "t2.micro", {"ec2:InstanceType": "t2.micro"}, True),
    ("StringEqualsIfExists", "ec2:InstanceType", "t2.micro", {"ec2:InstanceType": "m5.large"}, False),
    ("StringNotEqualsIfExists", "ec2:InstanceType", "t2.micro", {}, True),
    ("NumericLessThanIfExists", "aws:MultiFactorAuthAge", "60", {}, True),
    ("IpAddressIfExists", "aws:SourceIp", "10.0.0.0/8", {}, True),
    ("IpAddressIfExists", "aws:SourceIp", "10.0.0.0/8", {"aws:SourceIp": "11.0.0.1"}, False),
    ("ArnLikeIfExists", "aws:SourceArn", "arn:aws:s3:::*", {}, True),
    ("DateLessThanIfExists", "aws:TokenIssueTime", NOW, {}, True),
]


@run(IF_EXISTS)
def test_if_exists(op: str, key: str, values: Any, context: dict[str, ContextValue], expected: bool) -> None:
    assert condition_holds(op, key, values, context) is expected


SET_OPERATORS: list[Row] = [  # DOC_MULTI (ForAllValues / ForAnyValue)
    ("ForAllValues:StringEquals", "aws:TagKeys", ["env", "team"], {"aws:TagKeys": ["env"]}, True),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["env", "team"], {"aws:TagKeys": ["env", "team"]}, True),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["env", "team"], {"aws:TagKeys": ["env", "cost"]}, False),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["env"], {}, True),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["env"], {"aws:TagKeys": []}, True),
    ("ForAllValues:StringEquals", "aws:TagKeys", ["env"], {"aws:TagKeys": "env"}, True),
    ("ForAllValues:StringLike", "aws:TagKeys", ["Created*"], {"aws:TagKeys": ["CreatedBy", "CreatedAt"]}, True),
    ("ForAllValues:StringNotEquals", "aws:TagKeys", ["secret"], {"aws:TagKeys": ["a", "b"]}, True),
    ("ForAllValues:StringNotEquals", "aws:TagKeys", ["secret"], {"aws:TagKeys": ["a", "secret"]}, False),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["env", "team"], {"aws:TagKeys": ["cost", "team"]}, True),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["env"], {"aws:TagKeys": ["cost"]}, False),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["env"], {}, False),
    ("ForAnyValue:StringEquals", "aws:TagKeys", ["env"], {"aws:TagKeys": []}, False),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", ["env"], {"aws:TagKeys": ["env", "x"]}, True),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", ["env"], {"aws:TagKeys": ["env"]}, False),
    ("ForAnyValue:StringNotEquals", "aws:TagKeys", ["env"], {}, False),
    ("ForAnyValue:StringEqualsIfExists", "aws:TagKeys", ["env"], {}, True),
    ("ForAnyValue:IpAddress", "aws:SourceIp", ["10.0.0.0/8"], {"aws:SourceIp": ["11.0.0.1", "10.1.1.1"]}, True),
    ("ForAllValues:ArnLike", "aws:CalledVia", ["arn:aws:s3:::*"], {"aws:CalledVia": ["arn:aws:s3:::x"]}, True),
    ("ForAnyValue:NumericGreaterThan", "s3:sizes", "10", {"s3:sizes": ["1", "20"]}, True),
    ("ForAllValues:NumericGreaterThan", "s3:sizes", "10", {"s3:sizes": ["1", "20"]}, False),
    # No set operator on a multivalued value: positive = any matches, negated = none matches.
    ("StringEquals", "aws:TagKeys", "env", {"aws:TagKeys": ["x", "env"]}, True),
    ("StringEquals", "aws:TagKeys", "env", {"aws:TagKeys": ["x"]}, False),
    ("StringNotEquals", "aws:TagKeys", "env", {"aws:TagKeys": ["x", "env"]}, False),
    ("StringNotEquals", "aws:TagKeys", "env", {"aws:TagKeys": ["x"]}, True),
    ("StringEquals", "aws:TagKeys", "env", {"aws:TagKeys": []}, False),
    ("StringNotEquals", "aws:TagKeys", "env", {"aws:TagKeys": []}, True),
]


@run(SET_OPERATORS)
def test_set_operators(op: str, key: str, values: Any, context: dict[str, ContextValue], expected: bool) -> None:
    assert condition_holds(op, key, values, context) is expected


KEY_CASE: list[Row] = [  # DOC_CONDITION: condition key names are case-insensitive, values are not
    ("StringEquals", "AWS:SourceIP", "x", {"aws:sourceip": "x"}, True),
    ("IpAddress", "aws:sourceip", "10.0.0.0/8", {"AWS:SOURCEIP": "10.0.0.1"}, True),
    ("StringEquals", "aws:PrincipalTag/Team", "blue", {"aws:principaltag/team": "blue"}, True),
    ("StringEquals", "aws:PrincipalTag/Team", "Blue", {"aws:principaltag/team": "blue"}, False),
]


@run(KEY_CASE)
def test_key_names_are_case_insensitive(
    op: str, key: str, values: Any, context: dict[str, ContextValue], expected: bool
) -> None:
    assert condition_holds(op, key, values, context) is expected


def test_operators_and_keys_are_anded_values_ored() -> None:
    from policy_helpers import allow, decide

    cond = {
        "StringEquals": {"aws:username": ["alice", "bob"], "aws:PrincipalTag/team": "blue"},
        "Bool": {"aws:SecureTransport": "true"},
    }
    base: dict[str, ContextValue] = {
        "aws:username": "bob",
        "aws:PrincipalTag/team": "blue",
        "aws:SecureTransport": True,
    }
    assert decide([allow(Condition=cond)], context=base).effect == "Allow"
    changes: list[tuple[str, ContextValue]] = [
        ("aws:username", "carol"),
        ("aws:PrincipalTag/team", "red"),
        ("aws:SecureTransport", False),
    ]
    for key, bad in changes:
        assert decide([allow(Condition=cond)], context={**base, key: bad}).effect == "ImplicitDeny", key


def test_registry_has_every_documented_operator() -> None:
    from broker.policy.conditions.registry import REGISTRY

    assert sorted(REGISTRY) == sorted(
        [
            "StringEquals",
            "StringNotEquals",
            "StringEqualsIgnoreCase",
            "StringNotEqualsIgnoreCase",
            "StringLike",
            "StringNotLike",
            "NumericEquals",
            "NumericNotEquals",
            "NumericLessThan",
            "NumericLessThanEquals",
            "NumericGreaterThan",
            "NumericGreaterThanEquals",
            "DateEquals",
            "DateNotEquals",
            "DateLessThan",
            "DateLessThanEquals",
            "DateGreaterThan",
            "DateGreaterThanEquals",
            "Bool",
            "BinaryEquals",
            "IpAddress",
            "NotIpAddress",
            "ArnEquals",
            "ArnLike",
            "ArnNotEquals",
            "ArnNotLike",
            "Null",
        ]
    )
    assert DOC_OPERATORS and DOC_CONDITION and DOC_MULTI
