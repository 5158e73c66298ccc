"""Compile once: the cache and its invalidation, the per-set plan, and the indexes never changing a decision."""

from __future__ import annotations

import json
import random

import pytest
from policy_helpers import allow, compiled, deny, doc

from broker.policy import CompiledPolicy, PolicyCache, PolicySet, Request, compile_policy, evaluate
from broker.policy.plan import IndexedEntry, plan_for

DOC_A = doc(allow("s3:GetObject", "arn:aws:s3:::b/*"))
DOC_B = doc(allow("s3:*", "*"))


def test_cache_compiles_once_per_version() -> None:
    cache = PolicyCache()
    first = cache.get(DOC_A, policy_id="p", kind="identity")
    assert cache.get(DOC_A, policy_id="p", kind="identity") is first
    assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)


def test_changed_document_is_a_new_entry_without_explicit_version() -> None:
    cache = PolicyCache()
    a = cache.get(DOC_A, policy_id="p", kind="identity")
    b = cache.get(DOC_B, policy_id="p", kind="identity")
    assert a is not b and b.document == DOC_B


def test_version_tag_is_the_key_when_given() -> None:
    cache = PolicyCache()
    v1 = cache.get(DOC_A, policy_id="p", kind="identity", version="v1")
    assert cache.get(DOC_A, policy_id="p", kind="identity", version="v1") is v1
    assert cache.get(DOC_A, policy_id="p", kind="identity", version="v2") is not v1


def test_invalidate_drops_every_version_of_one_policy_only() -> None:
    cache = PolicyCache()
    p1 = cache.get(DOC_A, policy_id="p", kind="identity", version="v1")
    cache.get(DOC_B, policy_id="p", kind="identity", version="v2")
    q = cache.get(DOC_A, policy_id="q", kind="identity")
    assert cache.invalidate("p") == 2
    assert cache.get(DOC_A, policy_id="q", kind="identity") is q
    assert cache.get(DOC_A, policy_id="p", kind="identity", version="v1") is not p1
    cache.clear()
    assert len(cache) == 0


def test_cache_is_bounded() -> None:
    cache = PolicyCache(max_entries=2)
    first = cache.get(DOC_A, policy_id="a", kind="identity")
    cache.get(DOC_A, policy_id="b", kind="identity")
    cache.get(DOC_A, policy_id="c", kind="identity")
    assert len(cache) == 2
    assert cache.get(DOC_A, policy_id="a", kind="identity") is not first


def test_invalid_documents_are_not_cached() -> None:
    cache = PolicyCache()
    with pytest.raises(Exception, match=r"Policy statement must contain actions\."):
        cache.get(doc({"Effect": "Allow", "Resource": "*"}), policy_id="p", kind="identity")
    assert len(cache) == 0


def test_compiled_policy_exposes_identity_and_digest() -> None:
    p = compile_policy(DOC_A, policy_id="arn:aws:iam::123456789012:policy/A", kind="identity")
    assert isinstance(p, CompiledPolicy)
    assert (p.policy_id, p.kind, p.version, p.document) == (
        "arn:aws:iam::123456789012:policy/A",
        "identity",
        "2012-10-17",
        DOC_A,
    )
    assert len(p.digest) == 64 and repr(p) == (
        "CompiledPolicy(policy_id='arn:aws:iam::123456789012:policy/A', kind='identity', statements=1)"
    )


def test_plan_is_built_once_per_policy_set_and_shared_by_equal_sets() -> None:
    p = compiled(DOC_A)
    first = PolicySet(identity=[p])
    evaluate(Request("s3:GetObject", "arn:aws:s3:::b/k"), first)
    plan = plan_for(first)
    assert first.__dict__["_plan"] is plan
    second = PolicySet(identity=[p])
    evaluate(Request("s3:GetObject", "arn:aws:s3:::b/k"), second)
    assert second.__dict__["_plan"] is plan
    assert "s3:getobject" in plan.memo


def test_evaluate_reads_the_plans_runners_from_the_set() -> None:
    """``evaluate`` looks the action up in ``PolicySet._runners``: an empty read-only mapping until the plan is
    attached, then the plan's own ``runners`` dict (the same object, also after the bounded memo is emptied)."""
    pset = PolicySet(identity=[compiled(DOC_A)])
    assert dict(pset.__dict__["_runners"]) == {} and pset.__dict__["_plan"] is None
    with pytest.raises(TypeError):
        pset.__dict__["_runners"]["s3:getobject"] = None
    first = evaluate(Request("s3:GetObject", "arn:aws:s3:::b/k"), pset)
    runners = plan_for(pset).runners
    assert pset.__dict__["_runners"] is runners and "s3:getobject" in runners
    runners.clear()
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b/k"), pset) == first
    assert "s3:getobject" in pset.__dict__["_runners"]


def test_policy_set_sequences_are_frozen() -> None:
    policies = [compiled(DOC_A)]
    pset = PolicySet(identity=policies)
    policies.append(compiled(DOC_B))
    assert len(pset.identity) == 1 and isinstance(pset.identity, tuple)


def test_a_new_compiled_version_gets_a_new_plan() -> None:
    cache = PolicyCache()
    v1 = PolicySet(identity=[cache.get(DOC_A, policy_id="p", kind="identity", version="1")])
    assert evaluate(Request("s3:PutObject", "arn:aws:s3:::b/k"), v1).effect == "ImplicitDeny"
    cache.invalidate("p")
    v2 = PolicySet(identity=[cache.get(DOC_B, policy_id="p", kind="identity", version="2")])
    assert evaluate(Request("s3:PutObject", "arn:aws:s3:::b/k"), v2).effect == "Allow"


def test_action_index_touches_only_statements_that_can_match() -> None:
    statements = [allow(f"svc{i}:Action{i}", "*") for i in range(500)] + [allow("svc7:Get*"), deny("*", "arn:x:y:::z")]
    p = compiled(doc(*statements), max_size=10**6)
    assert [s.index for s in p.candidates("svc7:action7")] == [7, 501]
    assert [s.index for s in p.candidates("svc7:getthing")] == [500, 501]
    assert [s.index for s in p.candidates("svc9:action8")] == [501]


def _random_statement(rng: random.Random, i: int) -> dict[str, object]:
    service = rng.choice(["s3", "iam", "ec2"])
    actions = rng.choice([f"{service}:Get*", f"{service}:GetThing", f"{service}:*", "*", f"{service}:Put?hing"])
    resource = rng.choice(
        [
            "*",
            f"arn:aws:{service}:::r{i % 7}",
            f"arn:aws:{service}:::r{i % 5}/*",
            f"arn:aws:{service}:::r*",
            [f"arn:aws:{service}:::r1", f"arn:aws:{service}:::r2/*"],
        ]
    )
    statement: dict[str, object] = {
        "Effect": rng.choice(["Allow", "Allow", "Deny"]),
        "Action": actions,
        "Resource": resource,
    }
    if rng.random() < 0.15:
        statement = {"Effect": statement["Effect"], "NotAction": actions, "Resource": resource}
    if rng.random() < 0.1:
        statement.pop("Resource")
        statement["NotResource"] = resource
    if rng.random() < 0.3:
        statement["Condition"] = {"StringEquals": {"aws:PrincipalTag/team": rng.choice(["a", "b"])}}
    return statement


def _linear(statements: list[dict[str, object]], request: Request) -> str:
    """Reference: evaluate each statement as its own one-statement policy, combine by hand."""
    from broker.policy.compile import compile_policy as cp

    effects = []
    for st in statements:
        single = cp(json.dumps({"Version": "2012-10-17", "Statement": [st]}), policy_id="x", kind="identity")
        s = single.statements[0]
        missing: list[str] = []
        if not s.action_matches(request.action_key):
            continue
        if not (s.res_any or s.resource_matches(request.resource, request.ctx)):
            continue
        if not all(c.holds(request.ctx, missing) for c in s.clauses):
            continue
        effects.append(st["Effect"])
    if "Deny" in effects:
        return "ExplicitDeny"
    return "Allow" if "Allow" in effects else "ImplicitDeny"


@pytest.mark.parametrize("seed", range(6))
def test_indexed_plan_agrees_with_linear_evaluation(seed: int) -> None:
    rng = random.Random(seed)
    statements = [_random_statement(rng, i) for i in range(60)]
    pset = PolicySet(identity=[compiled(doc(*statements[i : i + 12])) for i in range(0, 60, 12)])
    actions = ["s3:GetThing", "s3:PutThing", "iam:GetThing", "ec2:Describe", "iam:PutXhing"]
    resources = [
        "*",
        "arn:aws:s3:::r1",
        "arn:aws:s3:::r2/x",
        "arn:aws:iam:::r3",
        "arn:aws:ec2:::r4/y/z",
        "arn:aws:s3:::q",
    ]
    indexed = 0
    for action in actions:
        for resource in resources:
            for team in ("a", "b", None):
                ctx = {} if team is None else {"aws:PrincipalTag/team": team}
                request = Request(action, resource, ctx)
                assert evaluate(request, pset).effect == _linear(statements, request), (action, resource, team)
                indexed += isinstance(plan_for(pset).memo[request.action_key], IndexedEntry)
    assert indexed > 0


def test_identical_statements_are_one_unit_but_all_reported() -> None:
    guard = deny("*", "*", Condition={"Bool": {"aws:SecureTransport": "false"}})
    policies = [compiled(doc({**guard, "Sid": f"G{i}"}, allow("s3:*")), policy_id=f"p{i}") for i in range(20)]
    pset = PolicySet(identity=policies)
    decision = evaluate(Request("s3:GetObject", "arn:aws:s3:::b/k", {"aws:SecureTransport": False}), pset)
    assert decision.effect == "ExplicitDeny"
    assert [(m.policy_id, m.sid) for m in decision.matched] == [(f"p{i}", f"G{i}") for i in range(20)]
    entry = plan_for(pset).memo["s3:getobject"]
    assert isinstance(entry, tuple) and len(entry) == 2
    allowed = evaluate(Request("s3:GetObject", "arn:aws:s3:::b/k", {"aws:SecureTransport": True}), pset)
    assert len(allowed.matched) == 20 and allowed.effect == "Allow"


@pytest.mark.parametrize("seed", range(4))
def test_resource_index_selects_exactly_the_units_whose_keys_fit(seed: int) -> None:
    """``IndexedEntry.select`` returns, in document order, the always-checked units plus every unit with an
    exact resource equal to the request's or a literal prefix the request's resource starts with."""
    rng = random.Random(seed)
    heads = [
        "arn:aws:s3:::b",
        "arn:aws:s3:::b1",
        "arn:aws:s3:::b1/",
        "arn:aws:s3:::b1/x",
        "arn:aws:s3:::c",
        "arn:aws:s3:::",
        "arn:aws:s3:::b2/y",
    ]
    statements = []
    for i in range(40):
        shape = rng.random()
        if shape < 0.15:
            resource: object = "*"
        elif shape < 0.5:
            resource = rng.choice(heads) + rng.choice(["", "k", "/k"])
        elif shape < 0.9:
            resource = rng.choice(heads) + "*"
        else:
            resource = [rng.choice(heads) + "*", rng.choice(heads) + "/k"]
        statements.append(allow("s3:GetObject", resource, Sid=f"S{i}"))
    pset = PolicySet(identity=[compiled(doc(*statements[i : i + 8])) for i in range(0, 40, 8)])
    evaluate(Request("s3:GetObject", "arn:aws:s3:::b"), pset)
    entry = plan_for(pset).memo["s3:getobject"]
    assert isinstance(entry, IndexedEntry)
    probes = [h + tail for h in heads for tail in ("", "k", "/k", "1", "/x/y")] + ["arn:aws:s3:::a", "*", ""]
    for resource in probes:
        expected = []
        for unit in entry.units:
            keys = unit[0].resource_index_keys()
            if keys is None or resource in keys[0] or any(resource.startswith(h) for h in keys[1]):
                expected.append(unit[3])
        assert [unit[3] for unit in entry.select(resource)] == sorted(expected), resource
        assert entry.select(resource) is entry.select(resource)  # merged once, remembered


def test_units_known_to_cover_the_resource_lose_their_resource_test() -> None:
    statements = [allow("s3:GetObject", f"arn:aws:s3:::other{i}") for i in range(6)]
    statements += [
        allow("s3:GetObject", "arn:aws:s3:::b1/k", Sid="Exact"),
        allow("s3:GetObject", "arn:aws:s3:::b1/*", Sid="Head"),
        allow("s3:GetObject", "arn:aws:s3:::b1/?*", Sid="Pattern"),
    ]
    pset = PolicySet(identity=[compiled(doc(*statements))])
    assert evaluate(Request("s3:GetObject", "arn:aws:s3:::b1/k"), pset).effect == "Allow"
    entry = plan_for(pset).memo["s3:getobject"]
    assert isinstance(entry, IndexedEntry)
    tests = {unit[0].sid: unit[4:7] for unit in entry.select("arn:aws:s3:::b1/k")}
    assert tests["Exact"] == tests["Head"] == (None, None, None)
    assert tests["Pattern"][2] is not None  # only a necessary prefix: still tested
    assert set(tests) == {"Exact", "Head", "Pattern"}
    decision = evaluate(Request("s3:GetObject", "arn:aws:s3:::b1/"), pset)
    assert [m.sid for m in decision.matched] == ["Head"]
