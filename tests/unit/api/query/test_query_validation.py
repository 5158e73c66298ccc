"""Every ValidationError rule class, with AWS's exact wording, all violations collected."""

from __future__ import annotations

import pytest
from query_helpers import CODEC, serialize

from broker.errors import ValidationError

POLICY = '{"Version":"2012-10-17","Statement":[]}'
ROLE_ARN = "arn:aws:iam::123456789012:role/ci-deploy"
PREFIX = "1 validation error detected: "


def _error(service: str, operation: str, params: dict[str, object]) -> ValidationError:
    body = serialize(service, operation, params, validate=False)
    with pytest.raises(ValidationError) as err:
        CODEC.decode_request(body, "", None)
    assert (err.value.code, err.value.status, err.value.fault_type) == ("ValidationError", 400, "Sender")
    return err.value


def _one(service: str, operation: str, params: dict[str, object], message: str) -> None:
    assert _error(service, operation, params).message == PREFIX + message


def test_length_max() -> None:
    name = "r" * 65
    _one("iam", "CreateRole", {"RoleName": name, "AssumeRolePolicyDocument": POLICY},
         f"Value '{name}' at 'roleName' failed to satisfy constraint: "
         "Member must have length less than or equal to 64")


def test_length_min() -> None:
    _one("sts", "AssumeRole", {"RoleArn": ROLE_ARN, "RoleSessionName": "a"},
         "Value 'a' at 'roleSessionName' failed to satisfy constraint: "
         "Member must have length greater than or equal to 2")


def test_length_counts_code_points() -> None:
    description = "é" * 1000  # 2000 UTF-8 bytes, 1000 characters: within max 1000
    params = CODEC.decode_request(serialize("iam", "CreateRole", {
        "RoleName": "r", "AssumeRolePolicyDocument": POLICY, "Description": description}), "", None)[1]
    assert params["Description"] == description


def test_required_member_is_null() -> None:
    _one("iam", "GetRole", {},
         "Value null at 'roleName' failed to satisfy constraint: Member must not be null")


def test_pattern() -> None:
    _one("iam", "GetRole", {"RoleName": "bad name"},
         "Value 'bad name' at 'roleName' failed to satisfy constraint: "
         r"Member must satisfy regular expression pattern: [\w+=,.@-]+")


def test_range_min_and_max() -> None:
    _one("sts", "AssumeRole", {"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "DurationSeconds": 899},
         "Value '899' at 'durationSeconds' failed to satisfy constraint: "
         "Member must have value greater than or equal to 900")
    _one("iam", "CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": POLICY, "MaxSessionDuration": 43201},
         "Value '43201' at 'maxSessionDuration' failed to satisfy constraint: "
         "Member must have value less than or equal to 43200")


def test_enum() -> None:
    _one("iam", "UpdateAccessKey", {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "Status": "Enabled"},
         "Value 'Enabled' at 'status' failed to satisfy constraint: "
         "Member must satisfy enum value set: [Active, Inactive, Expired]")


def test_nested_list_member_paths() -> None:
    _one("sts", "AssumeRole", {"RoleArn": ROLE_ARN, "RoleSessionName": "s1",
                               "PolicyArns": [{"arn": "arn:aws:iam::123456789012:policy/ok"}, {"arn": "short"}]},
         "Value 'short' at 'policyArns.2.member.arn' failed to satisfy constraint: "
         "Member must have length greater than or equal to 20")
    _one("iam", "TagRole", {"RoleName": "r", "Tags": [{"Key": "k" * 129, "Value": "v"}]},
         f"Value '{'k' * 129}' at 'tags.1.member.key' failed to satisfy constraint: "
         "Member must have length less than or equal to 128")


def test_scalar_list_member_path() -> None:
    _one("iam", "UntagRole", {"RoleName": "r", "TagKeys": ["ok", "bad*key"]},
         "Value 'bad*key' at 'tagKeys.2.member' failed to satisfy constraint: "
         r"Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+")


def test_required_member_of_list_element() -> None:
    _one("iam", "TagRole", {"RoleName": "r", "Tags": [{"Value": "v"}]},
         "Value null at 'tags.1.member.key' failed to satisfy constraint: Member must not be null")


def test_list_length() -> None:
    keys = [f"k{i}" for i in range(51)]
    _one("sts", "AssumeRole", {"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "TransitiveTagKeys": keys},
         "Value '[" + ", ".join(keys) + "]' at 'transitiveTagKeys' failed to satisfy constraint: "
         "Member must have length less than or equal to 50")


def test_iam_tag_values_are_never_echoed() -> None:
    _one("iam", "TagRole", {"RoleName": "r", "Tags": [{"Key": "k", "Value": "bad*value"}]},
         "Value at 'tags.1.member.value' failed to satisfy constraint: "
         r"Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*")


@pytest.mark.parametrize(
    ("service", "operation", "params", "message"),
    [
        ("sts", "AssumeRoleWithWebIdentity", {"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "WebIdentityToken": "ey"},
         "Value at 'webIdentityToken' failed to satisfy constraint: "
         "Member must have length greater than or equal to 4"),
        ("sts", "AssumeRoleWithSAML", {"RoleArn": ROLE_ARN, "PrincipalArn": ROLE_ARN, "SAMLAssertion": "abc"},
         "Value at 'sAMLAssertion' failed to satisfy constraint: "
         "Member must have length greater than or equal to 4"),
        ("iam", "ChangePassword", {"OldPassword": "hunter2", "NewPassword": "secret\x01x"},
         "Value at 'newPassword' failed to satisfy constraint: "
         r"Member must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u00FF]+"),
    ],
)
def test_sensitive_values_are_never_echoed(service: str, operation: str, params: dict[str, object],
                                           message: str) -> None:
    error = _error(service, operation, params)
    assert error.message == PREFIX + message
    for value in params.values():
        if value != ROLE_ARN:
            assert f"'{value}'" not in error.message and f"'{value}'" not in error.detail


def test_every_violation_is_collected_in_model_order() -> None:
    name = "bad name" + "x" * 60
    error = _error("iam", "CreateRole", {"RoleName": name, "MaxSessionDuration": 60,
                                         "Tags": [{"Key": "", "Value": "v"}]})
    assert error.message == (
        "6 validation errors detected: "
        f"Value '{name}' at 'roleName' failed to satisfy constraint: "
        "Member must have length less than or equal to 64; "
        f"Value '{name}' at 'roleName' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: [\w+=,.@-]+; "
        "Value null at 'assumeRolePolicyDocument' failed to satisfy constraint: Member must not be null; "
        "Value '60' at 'maxSessionDuration' failed to satisfy constraint: "
        "Member must have value greater than or equal to 3600; "
        "Value '' at 'tags.1.member.key' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1; "
        "Value '' at 'tags.1.member.key' failed to satisfy constraint: "
        r"Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("DurationSeconds=abc", "Value 'abc' at 'durationSeconds' failed to satisfy constraint: "
                                "Member must be a valid integer"),
        ("DurationSeconds=99999999999", "Value '99999999999' at 'durationSeconds' failed to satisfy constraint: "
                                        "Member must be a valid integer"),
        ("DurationSeconds=1.5", "Value '1.5' at 'durationSeconds' failed to satisfy constraint: "
                                "Member must be a valid integer"),
    ],
)
def test_type_errors_are_collected(raw: str, message: str) -> None:
    body = serialize("sts", "AssumeRole", {"RoleArn": ROLE_ARN, "RoleSessionName": "s1"}) + b"&" + raw.encode()
    with pytest.raises(ValidationError) as err:
        CODEC.decode_request(body, "", None)
    assert err.value.message == PREFIX + message


def test_boolean_must_be_true_or_false() -> None:
    body = serialize("iam", "CreatePolicyVersion", {"PolicyArn": ROLE_ARN, "PolicyDocument": POLICY})
    with pytest.raises(ValidationError) as err:
        CODEC.decode_request(body + b"&SetAsDefault=yes", "", None)
    assert err.value.message == (
        PREFIX + "Value 'yes' at 'setAsDefault' failed to satisfy constraint: Member must be true or false")
    assert CODEC.decode_request(body + b"&SetAsDefault=TRUE", "", None)[1]["SetAsDefault"] is True


def test_list_given_as_scalar() -> None:
    body = serialize("iam", "UntagRole", {"RoleName": "r", "TagKeys": []}).replace(b"TagKeys=", b"TagKeys=a")
    with pytest.raises(ValidationError) as err:
        CODEC.decode_request(body, "", None)
    assert err.value.message == (
        PREFIX + "Value 'a' at 'tagKeys' failed to satisfy constraint: Member must be a list")
