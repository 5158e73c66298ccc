"""The identity-only rule inlined in ``evaluate`` decides exactly as the complete rule (``_evaluate_all``).

Source of the rule both implement: "Policy evaluation logic"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from policy_helpers import ACCOUNT, OTHER_ACCOUNT, USER_ARN, allow, compiled, deny, doc

from broker.policy import Decision, PolicySet, PrincipalRef, Request, evaluate, explain
from broker.policy.evaluate import _evaluate_all
from broker.policy.fastpath import shape_of, source_for
from broker.policy.plan import IndexedEntry, plan_for

CONDITIONS: list[dict[str, Any]] = [
    {"Bool": {"aws:SecureTransport": "false"}},
    {"StringEquals": {"aws:PrincipalTag/team": ["a", "b"]}},
    {"StringLike": {"aws:PrincipalTag/project": "p*"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"StringEqualsIfExists": {"aws:RequestedRegion": "eu-west-1"}},
    {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}},
    {"Null": {"aws:PrincipalTag/team": "true"}},
]
ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:*", "s3:Get*", "*", "sts:AssumeRole", "iam:Get*", "s3:get?bject"]
RESOURCES: list[Any] = [
    "*",
    "arn:aws:s3:::b/k",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b*",
    ["arn:aws:s3:::c", "arn:aws:s3:::c/*"],
    "arn:aws:s3:::${aws:username}/*",
    "arn:aws:s3:::?/k",
    "arn:aws:s3:*:*:b/k",
]


def _statement(rng: random.Random, index: int) -> dict[str, Any]:
    make = deny if rng.random() < 0.25 else allow
    extra: dict[str, Any] = {"Sid": f"S{index}"}
    if rng.random() < 0.5:
        extra["Condition"] = rng.choice(CONDITIONS)
    statement = make(rng.choice(ACTIONS), rng.choice(RESOURCES), **extra)
    if rng.random() < 0.1:
        statement["NotResource"] = statement.pop("Resource")
    if rng.random() < 0.1:
        statement["NotAction"] = statement.pop("Action")
    return statement


def _request(rng: random.Random) -> Request:
    context: dict[str, Any] = {}
    for key, values in (
        ("aws:SecureTransport", [True, False, "TRUE"]),
        ("aws:PrincipalTag/team", ["a", "c", ["a", "b"], []]),
        ("aws:PrincipalTag/project", ["p1", "q"]),
        ("aws:SourceIp", ["10.1.2.3", "8.8.8.8", "junk"]),
        ("aws:username", ["alice", "b"]),
        ("aws:TagKeys", [["a"], ["z"], []]),
    ):
        if rng.random() < 0.7:
            context[key] = rng.choice(values)
    principal = rng.choice([None, PrincipalRef(USER_ARN, ACCOUNT)])
    return Request(
        rng.choice(["s3:GetObject", "s3:PutObject", "sts:AssumeRole", "iam:GetRole", "s3:getobject"]),
        rng.choice(["arn:aws:s3:::b/k", "arn:aws:s3:::c", "arn:aws:s3:::alice/x", "arn:aws:s3:::bx", "*"]),
        context,
        principal,
        rng.choice([None, ACCOUNT, OTHER_ACCOUNT]),
    )


def _complete(request: Request, pset: PolicySet) -> Decision:
    plan = plan_for(pset)
    entry, simple, trust, _ = plan.program(request.action_key)
    assert simple
    return _evaluate_all(plan, entry, trust, request)


@pytest.mark.parametrize("seed", range(8))
def test_identity_only_rule_agrees_with_the_complete_rule(seed: int) -> None:
    rng = random.Random(seed)
    statements = [_statement(rng, i) for i in range(30)]
    must_allow = rng.choice([None, True, False])
    pset = PolicySet(
        identity=[compiled(doc(*statements[i : i + 6]), policy_id=f"p{i}") for i in range(0, 30, 6)],
        resource_must_allow=must_allow,
    )
    effects = set()
    for _ in range(150):
        request = _request(rng)
        fast = evaluate(request, pset)
        assert fast == _complete(request, pset), request
        assert fast.reason == _complete(request, pset).reason
        effects.add(fast.effect)
    assert len(effects) >= 2


def test_indexed_entries_take_the_identity_only_rule_too() -> None:
    statements = [allow("s3:GetObject", f"arn:aws:s3:::b{i}/*") for i in range(12)]
    pset = PolicySet(identity=[compiled(doc(*statements, deny("s3:*", "arn:aws:s3:::b3/secret")))])
    request = Request("s3:GetObject", "arn:aws:s3:::b3/secret")
    decision = evaluate(request, pset)
    assert isinstance(plan_for(pset).memo["s3:getobject"], IndexedEntry)
    assert decision == _complete(request, pset)
    assert (decision.effect, [m.pointer for m in decision.matched]) == ("ExplicitDeny", ["/Statement/12"])


def test_nothing_applies_is_one_prebuilt_decision_per_action() -> None:
    pset = PolicySet(identity=[compiled(doc(allow("s3:GetObject", "arn:aws:s3:::b/*")))])
    first = evaluate(Request("s3:GetObject", "arn:aws:s3:::other"), pset)
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::else"), pset) is first
    assert first == Decision(
        "ImplicitDeny", (), (), (), False, "none", None, None, "no identity-based policy allows the action"
    )
    trust = evaluate(Request("sts:AssumeRole", "arn:aws:iam::123456789012:role/r"), pset)
    assert (trust.effect, trust.reason) == (
        "ImplicitDeny",
        "the resource-based (trust) policy does not allow the principal",
    )


def test_a_boundary_or_a_principal_element_takes_the_complete_rule() -> None:
    identity = compiled(doc(allow("s3:*")))
    bounded = PolicySet(identity=[identity], boundary=[])
    assert plan_for(bounded).program("s3:getobject")[1] is False
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/k"), bounded).reason == (
        "the permissions boundary does not allow the action"
    )
    named = compiled(doc(allow("s3:*", Principal={"AWS": USER_ARN})), kind="resource", policy_id="bucket")
    odd = PolicySet(identity=[named])  # a Principal element in an identity slot is still honoured
    assert plan_for(odd).program("s3:getobject")[1] is False
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/k", principal=PrincipalRef(USER_ARN, ACCOUNT)), odd).allowed


FAST_CLAUSES: list[dict[str, Any]] = [
    {"Bool": {"aws:SecureTransport": "false"}},
    {"Bool": {"aws:SecureTransport": ["True", "false"]}},
    {"StringEquals": {"aws:PrincipalTag/team": ["a", "b"]}},
    {"StringNotEquals": {"aws:PrincipalTag/team": "a"}},
    {"StringLikeIfExists": {"aws:PrincipalTag/team": "a*"}},
    {"StringNotLike": {"aws:PrincipalTag/team": "?b"}},
    {"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::1/128"]}},
    {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
    {"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}},
]
VALUES = [
    "true",
    "TRUE",
    "tRuE",
    "false",
    "False",
    "",
    "a",
    "ab",
    "bb",
    "10.1.2.3",
    "::1",
    "junk",
    "12",
    "1e9",
    "2027-01-01T00:00:00Z",
    "2025-12-31",
]


@pytest.mark.parametrize("condition", FAST_CLAUSES, ids=lambda c: next(iter(c)))
def test_a_clause_fast_test_is_its_verdict_for_one_string(condition: dict[str, Any]) -> None:
    """The loop in ``evaluate`` calls ``fast_test(value)`` for a single string value instead of ``holds``."""
    statement = compiled(doc(allow(Condition=condition))).statements[0]
    (clause,) = statement.clauses
    assert clause.fast_key == next(iter(next(iter(condition.values())))).lower() and clause.fast_test is not None
    for value in VALUES:
        missing: list[str] = []
        assert clause.fast_test(value) == clause.holds({clause.key: value}, missing), value
        assert missing == []


def test_set_operators_null_and_variables_have_no_fast_test() -> None:
    for condition in (
        {"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}},
        {"Null": {"aws:TagKeys": "true"}},
        {"StringEquals": {"aws:PrincipalTag/team": "${aws:username}"}},
    ):
        (clause,) = compiled(doc(allow(Condition=condition))).statements[0].clauses
        assert (clause.fast_key, clause.fast_test) == (None, None)


def test_bool_and_string_equals_clauses_are_written_as_set_lookups() -> None:
    """``Bool``'s matcher is a frozenset's ``__contains__`` (every spelling of its words), so the generated
    function tests it as ``v in T`` like ``StringEquals`` values, without a call or a dict-subclass subscript."""
    from broker.policy.fastpath import shape_of, source_for

    tls = deny("*", "*", Condition={"Bool": {"aws:SecureTransport": "false"}})
    team = allow("s3:GetObject", Condition={"StringEquals": {"aws:PrincipalTag/team": ["a", "b"]}})
    pset = PolicySet(identity=[compiled(doc(tls, team))])
    evaluate(Request("s3:GetObject", "arn:aws:s3:::b/k", {"aws:SecureTransport": "FaLsE"}), pset)
    entry = plan_for(pset).memo["s3:getobject"]
    assert isinstance(entry, tuple)
    shape = tuple(shape_of(unit) for unit in entry)
    assert shape == (("any", "keyin"), ("any", "keyin"))
    assert "v in T0" in source_for(shape, "full") and "v in T1" in source_for(shape, "full")
    for value, effect in (("FaLsE", "ExplicitDeny"), ("true", "ImplicitDeny"), ("junk", "ImplicitDeny")):
        assert evaluate(Request("s3:GetObject", "x", {"aws:SecureTransport": value}), pset).effect == effect


def _same(request: Request, pset: PolicySet) -> None:
    """``evaluate`` (twice: the second time from the decision table) equals the complete rule, ``explain`` too."""
    expected = _complete_any(request, pset)
    for _ in range(2):
        got = evaluate(request, pset)
        assert got == expected and got.reason == expected.reason, request
        assert explain(got, request) == explain(expected, request)


def _complete_any(request: Request, pset: PolicySet) -> Decision:
    plan = plan_for(pset)
    entry, _simple, trust, _nothing = plan.program(request.action_key)
    return _evaluate_all(plan, entry, trust, request)


def test_generated_prologue_and_epilogue_forms_agree() -> None:
    """``source_for``: the request's context (resource) is read in place when the path without a missing key
    uses it once and into a local otherwise; the starting bit set, ``missing`` and ``errors`` are defaults of
    ``decide``; the table is used when ``missing is request.resource_account`` (both ``None``). Each form decides
    as the complete rule, with and without missing keys, for the caller's own account named or not and for
    another account."""
    one = source_for((("any", "keyin"), ("any", "none")), "full")
    two = source_for((("any", "keyin"), ("inhead", "key")), "list")
    assert "ctx = request.ctx" not in one and "request.ctx.get(K0)" in one and "resource" not in one.split("):")[1]
    assert "ctx = request.ctx" in two and "resource = request.resource" in two
    assert "def decide(request, m=2, missing=None, errors=None, K0=K0, T0=T0, table=table," in one
    assert "if missing is request.resource_account:" in one and "if missing is request.resource_account:" in two
    tls = deny("*", "*", Sid="Tls", Condition={"Bool": {"aws:SecureTransport": "false"}})
    team = {"StringEquals": {"aws:PrincipalTag/team": ["a", "b"]}}
    sets = [
        PolicySet(identity=[compiled(doc(tls, allow("s3:GetObject")), policy_id="one")]),
        PolicySet(
            identity=[compiled(doc(tls, allow("s3:GetObject", ["arn:aws:s3:::b/*", "arn:aws:s3:::c"], Condition=team)))]
        ),
    ]
    for pset in sets:
        for context in (
            {},
            {"aws:SecureTransport": "true"},
            {"aws:SecureTransport": "false", "aws:PrincipalTag/team": "a"},
        ):
            for resource in ("arn:aws:s3:::b/k", "arn:aws:s3:::c/x", "arn:aws:s3:::c"):
                for account in (None, ACCOUNT, OTHER_ACCOUNT):
                    _same(Request("s3:GetObject", resource, context, PrincipalRef(USER_ARN, ACCOUNT), account), pset)


@pytest.mark.parametrize(
    ("condition", "form"),
    [
        ({"StringNotEquals": {"aws:PrincipalTag/team": ["a", "b"]}}, "keynotin"),
        ({"NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::1/128"]}}, "keynot"),
        ({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/12"}}, "keynot"),  # /8: keynotip
        ({"StringNotLike": {"aws:PrincipalTag/team": "a*"}}, "keynot"),
        ({"StringEquals": {"aws:PrincipalTag/team": "a"}}, "keyin"),
    ],
)
def test_negated_one_key_clauses_are_negated_inline(condition: dict[str, Any], form: str) -> None:
    """A negated operator's clause is written as its positive matcher negated in place (``not T(v)``, ``v not in
    T``), one call less than its ``fast_test``; decisions equal the complete rule's on single, multivalued,
    empty and missing values, for a Deny and an Allow."""
    key = next(iter(next(iter(condition.values()))))
    for make in (allow, deny):
        pset = PolicySet(identity=[compiled(doc(make("s3:GetObject", Condition=condition), allow("s3:*", Sid="All")))])
        for value in [None, "a", "ab", "b", "10.1.2.3", "8.8.8.8", "::1", "junk", "", ["a", "c"], ["8.8.8.8"], []]:
            context = {} if value is None else {key: value}
            _same(Request("s3:GetObject", "arn:aws:s3:::b/k", context), pset)
        entry = plan_for(pset).memo["s3:getobject"]
        assert isinstance(entry, tuple) and shape_of(entry[0]) == ("any", form)
    assert f"if {'not T0(v)' if form == 'keynot' else 'v not in T0' if form == 'keynotin' else 'v in T0'}:" in (
        source_for((("any", form),), "full")
    )


def test_finish_answers_from_the_table_when_the_bit_set_alone_decides() -> None:
    """A multivalued key (``missing`` becomes an empty list) or the caller's own account named sends the
    generated function to ``_Tail.finish``; with no key missing, no error and no other account the bit set alone
    decides, so finish returns the table's decision itself, equal to the complete rule's."""
    team = {"StringEquals": {"aws:PrincipalTag/team": ["a", "b"]}}
    tls = deny("*", "*", Sid="Tls", Condition={"Bool": {"aws:SecureTransport": "false"}})
    both = [tls, allow("s3:GetObject", Condition=team), allow("s3:*", Sid="All")]  # two Allows: no solo decision
    pset = PolicySet(identity=[compiled(doc(*both))])
    caller = PrincipalRef(USER_ARN, ACCOUNT)
    plain = evaluate(Request("s3:GetObject", "x", {"aws:PrincipalTag/team": "a", "aws:SecureTransport": "true"}), pset)
    for context, account in (
        ({"aws:PrincipalTag/team": ["a", "c"], "aws:SecureTransport": "true"}, None),
        ({"aws:PrincipalTag/team": "a", "aws:SecureTransport": ["true"]}, None),
        ({"aws:PrincipalTag/team": "a", "aws:SecureTransport": "true"}, ACCOUNT),
    ):
        request = Request("s3:GetObject", "x", context, caller, account)
        _same(request, pset)
        assert evaluate(request, pset) is plain
    for context, account in (({"aws:SecureTransport": "true"}, None), ({"aws:PrincipalTag/team": "a"}, OTHER_ACCOUNT)):
        request = Request("s3:GetObject", "x", context, caller, account)
        _same(request, pset)
        assert evaluate(request, pset) is not plain


def test_the_resource_memos_of_one_plan_share_one_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Plan.remember_resource``: with ``Action: "*"`` every action gets its own ``ByResource``, each of which
    may remember up to ``_TABLE_LIMIT`` resources; together they stay within ``RESOURCE_MEMO_LIMIT`` however many
    actions and resources callers choose (without it: actions x 4,096 resources at ~100 bytes each), and the
    decisions stay those of the complete rule while the memos are emptied and refilled."""
    from broker.policy import fastpath
    from broker.policy import plan as plan_module

    monkeypatch.setattr(plan_module, "RESOURCE_MEMO_LIMIT", 10)
    statements = [allow("*", "arn:aws:s3:::bucket/*"), deny("s3:Delete*", "arn:aws:s3:::bucket/secret/*"),
                  allow("s3:GetObject", "arn:aws:s3:::other/exact")]
    pset = PolicySet(identity=[compiled(doc(*statements), policy_id="wide")])
    plan = plan_for(pset)
    actions = ["s3:GetObject", "s3:DeleteObject", "svc:Act1", "svc:Act2"]
    seen = 0
    for round_ in range(2):
        for k in range(12):
            for action in actions:
                for resource in (f"arn:aws:s3:::bucket/k{k}", f"arn:aws:s3:::bucket/secret/{k}",
                                 "arn:aws:s3:::other/exact", f"arn:aws:s3:::else/{k}"):
                    request = Request(action, resource, {})
                    assert evaluate(request, pset) == _complete(request, pset), (round_, action, resource)
                    memos = [run for run in plan.runners.values() if isinstance(run, fastpath.ByResource)]
                    held = sum(len(memo) for memo in memos)
                    assert held <= 10
                    seen = max(seen, len(memos))
    assert seen >= 3  # several actions' memos, one bound
    plan.forget_runners()
    assert plan.runners == {} and plan.by_resource == [] and plan.resources_left == 10
