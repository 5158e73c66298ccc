"""Policy variable syntax and the general condition path (variables with set operators, Null).

Source: "IAM policy elements: Variables and tags"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html) and "Single-valued vs.
multivalued context keys" (set operators).
"""

from __future__ import annotations

from typing import Any

import pytest
from policy_helpers import allow, decide, doc

from broker.policy import ContextValue, guess_kind, validate
from broker.policy.variables import Template, VariableSyntaxError, parse_template


def test_no_variable_means_no_template() -> None:
    assert parse_template("arn:aws:s3:::b/*") is None
    assert parse_template("a $ {b}") is None


@pytest.mark.parametrize(
    ("source", "ctx", "literal", "tokens"),  # an unterminated "${" stays literal
    [
        (
            "home/${aws:username}/*",
            {"aws:username": "al.ice"},
            "home/al.ice/*",
            (("home/", True), ("al.ice", False), ("/*", True)),
        ),
        ("${AWS:UserName}", {"aws:username": "a*"}, "a*", (("a*", False),)),
        ("${aws:PrincipalTag/team, 'x y'}", {}, "x y", (("x y", False),)),
        ("${aws:PrincipalTag/team,'x'}", {}, "x", (("x", False),)),
        ("${ aws:username }", {"aws:username": "a"}, "a", (("a", False),)),
        ("${*}${?}${$}", {}, "*?$", (("*", False), ("?", False), ("$", False))),
        ("${aws:PrincipalTag/t, 'it''s'}", {}, "it's", (("it's", False),)),
        ("${aws:PrincipalTag/t, ''}", {}, "", (("", False),)),
        ("x${aws:username", {}, "x${aws:username", (("x${aws:username", True),)),
    ],
)
def test_render(source: str, ctx: dict[str, str], literal: str, tokens: tuple[tuple[str, bool], ...]) -> None:
    template = parse_template(source)
    assert isinstance(template, Template)
    assert template.render(ctx) == literal
    assert template.render_tokens(ctx) == tokens


def test_unresolvable_and_multivalued_variables_render_none() -> None:
    template = parse_template("${aws:username}")
    assert template is not None
    assert template.render({}) is None
    assert template.render({"aws:username": ("a", "b")}) is None
    assert template.render_tokens({}) is None


@pytest.mark.parametrize("source", ["${}", "${aws:username, default}", "${no-vendor}", "${a b:c}", "${aws:x, 'a}"])
def test_bad_variable_syntax(source: str) -> None:
    with pytest.raises(VariableSyntaxError):
        parse_template(source)


def test_bad_variable_is_a_validation_problem_only_under_2012() -> None:
    statement = allow("s3:*", "arn:aws:s3:::b/${no-vendor}")
    assert [p.message for p in validate(doc(statement), "identity")] == ["Invalid policy variable ${no-vendor}"]
    assert validate(doc(statement, version="2008-10-17"), "identity") == []


GENERAL: list[tuple[str, Any, dict[str, ContextValue], bool]] = [
    ("ForAnyValue:StringLike", "${aws:username}-*", {"aws:TagKeys": ["x", "alice-1"], "aws:username": "alice"}, True),
    ("ForAnyValue:StringLike", "${aws:username}-*", {"aws:TagKeys": ["x", "bob-1"], "aws:username": "alice"}, False),
    (
        "ForAllValues:StringEquals",
        ["${aws:username}", "shared"],
        {"aws:TagKeys": ["alice", "shared"], "aws:username": "alice"},
        True,
    ),
    (
        "ForAllValues:StringEquals",
        ["${aws:username}", "shared"],
        {"aws:TagKeys": ["alice", "other"], "aws:username": "alice"},
        False,
    ),
    ("ForAllValues:StringEquals", "${aws:username}", {"aws:TagKeys": ["alice"]}, False),
    ("ForAnyValue:StringNotEquals", "${aws:username}", {"aws:TagKeys": ["alice"]}, True),
    ("StringLikeIfExists", "${aws:username}*", {}, True),
    ("ForAnyValue:StringEqualsIfExists", "a", {}, True),
    ("ForAllValues:StringEqualsIfExists", "a", {"aws:TagKeys": ["b"]}, False),
]


@pytest.mark.parametrize(("op", "values", "context", "expected"), GENERAL)
def test_general_condition_path(op: str, values: Any, context: dict[str, ContextValue], expected: bool) -> None:
    statement = allow(Condition={op: {"aws:TagKeys": values}})
    assert (decide([statement], context=context).effect == "Allow") is expected


@pytest.mark.parametrize(
    ("statements", "kind"),
    [
        ([allow()], "identity"),
        ([{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}], "trust"),
        ([{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}], "resource"),
    ],
)
def test_guess_kind(statements: list[dict[str, Any]], kind: str) -> None:
    assert guess_kind(doc(*statements)) == kind
    assert guess_kind("not json") == "identity"
