"""Action, resource and principal matching; policy variables.

Sources per table: "IAM JSON policy elements: Action" (DOC_ACTION), "NotAction" (DOC_NOTACTION),
"Resource" (DOC_RESOURCE), "NotResource" (DOC_NOTRESOURCE), "Principal" (DOC_PRINCIPAL) and
"IAM policy elements: Variables and tags" (DOC_VARIABLES).
"""

from __future__ import annotations

from typing import Any

import pytest
from policy_helpers import (
    ACCOUNT,
    DOC_ACTION,
    DOC_NOTACTION,
    DOC_NOTRESOURCE,
    DOC_PRINCIPAL,
    DOC_RESOURCE,
    DOC_VARIABLES,
    ROLE_ARN,
    SESSION_ARN,
    USER_ARN,
    allow,
    decide,
)

from broker.policy import ContextValue, PrincipalRef
from broker.policy.principals import ACCOUNT as BY_ACCOUNT
from broker.policy.principals import DIRECT, NONE, ROLE, PrincipalMatcher, check_principal

ACTIONS: list[tuple[Any, str, bool]] = [  # DOC_ACTION
    ("iam:CreateRole", "iam:CreateRole", True),
    ("iam:CreateRole", "IAM:createrole", True),
    ("IAM:CREATEROLE", "iam:CreateRole", True),
    ("iam:Create*", "iam:CreateRole", True),
    ("iam:create*", "IAM:CreateRole", True),
    ("iam:*Role", "iam:DeleteRole", True),
    ("iam:*Role", "iam:DeleteRolePolicy", False),
    ("iam:?etRole", "iam:GetRole", True),
    ("iam:?etRole", "iam:GGetRole", False),
    ("iam:*", "iam:ListRoles", True),
    ("iam:*", "s3:ListBucket", False),
    ("*", "s3:ListBucket", True),
    ("*:List*", "s3:ListBucket", True),
    ("*:Get*", "s3:ListBucket", False),
    ("s3:Get*", "s3:PutObject", False),
    ("iam:CreateRole", "iam:CreateRoles", False),
    ("iam:CreateRole", "iam:CreateRol", False),
    (["s3:GetObject", "iam:Get*"], "iam:GetUser", True),
    (["s3:GetObject", "iam:Get*"], "iam:ListUsers", False),
    ("iam:Create.Role", "iam:CreateXRole", False),
]


@pytest.mark.parametrize(("pattern", "action", "expected"), ACTIONS)
def test_action_matching(pattern: Any, action: str, expected: bool) -> None:
    assert (decide([allow(pattern)], action).effect == "Allow") is expected


NOT_ACTIONS: list[tuple[Any, str, bool]] = [  # DOC_NOTACTION
    ("iam:*", "s3:GetObject", True),
    ("iam:*", "iam:CreateRole", False),
    (["iam:*", "s3:Delete*"], "s3:DeleteObject", False),
    (["iam:*", "s3:Delete*"], "s3:GetObject", True),
    ("IAM:createrole", "iam:CreateRole", False),
]


@pytest.mark.parametrize(("pattern", "action", "expected"), NOT_ACTIONS)
def test_not_action(pattern: Any, action: str, expected: bool) -> None:
    statement = {"Effect": "Allow", "NotAction": pattern, "Resource": "*"}
    assert (decide([statement], action).effect == "Allow") is expected


def test_not_action_deny_exempts_listed_actions() -> None:
    statements = [allow(), {"Effect": "Deny", "NotAction": ["iam:Get*", "iam:List*"], "Resource": "*"}]
    assert decide(statements, "iam:ListRoles").effect == "Allow"
    assert decide(statements, "iam:CreateRole").effect == "ExplicitDeny"


RESOURCES: list[tuple[Any, str, bool]] = [  # DOC_RESOURCE
    ("*", "arn:aws:s3:::b/k", True),
    ("*", "*", True),
    ("arn:aws:s3:::b/k", "arn:aws:s3:::b/k", True),
    ("arn:aws:s3:::b/k", "arn:aws:s3:::b/K", False),
    ("arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b/c", True),
    ("arn:aws:s3:::b/*", "arn:aws:s3:::b", False),
    ("arn:aws:s3:::b*", "arn:aws:s3:::bucket/x", True),
    ("arn:aws:s3:::b/?", "arn:aws:s3:::b/x", True),
    ("arn:aws:s3:::b/?", "arn:aws:s3:::b/xy", False),
    ("arn:aws:iam::123456789012:role/*", "arn:aws:iam::123456789012:role/path/app", True),
    ("arn:aws:iam::*:role/app", "arn:aws:iam::123456789012:role/app", True),
    ("arn:aws:iam::*:role/app", "arn:aws:iam::123456789012:role/App", False),
    ("arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:us-east-1:123456789012:instance/i-1", True),
    ("arn:aws:ec2:us-*:*:instance/*", "arn:aws:ec2:eu-west-1:123456789012:instance/i-1", False),
    ("arn:aws:ec2:*:*:*", "arn:aws:ec2:us-east-1:123456789012:instance/i-1", True),
    ("arn:aws:logs:*:*:log-group:app:*", "arn:aws:logs:us-east-1:123456789012:log-group:app:log-stream:x", True),
    ("arn:aws:s3:::*", "*", False),
    ("arn:aws:s3:::b/k", "arn:aws:s3:::b/k/", False),
    (["arn:aws:s3:::a/*", "arn:aws:s3:::b/*"], "arn:aws:s3:::b/x", True),
    ("arn:aws:s3:::b/a.b", "arn:aws:s3:::b/aXb", False),
    ("arn:aws:dynamodb:*:*:table/t*", "arn:aws:dynamodb:us-east-1:123456789012:table/t1", True),
    # "prefix*" in the resource segment is matched with startswith; colons after the fifth are free
    ("arn:aws:s3:::b/*", "arn:aws:s3:::b/a:b:c", True),
    ("arn:aws:sqs:us-east-1:123456789012:q*", "arn:aws:sqs:us-east-1:123456789012:queue-1", True),
    ("arn:aws:sqs:us-east-1:123456789012:q*", "arn:aws:sqs:us-east-1:123456789012:Queue", False),
    ("arn:aws:sqs:us-east-1:*:*", "arn:aws:sqs:us-east-1:123456789012:queue-1", True),
    (["arn:aws:s3:::a/*", "arn:aws:s3:::b/x?", "arn:aws:s3:::c"], "arn:aws:s3:::b/xy", True),
    (["arn:aws:s3:::a/*", "arn:aws:s3:::b/x?", "arn:aws:s3:::c"], "arn:aws:s3:::c", True),
    (["arn:aws:s3:::a/*", "arn:aws:s3:::b/x?", "arn:aws:s3:::c"], "arn:aws:s3:::a", False),
]


@pytest.mark.parametrize(("pattern", "resource", "expected"), RESOURCES)
def test_resource_matching(pattern: Any, resource: str, expected: bool) -> None:
    assert (decide([allow("s3:GetObject", pattern)], "s3:GetObject", resource).effect == "Allow") is expected


NOT_RESOURCES: list[tuple[Any, str, bool]] = [  # DOC_NOTRESOURCE
    ("arn:aws:s3:::secret/*", "arn:aws:s3:::public/x", True),
    ("arn:aws:s3:::secret/*", "arn:aws:s3:::secret/x", False),
    ("*", "arn:aws:s3:::public/x", False),
    (["arn:aws:s3:::a/*", "arn:aws:s3:::b"], "arn:aws:s3:::b", False),
    (["arn:aws:s3:::a/*", "arn:aws:s3:::b/?"], "arn:aws:s3:::b/x", False),
    (["arn:aws:s3:::a/*", "arn:aws:s3:::b/?"], "arn:aws:s3:::a/deep/x", False),
    (["arn:aws:s3:::a/*", "arn:aws:s3:::b/?"], "arn:aws:s3:::c/x", True),
]


@pytest.mark.parametrize(("pattern", "resource", "expected"), NOT_RESOURCES)
def test_not_resource(pattern: Any, resource: str, expected: bool) -> None:
    statement = {"Effect": "Allow", "Action": "s3:*", "NotResource": pattern}
    assert (decide([statement], "s3:GetObject", resource).effect == "Allow") is expected


VARIABLES: list[tuple[str, str, dict[str, ContextValue], bool]] = [  # DOC_VARIABLES
    ("arn:aws:s3:::b/${aws:username}/*", "arn:aws:s3:::b/alice/x", {"aws:username": "alice"}, True),
    ("arn:aws:s3:::b/${aws:username}/*", "arn:aws:s3:::b/bob/x", {"aws:username": "alice"}, False),
    ("arn:aws:s3:::b/${aws:username}/*", "arn:aws:s3:::b/alice/x", {}, False),
    ("arn:aws:s3:::b/${AWS:UserName}/*", "arn:aws:s3:::b/alice/x", {"aws:username": "alice"}, True),
    ("arn:aws:s3:::b/${aws:username}", "arn:aws:s3:::b/al*", {"aws:username": "al*"}, True),
    ("arn:aws:s3:::b/${aws:username}", "arn:aws:s3:::b/alice", {"aws:username": "al*"}, False),
    ("arn:aws:s3:::b/${aws:PrincipalTag/team, 'shared'}/*", "arn:aws:s3:::b/shared/x", {}, True),
    (
        "arn:aws:s3:::b/${aws:PrincipalTag/team, 'shared'}/*",
        "arn:aws:s3:::b/blue/x",
        {"aws:PrincipalTag/team": "blue"},
        True,
    ),
    (
        "arn:aws:s3:::b/${aws:PrincipalTag/team, 'shared'}/*",
        "arn:aws:s3:::b/shared/x",
        {"aws:PrincipalTag/team": "blue"},
        False,
    ),
    ("arn:aws:s3:::b/${aws:PrincipalTag/team, 'it''s'}", "arn:aws:s3:::b/it's", {}, True),
    ("arn:aws:s3:::b/${*}", "arn:aws:s3:::b/*", {}, True),
    ("arn:aws:s3:::b/${*}", "arn:aws:s3:::b/x", {}, False),
    ("arn:aws:s3:::b/${?}", "arn:aws:s3:::b/?", {}, True),
    ("arn:aws:s3:::b/${?}", "arn:aws:s3:::b/x", {}, False),
    ("arn:aws:s3:::b/${$}x", "arn:aws:s3:::b/$x", {}, True),
    ("arn:aws:s3:::b/${saml:sub}/*", "arn:aws:s3:::b/u-1/k", {"saml:sub": "u-1"}, True),
    ("arn:aws:s3:::b/${idp.example/realms/x:sub}/*", "arn:aws:s3:::b/u-2/k", {"idp.example/realms/x:sub": "u-2"}, True),
    ("arn:aws:s3:::b/${aws:TagKeys}", "arn:aws:s3:::b/a", {"aws:TagKeys": ["a"]}, False),
    ("arn:aws:s3:::b/${aws:username}", "arn:aws:s3:::b/${aws:username}", {"aws:username": "${aws:username}"}, True),
    (
        "arn:aws:s3:::b/${aws:username}/${aws:userid}",
        "arn:aws:s3:::b/a/AIDA1",
        {"aws:username": "a", "aws:userid": "AIDA1"},
        True,
    ),
]


@pytest.mark.parametrize(("pattern", "resource", "context", "expected"), VARIABLES)
def test_policy_variables_in_resource(
    pattern: str, resource: str, context: dict[str, ContextValue], expected: bool
) -> None:
    assert (decide([allow("s3:*", pattern)], "s3:GetObject", resource, context).effect == "Allow") is expected


def test_variables_are_literal_under_2008_version() -> None:
    statement = allow("s3:*", "arn:aws:s3:::b/${aws:username}")
    assert decide([statement], "s3:GetObject", "arn:aws:s3:::b/${aws:username}", version="2008-10-17").allowed
    assert not decide(
        [statement], "s3:GetObject", "arn:aws:s3:::b/alice", {"aws:username": "alice"}, version="2008-10-17"
    ).allowed
    assert not decide(
        [statement], "s3:GetObject", "arn:aws:s3:::b/alice", {"aws:username": "alice"}, version=None
    ).allowed


CONDITION_VARIABLES: list[tuple[str, Any, dict[str, ContextValue], bool]] = [  # DOC_VARIABLES
    ("StringEquals", "${aws:username}", {"s3:prefix": "alice", "aws:username": "alice"}, True),
    ("StringEquals", "${aws:username}", {"s3:prefix": "bob", "aws:username": "alice"}, False),
    ("StringEquals", "${aws:username}", {"s3:prefix": "alice"}, False),
    ("StringNotEquals", "${aws:username}", {"s3:prefix": "alice"}, True),
    ("StringLike", "home/${aws:username}/*", {"s3:prefix": "home/alice/x", "aws:username": "alice"}, True),
    ("StringLike", "home/${aws:username}/*", {"s3:prefix": "home/bob/x", "aws:username": "alice"}, False),
    ("StringLike", "home/${aws:username}", {"s3:prefix": "home/alice", "aws:username": "a*"}, False),
    ("StringLike", ["home/${aws:username}/*", "public/*"], {"s3:prefix": "public/x"}, True),
    ("StringLike", "home/${*}", {"s3:prefix": "home/*"}, True),
    ("StringLike", "home/${*}", {"s3:prefix": "home/x"}, False),
    ("StringEquals", "${aws:PrincipalTag/team, 'none'}", {"s3:prefix": "none"}, True),
]


@pytest.mark.parametrize(("op", "value", "context", "expected"), CONDITION_VARIABLES)
def test_policy_variables_in_conditions(op: str, value: Any, context: dict[str, ContextValue], expected: bool) -> None:
    statement = allow(Condition={op: {"s3:prefix": value}})
    assert (decide([statement], context=context).effect == "Allow") is expected


def test_arn_condition_variable() -> None:
    statement = allow(Condition={"ArnLike": {"aws:SourceArn": "arn:aws:iam::*:user/${aws:username}"}})
    ctx: dict[str, ContextValue] = {"aws:SourceArn": USER_ARN, "aws:username": "alice"}
    assert decide([statement], context=ctx).allowed
    assert not decide([statement], context={**ctx, "aws:username": "bob"}).allowed


# ---- principals (resource-based and trust policies) ------------------------------------------------------
USER = PrincipalRef(USER_ARN, ACCOUNT)
SESSION = PrincipalRef(SESSION_ARN, ACCOUNT, role_arn=ROLE_ARN)
ROOT = PrincipalRef(f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT)
OTHER_USER = PrincipalRef("arn:aws:iam::210987654321:user/mallory", "210987654321")
OIDC = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
WEB = PrincipalRef(OIDC, None, "Federated")
EC2 = PrincipalRef("ec2.amazonaws.com", None, "Service")

PRINCIPALS: list[tuple[Any, PrincipalRef, int]] = [  # DOC_PRINCIPAL
    ({"AWS": USER_ARN}, USER, DIRECT),
    ({"AWS": [ROLE_ARN, USER_ARN]}, USER, DIRECT),
    ({"AWS": USER_ARN}, OTHER_USER, NONE),
    ({"AWS": ACCOUNT}, USER, BY_ACCOUNT),
    ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, USER, BY_ACCOUNT),
    ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, ROOT, DIRECT),
    ({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, OTHER_USER, NONE),
    ({"AWS": ROLE_ARN}, SESSION, ROLE),
    ({"AWS": SESSION_ARN}, SESSION, DIRECT),
    ({"AWS": ROLE_ARN}, USER, NONE),
    ({"AWS": "*"}, OTHER_USER, ROLE),
    ({"AWS": "*"}, WEB, NONE),
    ("*", WEB, ROLE),
    ("*", EC2, ROLE),
    ({"Federated": OIDC}, WEB, DIRECT),
    ({"Federated": OIDC}, USER, NONE),
    ({"Federated": "accounts.google.com"}, WEB, NONE),
    ({"Service": "ec2.amazonaws.com"}, EC2, DIRECT),
    ({"Service": ["lambda.amazonaws.com"]}, EC2, NONE),
    ({"Service": "ec2.amazonaws.com"}, USER, NONE),
]


@pytest.mark.parametrize(("element", "ref", "level"), PRINCIPALS)
def test_principal_levels(element: Any, ref: PrincipalRef, level: int) -> None:
    problems: list[Any] = []
    spec = check_principal(element, "/p", problems)
    assert problems == [] and spec is not None
    assert PrincipalMatcher(spec).level(ref) == level
    assert PrincipalMatcher(spec).level(None) == NONE


NOT_PRINCIPALS: list[tuple[Any, PrincipalRef, bool]] = [  # DOC_PRINCIPAL (NotPrincipal)
    ({"AWS": USER_ARN}, USER, False),
    ({"AWS": USER_ARN}, OTHER_USER, True),
    ({"AWS": ROLE_ARN}, SESSION, True),
    ({"AWS": [ROLE_ARN, SESSION_ARN]}, SESSION, False),
    ("*", USER, False),
]


@pytest.mark.parametrize(("element", "ref", "applies"), NOT_PRINCIPALS)
def test_not_principal(element: Any, ref: PrincipalRef, applies: bool) -> None:
    spec = check_principal(element, "/p", [])
    assert spec is not None
    assert (PrincipalMatcher(spec, negated=True).level(ref) != NONE) is applies


def test_sources_cited() -> None:
    for url in (DOC_ACTION, DOC_NOTACTION, DOC_RESOURCE, DOC_NOTRESOURCE, DOC_PRINCIPAL, DOC_VARIABLES):
        assert url.startswith("https://docs.aws.amazon.com/IAM/latest/UserGuide/")
