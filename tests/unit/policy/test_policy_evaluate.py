"""The evaluation rule, one scenario per row, each citing its AWS page; and the reasons a Decision carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from policy_helpers import (
    ACCOUNT,
    DOC_BOUNDARY,
    DOC_CROSS,
    DOC_EVAL,
    DOC_EVAL_RESOURCE,
    DOC_SESSION,
    OTHER_ACCOUNT,
    ROLE_ARN,
    SESSION_ARN,
    USER_ARN,
    allow,
    compiled,
    deny,
    doc,
)

from broker.policy import (
    CompiledPolicy,
    Decision,
    MatchedStatement,
    PolicySet,
    PrincipalRef,
    Request,
    evaluate,
    explain,
)

USER = PrincipalRef(USER_ARN, ACCOUNT)
SESSION = PrincipalRef(SESSION_ARN, ACCOUNT, role_arn=ROLE_ARN)
OTHER = PrincipalRef(f"arn:aws:iam::{OTHER_ACCOUNT}:user/bob", OTHER_ACCOUNT)
BUCKET = "arn:aws:s3:::b/k"


def res_policy(principal: Any, effect: str = "Allow", action: str = "s3:GetObject") -> dict[str, Any]:
    return {"Effect": effect, "Principal": principal, "Action": action, "Resource": "*"}


def trust(principal: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}


@dataclass
class Case:
    name: str
    source: str
    identity: list[dict[str, Any]] = field(default_factory=list)
    resource: list[dict[str, Any]] | None = None
    boundary: list[dict[str, Any]] | None = None
    session: list[dict[str, Any]] | None = None
    action: str = "s3:GetObject"
    principal: PrincipalRef | None = None
    resource_account: str | None = None
    kind: str = "resource"
    expect: str = "Allow"
    reason: str | None = None


def policy_set(case: Case) -> PolicySet:
    def one(statements: list[dict[str, Any]] | None, kind: Any) -> list[CompiledPolicy] | None:
        if statements is None:
            return None
        return [compiled(doc(*statements), kind)] if statements else []

    return PolicySet(
        identity=one(case.identity, "identity") or [],
        resource=one(case.resource, case.kind) or [],
        boundary=one(case.boundary, "boundary"),
        session=one(case.session, "session"),
    )


CASES = [
    Case("default deny", DOC_EVAL, expect="ImplicitDeny", reason="no identity-based policy allows the action"),
    Case("identity allow", DOC_EVAL, [allow()], reason="identity-based policies allow the action"),
    Case(
        "deny wins in same policy",
        DOC_EVAL,
        [allow(), deny()],
        expect="ExplicitDeny",
        reason="an explicit Deny statement applies",
    ),
    Case("deny for other action does not apply", DOC_EVAL, [allow(), deny("s3:PutObject")]),
    Case("deny in boundary wins", DOC_BOUNDARY, [allow()], boundary=[allow(), deny()], expect="ExplicitDeny"),
    Case("deny in session policy wins", DOC_SESSION, [allow()], session=[deny()], expect="ExplicitDeny"),
    Case(
        "deny in resource policy wins",
        DOC_EVAL_RESOURCE,
        [allow()],
        resource=[res_policy("*", "Deny")],
        principal=USER,
        expect="ExplicitDeny",
    ),
    Case("boundary allows too", DOC_BOUNDARY, [allow()], boundary=[allow("s3:*")]),
    Case(
        "boundary does not allow",
        DOC_BOUNDARY,
        [allow()],
        boundary=[allow("iam:*")],
        expect="ImplicitDeny",
        reason="the permissions boundary does not allow the action",
    ),
    Case(
        "boundary alone grants nothing",
        DOC_BOUNDARY,
        [],
        boundary=[allow()],
        expect="ImplicitDeny",
        reason="no identity-based policy allows the action",
    ),
    Case("empty boundary list denies", DOC_BOUNDARY, [allow()], boundary=[], expect="ImplicitDeny"),
    Case("session policy allows too", DOC_SESSION, [allow()], session=[allow("s3:Get*")]),
    Case(
        "session policy does not allow",
        DOC_SESSION,
        [allow()],
        session=[allow("s3:Put*")],
        expect="ImplicitDeny",
        reason="no session policy allows the action",
    ),
    Case("session policy cannot grant", DOC_SESSION, [allow("iam:*")], session=[allow()], expect="ImplicitDeny"),
    Case("federated user without session policy", DOC_SESSION, [allow()], session=[], expect="ImplicitDeny"),
    Case(
        "resource policy names user: enough alone",
        DOC_EVAL_RESOURCE,
        [],
        resource=[res_policy({"AWS": USER_ARN})],
        principal=USER,
        reason="a resource-based policy allows and names the principal directly",
    ),
    Case(
        "resource policy names user: boundary cannot limit",
        DOC_BOUNDARY,
        [],
        resource=[res_policy({"AWS": USER_ARN})],
        boundary=[allow("iam:*")],
        principal=USER,
    ),
    Case(
        "resource policy names session: session policy cannot limit",
        DOC_SESSION,
        [],
        resource=[res_policy({"AWS": SESSION_ARN})],
        session=[allow("iam:*")],
        principal=SESSION,
    ),
    Case(
        "resource policy names role: enough without identity",
        DOC_EVAL_RESOURCE,
        [],
        resource=[res_policy({"AWS": ROLE_ARN})],
        principal=SESSION,
        reason="a resource-based policy naming the role allows the action",
    ),
    Case(
        "resource policy names role: boundary limits",
        DOC_BOUNDARY,
        [],
        resource=[res_policy({"AWS": ROLE_ARN})],
        boundary=[allow("iam:*")],
        principal=SESSION,
        expect="ImplicitDeny",
    ),
    Case(
        "resource policy names role: session policy limits",
        DOC_SESSION,
        [],
        resource=[res_policy({"AWS": ROLE_ARN})],
        session=[allow("iam:*")],
        principal=SESSION,
        expect="ImplicitDeny",
    ),
    Case(
        "resource policy names account: identity needed",
        DOC_EVAL_RESOURCE,
        [],
        resource=[res_policy({"AWS": ACCOUNT})],
        principal=USER,
        expect="ImplicitDeny",
    ),
    Case(
        "resource policy names account and identity allows",
        DOC_EVAL_RESOURCE,
        [allow()],
        resource=[res_policy({"AWS": ACCOUNT})],
        principal=USER,
    ),
    Case(
        "resource policy for someone else: identity still allows",
        DOC_EVAL_RESOURCE,
        [allow()],
        resource=[res_policy({"AWS": "arn:aws:iam::123456789012:user/carol"})],
        principal=USER,
    ),
    Case(
        "resource policy without caller given", DOC_EVAL_RESOURCE, [], resource=[res_policy("*")], expect="ImplicitDeny"
    ),
    Case(
        "star principal does not bypass boundary",
        DOC_BOUNDARY,
        [],
        resource=[res_policy("*")],
        boundary=[allow("iam:*")],
        principal=USER,
        expect="ImplicitDeny",
    ),
    Case(
        "trust names user: identity not needed",
        DOC_EVAL_RESOURCE,
        [],
        resource=[trust({"AWS": USER_ARN})],
        action="sts:AssumeRole",
        principal=USER,
        kind="trust",
    ),
    Case(
        "trust names account: identity needed",
        DOC_EVAL_RESOURCE,
        [],
        resource=[trust({"AWS": ACCOUNT})],
        action="sts:AssumeRole",
        principal=USER,
        kind="trust",
        expect="ImplicitDeny",
    ),
    Case(
        "trust names account and identity allows",
        DOC_EVAL_RESOURCE,
        [allow("sts:AssumeRole")],
        resource=[trust({"AWS": ACCOUNT})],
        action="sts:AssumeRole",
        principal=USER,
        kind="trust",
    ),
    Case(
        "trust must allow even if identity allows",
        DOC_EVAL_RESOURCE,
        [allow("sts:AssumeRole")],
        resource=[trust({"AWS": "arn:aws:iam::123456789012:user/carol"})],
        action="sts:AssumeRole",
        principal=USER,
        kind="trust",
        expect="ImplicitDeny",
        reason="the resource-based (trust) policy does not allow the principal",
    ),
    Case(
        "trust with no trust policy at all",
        DOC_EVAL_RESOURCE,
        [allow("sts:AssumeRole")],
        resource=[],
        action="sts:AssumeRole",
        principal=USER,
        kind="trust",
        expect="ImplicitDeny",
    ),
    Case(
        "web identity trust",
        DOC_EVAL_RESOURCE,
        [],
        resource=[
            {
                "Effect": "Allow",
                "Principal": {"Federated": "accounts.google.com"},
                "Action": "sts:AssumeRoleWithWebIdentity",
            }
        ],
        action="sts:AssumeRoleWithWebIdentity",
        principal=PrincipalRef("accounts.google.com", None, "Federated"),
        kind="trust",
    ),
    Case(
        "cross-account: both sides allow",
        DOC_CROSS,
        [allow()],
        resource=[res_policy({"AWS": USER_ARN})],
        principal=USER,
        resource_account=OTHER_ACCOUNT,
    ),
    Case(
        "cross-account: resource side only",
        DOC_CROSS,
        [],
        resource=[res_policy({"AWS": USER_ARN})],
        principal=USER,
        resource_account=OTHER_ACCOUNT,
        expect="ImplicitDeny",
        reason="cross-account access needs both an identity-based and a resource-based allow",
    ),
    Case(
        "cross-account: identity side only",
        DOC_CROSS,
        [allow()],
        resource=[],
        principal=USER,
        resource_account=OTHER_ACCOUNT,
        expect="ImplicitDeny",
    ),
    Case(
        "cross-account: boundary still applies",
        DOC_CROSS,
        [allow()],
        resource=[res_policy({"AWS": USER_ARN})],
        boundary=[allow("iam:*")],
        principal=USER,
        resource_account=OTHER_ACCOUNT,
        expect="ImplicitDeny",
    ),
    Case(
        "same account stated explicitly",
        DOC_CROSS,
        [],
        resource=[res_policy({"AWS": USER_ARN})],
        principal=USER,
        resource_account=ACCOUNT,
    ),
    Case(
        "other account's user named directly",
        DOC_CROSS,
        [],
        resource=[res_policy({"AWS": OTHER.arn})],
        principal=OTHER,
        resource_account=ACCOUNT,
        expect="ImplicitDeny",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_evaluation_rule(case: Case) -> None:
    request = Request(
        case.action, BUCKET if case.action.startswith("s3:") else ROLE_ARN, {}, case.principal, case.resource_account
    )
    decision = evaluate(request, policy_set(case))
    assert decision.effect == case.expect, case.source
    if case.reason is not None:
        assert decision.reason == case.reason


def test_revocation_is_a_deny_on_token_issue_time() -> None:
    """AWS's "Revoke active sessions": an inline AWSRevokeOlderSessions Deny (DOC_EVAL; IAM User Guide,
    "Revoking IAM role temporary security credentials")."""
    revoke = deny("*", "*", Condition={"DateLessThan": {"aws:TokenIssueTime": "2026-11-28T12:00:00Z"}})
    pset = PolicySet(identity=[compiled(doc(allow())), compiled(doc(revoke), policy_id="AWSRevokeOlderSessions")])
    old = evaluate(Request("s3:GetObject", BUCKET, {"aws:TokenIssueTime": "2026-11-28T11:59:59Z"}), pset)
    new = evaluate(Request("s3:GetObject", BUCKET, {"aws:TokenIssueTime": "2026-11-28T12:00:00Z"}), pset)
    long_term = evaluate(Request("s3:GetObject", BUCKET, {}), pset)
    assert (old.effect, new.effect, long_term.effect) == ("ExplicitDeny", "Allow", "Allow")
    assert old.matched == (MatchedStatement("AWSRevokeOlderSessions", None, "/Statement/0", "Deny", "identity"),)
    assert long_term.missing_context_keys == ("aws:TokenIssueTime",)


def test_matched_statements_carry_policy_sid_pointer_effect_and_set() -> None:
    identity = compiled(
        doc(allow("s3:Get*", Sid="Read"), allow("iam:*", Sid="Iam"), allow("s3:*", Sid="All")),
        policy_id="arn:aws:iam::123456789012:policy/P",
    )
    boundary = compiled(doc(allow("s3:*", Sid="B")), "boundary", policy_id="boundary-1")
    decision = evaluate(Request("s3:GetObject", BUCKET), PolicySet(identity=[identity], boundary=[boundary]))
    assert decision == Decision(
        "Allow",
        (
            MatchedStatement("arn:aws:iam::123456789012:policy/P", "Read", "/Statement/0", "Allow", "identity"),
            MatchedStatement("arn:aws:iam::123456789012:policy/P", "All", "/Statement/2", "Allow", "identity"),
            MatchedStatement("boundary-1", "B", "/Statement/0", "Allow", "boundary"),
        ),
        (),
        (),
        True,
        "none",
        True,
        None,
        "identity-based policies allow the action",
    )
    assert decision.allowed


def test_explicit_deny_reports_only_the_denies() -> None:
    p = compiled(doc(allow(Sid="A"), deny("s3:*", Sid="D")), policy_id="p")
    decision = evaluate(Request("s3:GetObject", BUCKET), PolicySet(identity=[p]))
    assert decision.matched == (MatchedStatement("p", "D", "/Statement/1", "Deny", "identity"),)


def test_statement_object_pointer() -> None:
    import json

    p = compiled(json.dumps({"Version": "2012-10-17", "Statement": allow()}), policy_id="p")
    assert evaluate(Request("s3:GetObject"), PolicySet(identity=[p])).matched[0].pointer == "/Statement"


def test_missing_context_keys_are_recorded_once_in_order() -> None:
    cond = {"StringEquals": {"aws:PrincipalTag/team": "x"}, "Bool": {"aws:SecureTransport": "true"}}
    p = compiled(
        doc(
            allow(Condition={"StringEqualsIfExists": {"aws:RequestedRegion": "eu-west-1"}}),
            deny(Condition=cond),
            allow("s3:*", Condition={"StringEquals": {"aws:PrincipalTag/team": "y"}}),
        )
    )
    decision = evaluate(Request("s3:GetObject", BUCKET), PolicySet(identity=[p]))
    assert decision.effect == "Allow"
    assert decision.missing_context_keys == ("aws:RequestedRegion", "aws:PrincipalTag/team")


def test_a_broken_allow_is_skipped_and_a_broken_deny_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    p = compiled(doc(allow("s3:*", "arn:aws:s3:::b/*", Sid="A")), policy_id="p")

    def boom(resource: str) -> bool:
        raise RuntimeError("broken matcher")

    monkeypatch.setattr(p.statements[0], "res_test", boom)
    decision = evaluate(Request("s3:GetObject", BUCKET), PolicySet(identity=[p]))
    assert decision.effect == "ImplicitDeny"
    assert decision.errors == ("p /Statement/0: RuntimeError: broken matcher",)

    q = compiled(doc(allow(), deny("s3:*", "arn:aws:s3:::b/*", Sid="D")), policy_id="q")
    monkeypatch.setattr(q.statements[1], "res_test", boom)
    decision = evaluate(Request("s3:GetObject", BUCKET), PolicySet(identity=[q]))
    assert decision.effect == "ExplicitDeny"
    assert decision.errors == ("q /Statement/1: RuntimeError: broken matcher",)


def test_resource_must_allow_can_be_forced() -> None:
    identity = compiled(doc(allow()))
    resource = compiled(doc(res_policy({"AWS": "arn:aws:iam::123456789012:user/carol"})), "resource")
    request = Request("s3:GetObject", BUCKET, {}, USER)
    assert evaluate(request, PolicySet(identity=[identity], resource=[resource])).effect == "Allow"
    forced = PolicySet(identity=[identity], resource=[resource], resource_must_allow=True)
    assert evaluate(request, forced).effect == "ImplicitDeny"
    relaxed_trust = PolicySet(identity=[compiled(doc(allow("sts:AssumeRole")))], resource_must_allow=False)
    assert evaluate(Request("sts:AssumeRole", ROLE_ARN, {}, USER), relaxed_trust).effect == "Allow"


def test_explain_text() -> None:
    p = compiled(doc(allow("s3:*", Sid="Read"), deny("s3:Delete*", Sid="NoDelete")), policy_id="p1")
    b = compiled(doc(allow("s3:Get*")), "boundary", policy_id="b1")
    pset = PolicySet(identity=[p], boundary=[b])
    request = Request("s3:DeleteObject", BUCKET, {})
    assert explain(evaluate(request, pset), request) == "\n".join(
        [
            f"Request: s3:DeleteObject on {BUCKET}",
            "Decision: ExplicitDeny (an explicit Deny statement applies)",
            "  identity-based: allows; resource-based grant: none; permissions boundary: does not allow; "
            "session policy: not set",
            "  Denied by:",
            "    Deny in identity policy p1 Sid NoDelete at /Statement/1",
        ]
    )
    put = evaluate(Request("s3:PutObject", BUCKET, {}), pset)
    assert explain(put) == "\n".join(
        [
            "Decision: ImplicitDeny (the permissions boundary does not allow the action)",
            "  identity-based: allows; resource-based grant: none; permissions boundary: does not allow; "
            "session policy: not set",
            "  Matched statements:",
            "    Allow in identity policy p1 Sid Read at /Statement/0",
        ]
    )
    nothing = evaluate(
        Request("iam:GetUser", "*", {}),
        PolicySet(identity=[compiled(doc(allow(Condition={"StringEquals": {"aws:username": "x"}})))]),
    )
    assert explain(nothing).splitlines()[-2:] == ["  No statement matched.", "  Missing context keys: aws:username"]


def test_evaluation_is_deterministic_and_does_not_mutate_the_request() -> None:
    p = compiled(doc(allow(Condition={"StringLike": {"s3:prefix": "home/${aws:username}/*"}})))
    request = Request("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "home/a/x", "aws:username": "a"})
    first = evaluate(request, PolicySet(identity=[p]))
    for _ in range(3):
        assert evaluate(request, PolicySet(identity=[p])) == first
    assert request.context == {"s3:prefix": "home/a/x", "aws:username": "a"}


def test_request_is_immutable_and_normalises_its_context() -> None:
    from datetime import UTC, datetime

    request = Request(
        "IAM:CreateRole",
        ROLE_ARN,
        {
            "AWS:SecureTransport": True,
            "aws:TagKeys": ["a", 1],
            "aws:CurrentTime": datetime(2026, 1, 2, tzinfo=UTC),
            "aws:MultiFactorAuthAge": 30,
            "aws:username": None,
        },
    )
    assert request.action_key == "iam:createrole"
    assert request.ctx == {
        "aws:securetransport": "true",
        "aws:tagkeys": ("a", "1"),
        "aws:currenttime": "2026-01-02T00:00:00Z",
        "aws:multifactorauthage": "30",
    }
    with pytest.raises(AttributeError, match="Request is immutable"):
        request.action = "x"
    assert request == Request("IAM:CreateRole", ROLE_ARN, dict(request.context))
    assert request != Request("iam:CreateRole", ROLE_ARN, dict(request.context))
    assert repr(Request("s3:GetObject")) == (
        "Request(action='s3:GetObject', resource='*', context={}, principal=None, resource_account=None)"
    )
