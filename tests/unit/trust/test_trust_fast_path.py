"""evaluate_trust's shortcuts equal the general form: one PolicySet per compiled trust policy (kept), and the
context normalised once for all the actions decided (later actions reuse the first request's normalised form)."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime
from typing import Any

from broker import policy
from broker.trust import evaluate, evaluate_trust, federated_principal
from broker.trust.evaluate import TrustDecision, _explain_denial

ROLE = "arn:aws:iam::123456789012:role/deploy"
PROVIDER = "arn:aws:iam::123456789012:oidc-provider/idp.example"
P = "idp.example"
ACTIONS = ("sts:AssumeRoleWithWebIdentity", "sts:TagSession", "sts:SetSourceIdentity")

STATEMENTS: list[dict[str, Any]] = [
    {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity",
     "Condition": {"StringEquals": {f"{P}:aud": "client"}, "StringLike": {f"{P}:sub": "repo:org/*"}}},
    {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": ["sts:TagSession", "sts:SetSourceIdentity"],
     "Condition": {"StringEquals": {"aws:RequestTag/team": "blue"}}},
    {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:SetSourceIdentity",
     "Condition": {"StringLike": {"sts:SourceIdentity": "ci-*"}, "Bool": {"aws:SecureTransport": "true"}}},
    {"Effect": "Deny", "Principal": {"Federated": PROVIDER}, "Action": "sts:*",
     "Condition": {"ForAnyValue:StringEquals": {f"{P}:amr": "unauthenticated"}}},
    {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/other"},
     "Action": "sts:AssumeRoleWithWebIdentity"},
    {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity",
     "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}, "IpAddress": {
         "aws:SourceIp": "10.0.0.0/8"}}},
]


def _general(trust: policy.CompiledPolicy, actions: tuple[str, ...], ctx: dict[str, Any]) -> list[TrustDecision]:
    """evaluate_trust as written before: a fresh PolicySet, and each action's Request built from the context."""
    out: list[TrustDecision] = []
    principal = federated_principal(PROVIDER, "123456789012")
    pset = policy.PolicySet(resource=[trust], resource_must_allow=True)
    for action in actions:
        request = policy.Request(action, ROLE, ctx, principal)
        decision = policy.evaluate(request, pset)
        if decision.effect == "Allow":
            out.append(TrustDecision(action, decision, (), ()))
            continue
        failed, notes = _explain_denial(trust.document, request, ROLE)
        out.append(TrustDecision(action, decision, tuple(failed), tuple(notes)))
        break
    return out


def _context(rng: random.Random) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        f"{P}:aud": rng.choice(["client", "other"]),
        f"{P}:sub": rng.choice(["repo:org/app:ref:main", "repo:evil/app", ""]),
        "aws:FederatedProvider": PROVIDER,
        "aws:CurrentTime": datetime(2026, rng.randint(1, 12), 1, tzinfo=UTC),
        "aws:EpochTime": "1767225600",
        "aws:SourceIp": rng.choice(["10.1.2.3", "192.0.2.1"]),
        "aws:SecureTransport": rng.choice([True, False]),
        "aws:PrincipalType": "WebIdentityUser",
        "sts:RoleSessionName": "s",
    }
    if rng.random() < 0.6:
        ctx[f"{P}:amr"] = rng.choice([["pwd"], ["unauthenticated"], [], ["pwd", "mfa"]])
    if rng.random() < 0.6:
        ctx["aws:RequestTag/team"] = rng.choice(["blue", "red"])
        ctx["aws:TagKeys"] = ["team"]
    if rng.random() < 0.5:
        ctx["sts:SourceIdentity"] = rng.choice(["ci-1", "alice"])
    if rng.random() < 0.3:
        ctx["aws:UserAgent"] = None  # absent
    return ctx


def test_equal_to_the_general_form() -> None:
    rng = random.Random(11)
    principal = federated_principal(PROVIDER, "123456789012")
    subsets = [list(c) for n in range(1, len(STATEMENTS) + 1) for c in itertools.combinations(STATEMENTS, n)]
    decided = set()
    for statements in subsets:
        doc = json.dumps({"Version": "2012-10-17", "Statement": statements})
        trust = policy.compile_policy(doc, policy_id=f"{ROLE}#trust", kind="trust")
        for _ in range(6):
            ctx = _context(rng)
            for n in (1, 2, 3):
                actions = ACTIONS[:n] if rng.random() < 0.7 else (ACTIONS[0], ACTIONS[2])[:n]
                fast = evaluate_trust(trust, role_arn=ROLE, principal=principal, actions=actions, context=ctx)
                assert fast == _general(trust, tuple(actions), ctx)
                decided.update((d.action, d.decision.effect) for d in fast)
    # Every action was both allowed and refused somewhere: the comparison covered both branches.
    for action in ACTIONS:
        assert {(action, "Allow"), (action, "ImplicitDeny")} <= decided
    assert ("sts:AssumeRoleWithWebIdentity", "ExplicitDeny") in decided


def test_one_set_per_compiled_policy_and_bounded() -> None:
    doc = json.dumps({"Version": "2012-10-17", "Statement": STATEMENTS[:1]})
    first = policy.compile_policy(doc, policy_id=f"{ROLE}#trust", kind="trust")
    again = policy.compile_policy(doc, policy_id=f"{ROLE}#trust", kind="trust")  # recompiled: its own set
    assert evaluate._trust_set(first) is evaluate._trust_set(first)
    assert evaluate._trust_set(again) is not evaluate._trust_set(first)
    assert tuple(evaluate._trust_set(first).resource) == (first,)
    assert evaluate._trust_set(first).resource_must_allow is True
    for _ in range(evaluate._SET_LIMIT + 5):
        evaluate._trust_set(policy.compile_policy(doc, policy_id=f"{ROLE}#trust", kind="trust"))
    assert len(evaluate._sets) <= evaluate._SET_LIMIT
    assert first not in evaluate._sets  # the oldest went first
