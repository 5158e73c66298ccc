"""Trust policies for federated principals: decisions, failed-clause reasons, wildcard over-match."""

from __future__ import annotations

import json
from typing import Any

from broker import policy
from broker.trust import evaluate_trust, federated_principal

ROLE = "arn:aws:iam::123456789012:role/deploy"
PROVIDER = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
P = "token.actions.githubusercontent.com"


def _trust(condition: dict[str, Any], principal: str = PROVIDER, sid: str = "GitHub") -> policy.CompiledPolicy:
    doc = {"Version": "2012-10-17", "Statement": [{
        "Sid": sid, "Effect": "Allow", "Principal": {"Federated": principal},
        "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition,
    }]}
    return policy.compile_policy(json.dumps(doc), policy_id=f"{ROLE}#trust", kind="trust")


def _decide(
    trust: policy.CompiledPolicy, ctx: dict[str, Any], actions: tuple[str, ...] = ("sts:AssumeRoleWithWebIdentity",)
) -> Any:
    return evaluate_trust(trust, role_arn=ROLE, principal=federated_principal(PROVIDER, "123456789012"),
                          actions=actions, context=ctx)


PINNED = {"StringEquals": {f"{P}:aud": "sts.amazonaws.com"},
          "StringLike": {f"{P}:sub": "repo:octo-org/octo-repo:*"}}


def test_pinned_repository_is_allowed() -> None:
    ctx = {f"{P}:aud": "sts.amazonaws.com", f"{P}:sub": "repo:octo-org/octo-repo:ref:refs/heads/main"}
    [d] = _decide(_trust(PINNED), ctx)
    assert d.allowed
    assert d.public_reason() == ""


def test_failed_clause_is_named_without_values() -> None:
    [d] = _decide(_trust(PINNED), {f"{P}:aud": "sts.amazonaws.com", f"{P}:sub": "repo:evil/octo-repo:ref:x"})
    assert not d.allowed
    assert d.public_reason() == f"condition {P}:sub StringLike did not match"
    assert "octo-org" not in d.public_reason()
    assert "repo:evil/octo-repo:ref:x" in d.trace()  # the administrator's trace has the request value


def test_several_failed_clauses_are_all_named() -> None:
    [d] = _decide(_trust(PINNED), {f"{P}:aud": "other", f"{P}:sub": "repo:evil/x:ref"})
    assert d.failed_conditions == (f"condition {P}:aud StringEquals did not match",
                                   f"condition {P}:sub StringLike did not match")


def test_other_provider_is_not_admitted() -> None:
    trust = _trust(PINNED, principal="arn:aws:iam::123456789012:oidc-provider/gitlab.com")
    [d] = _decide(trust, {f"{P}:aud": "sts.amazonaws.com", f"{P}:sub": "repo:octo-org/octo-repo:x"})
    assert d.public_reason() == "no statement in the role's trust policy allows this identity provider and action"
    assert "principal or action does not match" in d.trace()


def test_wildcard_does_not_over_match_neighbouring_owner() -> None:
    # "repo:octo-org/*" must not admit "repo:octo-org-evil/..." (the * is after the slash)
    trust = _trust({"StringLike": {f"{P}:sub": "repo:octo-org/*"}})
    [ok] = _decide(trust, {f"{P}:sub": "repo:octo-org/app:ref:refs/heads/main"})
    [bad] = _decide(trust, {f"{P}:sub": "repo:octo-org-evil/app:ref:refs/heads/main"})
    assert ok.allowed and not bad.allowed


def test_tag_session_needs_its_own_allow() -> None:
    trust = _trust(PINNED)
    ctx = {f"{P}:aud": "sts.amazonaws.com", f"{P}:sub": "repo:octo-org/octo-repo:x"}
    decisions = _decide(trust, ctx, ("sts:AssumeRoleWithWebIdentity", "sts:TagSession"))
    assert [d.allowed for d in decisions] == [True, False]
    assert decisions[1].action == "sts:TagSession"


def test_missing_claim_fails_positive_condition() -> None:
    [d] = _decide(_trust(PINNED), {f"{P}:aud": "sts.amazonaws.com"})
    assert d.failed_conditions == (f"condition {P}:sub StringLike did not match",)


def test_explicit_deny_is_reported_as_such() -> None:
    doc = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity"},
        {"Effect": "Deny", "Principal": {"Federated": PROVIDER}, "Action": "sts:AssumeRoleWithWebIdentity",
         "Condition": {"StringEquals": {f"{P}:actor": "mallory"}}},
    ]}
    trust = policy.compile_policy(json.dumps(doc), policy_id="t", kind="trust")
    [d] = _decide(trust, {f"{P}:actor": "mallory"})
    assert d.public_reason() == "an explicit deny in the role's trust policy applies"
