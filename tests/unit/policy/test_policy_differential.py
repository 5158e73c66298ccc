"""Differential tests: ``evaluate`` (generated decision functions, ``fastpath.py``) against the complete rule.

The complete rule is ``_evaluate_all`` ("Policy evaluation logic",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html; "Cross-account
policy evaluation logic", "Permissions boundaries", "Session policies"). Every comparison is of the whole
``Decision`` (effect, matched statements with policy id, Sid and pointer, missing keys, errors, per-set
results, reason) and of ``explain``'s text, on policy sets of every kind: identity only, resource and trust
policies, boundaries, session policies, cross-account requests, and broken statements.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_helpers import ACCOUNT, OTHER_ACCOUNT, ROLE_ARN, SESSION_ARN, USER_ARN, allow, compiled, deny, doc

from benchmarks.policy_corpus import build_corpus
from broker.policy import Decision, PolicySet, PrincipalRef, Request, compile_policy, evaluate, explain
from broker.policy.evaluate import _evaluate_all
from broker.policy.fastpath import build_runner, shape_of, source_for
from broker.policy.plan import IndexedEntry, plan_for

ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:*", "s3:Get*", "*", "sts:AssumeRole", "iam:Get*", "s3:get?bject"]
REQUEST_ACTIONS = ["s3:GetObject", "s3:PutObject", "sts:AssumeRole", "iam:GetRole", "s3:getobject", "ec2:RunInstances"]
RESOURCES: list[Any] = [
    "*",
    "arn:aws:s3:::b/k",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b*",
    ["arn:aws:s3:::c", "arn:aws:s3:::c/*"],
    "arn:aws:s3:::${aws:username}/*",
    "arn:aws:s3:::?/k",
    "arn:aws:s3:*:*:b/k",
    "arn:aws:s3:::b/k*",
    [f"arn:aws:iam::{ACCOUNT}:role/app", "arn:aws:s3:::c"],
]
REQUEST_RESOURCES = [
    "arn:aws:s3:::b/k",
    "arn:aws:s3:::b/k2",
    "arn:aws:s3:::c",
    "arn:aws:s3:::c/x",
    "arn:aws:s3:::alice/x",
    "arn:aws:s3:::bx",
    "arn:aws:s3:::x/k",
    f"arn:aws:iam::{ACCOUNT}:role/app",
    "*",
]
CONDITIONS: list[dict[str, Any]] = [
    {"Bool": {"aws:SecureTransport": "false"}},
    {"StringEquals": {"aws:PrincipalTag/team": ["a", "b"]}},
    {"StringNotEquals": {"aws:PrincipalTag/team": "a"}},
    {"StringLike": {"aws:PrincipalTag/project": "p*"}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    {"StringEqualsIfExists": {"aws:RequestedRegion": "eu-west-1"}},
    {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}},
    {"ForAnyValue:StringLike": {"aws:TagKeys": "a*"}},
    {"Null": {"aws:PrincipalTag/team": "true"}},
    {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}},
    {"StringEquals": {"aws:PrincipalTag/team": "${aws:username}"}},
]
PRINCIPALS: list[dict[str, Any] | str] = [
    {"AWS": USER_ARN},
    {"AWS": ROLE_ARN},
    {"AWS": SESSION_ARN},
    {"AWS": ACCOUNT},
    {"AWS": OTHER_ACCOUNT},
    "*",
    {"Service": "ec2.amazonaws.com"},
]
CALLERS = [
    None,
    PrincipalRef(USER_ARN, ACCOUNT),
    PrincipalRef(SESSION_ARN, ACCOUNT, "AWS", ROLE_ARN),
    PrincipalRef(f"arn:aws:iam::{OTHER_ACCOUNT}:user/bob", OTHER_ACCOUNT),
    PrincipalRef("ec2.amazonaws.com", None, "Service"),
]


def _statement(rng: random.Random, index: int, principal: bool = False) -> dict[str, Any]:
    make = deny if rng.random() < 0.25 else allow
    extra: dict[str, Any] = {"Sid": f"S{index}"}
    if rng.random() < 0.5:
        extra["Condition"] = rng.choice(CONDITIONS)
    if principal:
        extra["Principal"] = rng.choice(PRINCIPALS)
    statement = make(rng.choice(ACTIONS), rng.choice(RESOURCES), **extra)
    if rng.random() < 0.1:
        statement["NotResource"] = statement.pop("Resource")
    if rng.random() < 0.1:
        statement["NotAction"] = statement.pop("Action")
    if principal and "Principal" in statement and rng.random() < 0.1:
        statement["NotPrincipal"] = statement.pop("Principal")
        statement["Effect"] = "Deny"
    return statement


def _trust_statement(rng: random.Random, index: int) -> dict[str, Any]:
    """Trust policies: a Principal, ``sts:`` role actions, no Resource."""
    statement: dict[str, Any] = {
        "Sid": f"T{index}",
        "Effect": "Deny" if rng.random() < 0.2 else "Allow",
        "Principal": rng.choice([p for p in PRINCIPALS if p != {"Service": "ec2.amazonaws.com"}] + [PRINCIPALS[-1]]),
        "Action": rng.choice(["sts:AssumeRole", "sts:AssumeRole*", "sts:TagSession"]),
    }
    if rng.random() < 0.4:
        statement["Condition"] = rng.choice(CONDITIONS[:6])
    return statement


def _policies(rng: random.Random, count: int, kind: Any, prefix: str) -> list[Any]:
    principal = kind == "resource"
    out = []
    for number in range(count):
        if kind == "trust":
            out.append(compiled(doc(*[_trust_statement(rng, i) for i in range(rng.randint(1, 3))]), kind=kind))
            continue
        body = [_statement(rng, i, principal) for i in range(rng.randint(1, 7))]
        if rng.random() < 0.3:  # the same Deny pasted into several policies (one unit, several records)
            tls = deny("*", "*", Sid="Tls", Condition={"Bool": {"aws:SecureTransport": "false"}})
            body.append({**tls, "Principal": "*"} if principal else tls)
        out.append(compiled(doc(*body), kind=kind, policy_id=f"{prefix}{number}"))
    return out


def _request(rng: random.Random) -> Request:
    context: dict[str, Any] = {}
    for key, values in (
        ("aws:SecureTransport", [True, False, "TRUE", "junk"]),
        ("aws:PrincipalTag/team", ["a", "c", ["a", "b"], [], "alice"]),
        ("aws:PrincipalTag/project", ["p1", "q"]),
        ("aws:SourceIp", ["10.1.2.3", "8.8.8.8", "junk", "::1"]),
        ("aws:username", ["alice", "b"]),
        ("aws:TagKeys", [["a"], ["z"], []]),
        ("aws:MultiFactorAuthAge", ["12", "99999", "x"]),
        ("aws:RequestedRegion", ["eu-west-1", "us-east-1"]),
    ):
        if rng.random() < 0.7:
            context[key] = rng.choice(values)
    return Request(
        rng.choice(REQUEST_ACTIONS),
        rng.choice(REQUEST_RESOURCES),
        context,
        rng.choice(CALLERS),
        rng.choice([None, None, ACCOUNT, OTHER_ACCOUNT]),
    )


def _complete(request: Request, pset: PolicySet) -> Decision:
    plan = plan_for(pset)
    entry, _simple, trust, _nothing = plan.program(request.action_key)
    return _evaluate_all(plan, entry, trust, request)


def _assert_same(request: Request, pset: PolicySet) -> Decision:
    expected = _complete(request, pset)
    for _ in range(2):  # the second time from the decision table
        got = evaluate(request, pset)
        assert got == expected, request
        assert got.reason == expected.reason
        assert explain(got, request) == explain(expected, request)
    return expected


def _random_set(rng: random.Random, shape: str) -> PolicySet:
    identity = _policies(rng, rng.randint(0, 6), "identity", "id")
    if shape == "identity":
        return PolicySet(identity=identity, resource_must_allow=rng.choice([None, True, False]))
    if shape == "resource":
        return PolicySet(identity=identity, resource=_policies(rng, rng.randint(1, 2), "resource", "res"))
    if shape == "trust":
        return PolicySet(identity=identity, resource=_policies(rng, 1, "trust", "trust"))
    if shape == "boundary":
        return PolicySet(identity=identity, boundary=_policies(rng, rng.randint(0, 2), "boundary", "pb"))
    if shape == "session":
        return PolicySet(identity=identity, session=_policies(rng, rng.randint(0, 2), "session", "sess"))
    return PolicySet(  # everything at once
        identity=identity,
        resource=_policies(rng, 1, "resource", "res"),
        boundary=_policies(rng, 1, "boundary", "pb"),
        session=_policies(rng, 1, "session", "sess"),
    )


@pytest.mark.parametrize("shape", ["identity", "resource", "trust", "boundary", "session", "all"])
@pytest.mark.parametrize("seed", range(6))
def test_random_sets_and_requests_agree_with_the_complete_rule(shape: str, seed: int) -> None:
    rng = random.Random(f"{shape}-{seed}")
    effects: set[str] = set()
    for _ in range(4):
        pset = _random_set(rng, shape)
        for _ in range(120):
            effects.add(_assert_same(_request(rng), pset).effect)
    assert len(effects) >= 2


def test_many_units_use_a_dict_table_and_agree() -> None:
    """More than 8 units for one resource: the decision table is a dict rather than a list."""
    rng = random.Random(7)
    body = [allow("s3:GetObject", "*", Sid=f"A{i}", Condition=rng.choice(CONDITIONS)) for i in range(10)]
    body += [deny("s3:*", "arn:aws:s3:::b/*", Sid="D", Condition={"Bool": {"aws:SecureTransport": "false"}})]
    body += [allow("s3:GetObject", f"arn:aws:s3:::b/k{i}", Sid=f"E{i}") for i in range(4)]
    pset = PolicySet(identity=[compiled(doc(*body), policy_id="many")])
    for _ in range(400):
        _assert_same(_request(rng), pset)
    entry = plan_for(pset).memo["s3:getobject"]
    assert isinstance(entry, IndexedEntry) and len(entry.select("arn:aws:s3:::b/k1")) > 8


@pytest.mark.parametrize(("statements", "per_policy"), [(50, 5), (1000, 5)])
def test_benchmark_corpus_agrees_with_the_complete_rule(statements: int, per_policy: int) -> None:
    corpus = build_corpus(statements, requests=600, per_policy=per_policy, seed=20261128)
    pset = PolicySet(
        identity=[
            compile_policy(text, policy_id=f"bench-{i}", kind="identity") for i, text in enumerate(corpus.documents)
        ]
    )
    for item in corpus.requests:
        _assert_same(Request(item.action, item.resource, dict(item.context)), pset)


VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "policy"


def _vector_cases() -> list[Any]:
    cases = []
    for path in sorted(VECTORS.glob("*.json")):
        body = json.loads(path.read_text())
        for case in body.get("cases", []):
            cases.append(pytest.param(case, body.get("resource_kind", "resource"), id=f"{path.stem}:{case['name']}"))
    return cases


def _compile_all(docs: list[Any] | None, kind: Any, prefix: str) -> list[Any] | None:
    if docs is None:
        return None
    return [compile_policy(json.dumps(d), policy_id=f"{prefix}-{i}", kind=kind) for i, d in enumerate(docs)]


@pytest.mark.parametrize(("case", "resource_kind"), _vector_cases())
def test_vectors_agree_with_the_complete_rule(case: dict[str, Any], resource_kind: str) -> None:
    policies = case["policies"]
    pset = PolicySet(
        identity=_compile_all(policies.get("identity", []), "identity", "identity") or [],
        resource=_compile_all(policies.get("resource", []), resource_kind, "resource") or [],
        boundary=_compile_all(policies.get("boundary"), "boundary", "boundary"),
        session=_compile_all(policies.get("session"), "session", "session"),
    )
    for item in case["requests"]:
        principal = None
        if "principal" in item:
            p = item["principal"]
            principal = PrincipalRef(p["arn"], p.get("account"), p.get("type", "AWS"), p.get("role_arn"))
        request = Request(item["action"], item["resource"], item["context"], principal, item.get("resource_account"))
        _assert_same(request, pset)


def test_broken_statements_are_reported_identically(monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit that raises: an Allow is skipped, a Deny counts, both recorded in ``errors`` with one wording."""

    def boom(*_args: object) -> bool:
        raise RuntimeError("broken matcher")

    rng = random.Random(11)
    broken: set[str] = set()
    for _ in range(20):
        policies = _policies(rng, 3, "identity", "broken")
        for policy in policies:
            for statement in policy.statements:
                chance = rng.random()
                if chance < 0.15:
                    monkeypatch.setattr(statement, "res_test", boom)
                elif chance < 0.3:  # both rules then call ``cond``
                    monkeypatch.setattr(statement, "clauses", ())
                    monkeypatch.setattr(statement, "cond", boom)
        pset = PolicySet(identity=policies)
        for _ in range(60):
            decision = _assert_same(_request(rng), pset)
            if decision.errors:
                broken.add(decision.matched[0].effect if decision.matched else "none")
    assert broken == {"Allow", "Deny", "none"}


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.integers(0, 2**32), st.integers(1, 12), st.sampled_from(["identity", "resource", "boundary", "all"]))
def test_hypothesis_sets_agree_with_the_complete_rule(seed: int, requests: int, shape: str) -> None:
    rng = random.Random(seed)
    pset = _random_set(rng, shape)
    for _ in range(requests):
        _assert_same(_request(rng), pset)


def test_generated_source_holds_no_policy_text() -> None:
    """The source is a function of the units' shapes only: policy strings are parameter defaults, never code."""
    hostile = "arn:aws:s3:::b/\"\\n__import__('os').system('x')#"
    benign = "arn:aws:s3:::b/k"
    sources = []
    for resource in (hostile, benign):
        statement = allow(
            "s3:GetObject", resource, Sid="X", Condition={"StringEquals": {"aws:PrincipalTag/t": resource}}
        )
        pset = PolicySet(identity=[compiled(doc(statement, deny("s3:*", Sid="Y")))])
        assert (
            evaluate(Request("s3:GetObject", resource, {"aws:PrincipalTag/t": resource}), pset).effect == "ExplicitDeny"
        )
        entry = plan_for(pset).memo["s3:getobject"]
        units = entry.units if isinstance(entry, IndexedEntry) else entry  # every unit, resource tests included
        shape = tuple(shape_of(unit) for unit in units)
        source = source_for(shape, "full")
        assert "import" not in source and "arn:" not in source and "PrincipalTag" not in source
        sources.append(source)
        build_runner(units, False, evaluate(Request("s3:PutObject", "x"), pset))
    assert sources[0] == sources[1]
    with pytest.raises(KeyError):
        source_for((("os.system('x')", "none"),), "full")
    with pytest.raises(ValueError):
        source_for((("any", "__import__"),), "full")


def test_resources_answered_by_a_prefix_share_its_function_and_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ByResource`` remembers a resource answered by its deepest prefix under that resource (the prefix search
    runs once per resource), as the same function object as the prefix's; the memo is emptied when full, and
    the decisions stay those of the complete rule before and after."""
    from broker.policy import fastpath

    docs = [doc(allow("s3:GetObject", f"arn:aws:s3:::bucket-{i}/*")) for i in range(12)]
    docs.append(doc(allow("s3:GetObject", "arn:aws:s3:::bucket-3/exact")))
    pset = PolicySet(identity=[compiled(d, policy_id=f"p{i}") for i, d in enumerate(docs)])
    monkeypatch.setattr(fastpath, "_TABLE_LIMIT", 4)
    first = Request("s3:GetObject", "arn:aws:s3:::bucket-3/a", {})
    _assert_same(first, pset)
    runners = plan_for(pset).runners["s3:getobject"]
    assert isinstance(runners, fastpath.ByResource)
    shared = runners["arn:aws:s3:::bucket-3/a"]
    assert runners["arn:aws:s3:::bucket-3/b"] is shared  # same prefix, same function, one search each
    for k in range(10):
        _assert_same(Request("s3:GetObject", f"arn:aws:s3:::bucket-{k % 12}/o{k}", {}), pset)
        assert len(runners) <= 4
    _assert_same(Request("s3:GetObject", "arn:aws:s3:::bucket-3/exact", {}), pset)
    _assert_same(Request("s3:GetObject", "arn:aws:s3:::other/x", {}), pset)


def test_few_identity_only_units_are_indexed_once_one_resource_is_indexable() -> None:
    """``Plan._worth_indexing``: an identity-only action is indexed from its first unit with an indexable
    Resource however few units it has (its functions are then looked up by resource, ``ByResource``) and still
    decides as the complete rule; a few units stay a plain tuple when only ``"*"`` applies or when the complete
    rule decides (a boundary)."""
    from broker.policy import fastpath

    tls = deny("*", "*", Sid="Tls", Condition={"Bool": {"aws:SecureTransport": "false"}})
    team = {"StringEquals": {"aws:PrincipalTag/team": "a"}}
    statements = [
        tls,
        allow("s3:GetObject", "arn:aws:s3:::b/k", Sid="Exact"),
        allow("s3:Get*", "arn:aws:s3:::c/*", Sid="Head"),
        allow("s3:GetObject", "arn:aws:s3:::?/k", Sid="Pattern", Condition=team),
    ]
    pset = PolicySet(identity=[compiled(doc(*statements), policy_id="few")])
    resources = ["arn:aws:s3:::b/k", "arn:aws:s3:::c/x", "arn:aws:s3:::c/", "arn:aws:s3:::d/k", "arn:aws:s3:::b", "*"]
    contexts: list[dict[str, Any]] = [
        {},
        {"aws:SecureTransport": True},
        {"aws:SecureTransport": False, "aws:PrincipalTag/team": "a"},
        {"aws:SecureTransport": "TRUE", "aws:PrincipalTag/team": ["a", "b"]},
    ]
    effects = set()
    for resource in resources:
        for context in contexts:
            for account in (None, OTHER_ACCOUNT):
                request = Request("s3:GetObject", resource, context, PrincipalRef(USER_ARN, ACCOUNT), account)
                effects.add(_assert_same(request, pset).effect)
    assert effects == {"Allow", "ExplicitDeny", "ImplicitDeny"}
    plan = plan_for(pset)
    assert isinstance(plan.memo["s3:getobject"], IndexedEntry) and len(plan.memo["s3:getobject"].units) == 4
    assert isinstance(plan.runners["s3:getobject"], fastpath.ByResource)

    star = PolicySet(identity=[compiled(doc(tls, allow("s3:List*")))])
    _assert_same(Request("s3:ListBucket", "arn:aws:s3:::b"), star)
    assert isinstance(plan_for(star).memo["s3:listbucket"], tuple)
    bounded = PolicySet(identity=[compiled(doc(*statements[:3]))], boundary=[compiled(doc(allow("s3:*")))])
    for resource in resources:
        _assert_same(Request("s3:GetObject", resource, {"aws:SecureTransport": True}), bounded)
    assert isinstance(plan_for(bounded).memo["s3:getobject"], tuple)


def test_by_resource_search_finds_the_deepest_prefix_of_the_index() -> None:
    """``ByResource.__missing__`` runs ``IndexedEntry._deepest``'s search inline: a resource not listed exactly
    gets the function of exactly the prefix ``_deepest`` names (nested and sibling prefixes, none at all), and the
    decisions stay those of the complete rule."""
    from broker.policy import fastpath

    heads = [
        "arn:aws:s3:::b",
        "arn:aws:s3:::b1",
        "arn:aws:s3:::b1/",
        "arn:aws:s3:::b1/x",
        "arn:aws:s3:::c",
        "arn:aws:s3:::",
    ]
    statements = [allow("s3:GetObject", head + "*", Sid=f"H{i}") for i, head in enumerate(heads)]
    statements += [allow("s3:GetObject", "arn:aws:s3:::b1/k", Sid="Exact"), deny("s3:GetObject", "arn:aws:s3:::b1/x/*")]
    pset = PolicySet(identity=[compiled(doc(*statements), policy_id="nested")])
    probes = [h + tail for h in heads for tail in ("", "k", "/k", "1", "/x/y")] + ["arn:aws:s3", "*", "", "b"]
    for resource in probes:
        _assert_same(Request("s3:GetObject", resource), pset)
    plan = plan_for(pset)
    entry, runners = plan.memo["s3:getobject"], plan.runners["s3:getobject"]
    assert isinstance(entry, IndexedEntry) and isinstance(runners, fastpath.ByResource)
    for resource in probes:
        if resource not in entry.exact_keys:
            assert runners[resource] is runners._prefixes[entry._deepest(resource)], resource
