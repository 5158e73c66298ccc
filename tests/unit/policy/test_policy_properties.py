"""Properties of the evaluation rule ("Policy evaluation logic", DOC_EVAL; "Permissions boundaries",
DOC_BOUNDARY; "Session policies", DOC_SESSION): a Deny never widens, an Allow never narrows, a boundary or
session policy never widens, evaluation is deterministic and never raises for a valid policy."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.policy import ContextValue, PolicySet, Request, compile_policy, evaluate

ACTION_PATTERNS = ["s3:GetObject", "s3:Get*", "s3:*", "iam:*", "*", "iam:?etRole", "s3:PutObject", "ec2:Describe*"]
ACTIONS = ["s3:GetObject", "s3:PutObject", "iam:GetRole", "iam:CreateRole", "ec2:DescribeInstances"]
RESOURCE_PATTERNS = [
    "*",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b/k",
    "arn:aws:iam::123456789012:role/*",
    "arn:aws:iam::*:*",
    "arn:aws:s3:::b/${aws:username}/*",
]
RESOURCES = ["arn:aws:s3:::b/k", "arn:aws:s3:::b/alice/x", "arn:aws:iam::123456789012:role/r", "*"]
CONDITIONS: list[dict[str, Any] | None] = [
    None,
    {"StringEquals": {"aws:username": "alice"}},
    {"StringNotEquals": {"aws:username": ["alice", "bob"]}},
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}},
    {"ForAnyValue:StringLike": {"aws:TagKeys": "a*"}},
    {"DateLessThan": {"aws:CurrentTime": "2026-06-01T00:00:00Z"}},
    {"Null": {"aws:username": "false"}},
    {"StringLikeIfExists": {"s3:prefix": "home/*"}},
]
CONTEXTS: list[dict[str, ContextValue]] = [
    {},
    {"aws:username": "alice", "aws:SourceIp": "10.1.2.3", "aws:SecureTransport": True},
    {"aws:username": "bob", "aws:SourceIp": "192.0.2.1", "aws:TagKeys": ["a", "c"], "aws:CurrentTime": "2026-01-01"},
    {"aws:TagKeys": [], "s3:prefix": "home/x", "aws:CurrentTime": "2027-01-01T00:00:00Z"},
]


@st.composite
def statements(draw: st.DrawFn, effect: str | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": effect or draw(st.sampled_from(["Allow", "Deny"]))}
    key = draw(st.sampled_from(["Action", "Action", "Action", "NotAction"]))
    statement[key] = draw(st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=3))
    rkey = draw(st.sampled_from(["Resource", "Resource", "Resource", "NotResource"]))
    statement[rkey] = draw(st.lists(st.sampled_from(RESOURCE_PATTERNS), min_size=1, max_size=2))
    condition = draw(st.sampled_from(CONDITIONS))
    if condition is not None:
        statement["Condition"] = condition
    return statement


policies = st.lists(st.lists(statements(), min_size=1, max_size=5), min_size=0, max_size=4)
requests = st.builds(Request, st.sampled_from(ACTIONS), st.sampled_from(RESOURCES), st.sampled_from(CONTEXTS))
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_n = 0


def compiled_set(groups: list[list[dict[str, Any]]], kind: Any = "identity") -> list[Any]:
    global _n
    out = []
    for group in groups:
        _n += 1
        text = json.dumps({"Version": "2012-10-17", "Statement": group})
        out.append(compile_policy(text, policy_id=f"prop-{_n}", kind=kind))
    return out


def effect(request: Request, identity: list[list[dict[str, Any]]], **sets: Any) -> str:
    return evaluate(request, PolicySet(identity=compiled_set(identity), **sets)).effect


@SETTINGS
@given(policies, statements(effect="Deny"), requests)
def test_adding_a_deny_never_widens(
    groups: list[list[dict[str, Any]]], extra: dict[str, Any], request: Request
) -> None:
    before = effect(request, groups)
    after = effect(request, [*groups, [extra]])
    if before != "Allow":
        assert after != "Allow"
    if before == "ExplicitDeny":
        assert after == "ExplicitDeny"


@SETTINGS
@given(policies, statements(effect="Allow"), requests)
def test_adding_an_allow_never_narrows(
    groups: list[list[dict[str, Any]]], extra: dict[str, Any], request: Request
) -> None:
    before = effect(request, groups)
    after = effect(request, [*groups, [extra]])
    if before == "Allow":
        assert after == "Allow"
    if before == "ExplicitDeny":
        assert after == "ExplicitDeny"


@SETTINGS
@given(policies, st.lists(statements(), min_size=1, max_size=4), requests)
def test_a_boundary_never_widens(
    groups: list[list[dict[str, Any]]], bound: list[dict[str, Any]], request: Request
) -> None:
    without = effect(request, groups)
    with_boundary = effect(request, groups, boundary=compiled_set([bound], "boundary"))
    if with_boundary == "Allow":
        assert without == "Allow"


@SETTINGS
@given(policies, st.lists(statements(), min_size=1, max_size=4), requests)
def test_a_session_policy_never_widens(
    groups: list[list[dict[str, Any]]], session: list[dict[str, Any]], request: Request
) -> None:
    without = effect(request, groups)
    with_session = effect(request, groups, session=compiled_set([session], "session"))
    if with_session == "Allow":
        assert without == "Allow"


@SETTINGS
@given(policies, requests)
def test_evaluation_is_deterministic_and_never_errors(groups: list[list[dict[str, Any]]], request: Request) -> None:
    compiled = compiled_set(groups)
    first = evaluate(request, PolicySet(identity=compiled))
    assert first.errors == ()
    again = evaluate(request, PolicySet(identity=compiled))
    fresh = evaluate(request, PolicySet(identity=compiled_set(groups)))
    assert again == first
    assert (fresh.effect, fresh.missing_context_keys, len(fresh.matched)) == (
        first.effect,
        first.missing_context_keys,
        len(first.matched),
    )


@SETTINGS
@given(policies, requests)
def test_policy_order_does_not_change_the_effect(groups: list[list[dict[str, Any]]], request: Request) -> None:
    assert effect(request, groups) == effect(request, list(reversed(groups)))
