"""Tag rules and policy-document checks shared by the IAM operations."""

from __future__ import annotations

import pytest

from broker.errors import InvalidInput, LimitExceeded, MalformedPolicyDocument
from broker.service.iam.validation import check_policy, check_tags, document_size, tag_context


def test_tags_ok_and_context() -> None:
    pairs = check_tags([{"Key": "Team", "Value": "a"}, {"Key": "env", "Value": ""}])
    assert pairs == [("Team", "a"), ("env", "")]
    assert tag_context(pairs) == {
        "aws:RequestTag/Team": ["a"],
        "aws:RequestTag/env": [""],
        "aws:TagKeys": ["Team", "env"],
    }
    assert tag_context([]) == {}


def test_duplicate_keys_case_insensitive() -> None:
    with pytest.raises(InvalidInput) as err:
        check_tags([{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])
    assert err.value.message == "Duplicate tag keys found. Please note that Tag keys are case insensitive."


def test_aws_prefix_reserved() -> None:
    with pytest.raises(InvalidInput) as err:
        check_tags([{"Key": "AWS:thing", "Value": "1"}])
    assert err.value.message == "Tag keys beginning with 'aws:' are reserved for AWS use."


def test_fifty_tags_counting_existing() -> None:
    existing = [(f"k{i}", "v") for i in range(49)]
    check_tags([{"Key": "K0", "Value": "overwrite"}, {"Key": "new", "Value": "v"}], existing)  # 50 distinct
    with pytest.raises(LimitExceeded) as err:
        check_tags([{"Key": "new", "Value": "v"}, {"Key": "new2", "Value": "v"}], existing)
    assert err.value.message == "The number of tags has reached the maximum limit."


def test_document_size_ignores_whitespace_outside_strings() -> None:
    assert document_size('{ "a" : "b c" }') == len('{"a":"b c"}')


def test_check_policy() -> None:
    good = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'
    check_policy(good, "identity", 6144)
    with pytest.raises(MalformedPolicyDocument) as err:
        check_policy("{not json", "identity", 6144)
    assert err.value.message == "Syntax errors in policy."
    with pytest.raises(LimitExceeded) as big:
        check_policy(good, "identity", 20)
    assert big.value.message == "Cannot exceed quota for PolicySize: 20"
