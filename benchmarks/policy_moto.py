"""moto's IAM evaluator, called in-process the way moto's own request path calls it, and its known gaps.

``moto.iam.access_control.IAMRequestBase.check_action_permitted`` loops over the principal's policies,
builds an ``IAMPolicy`` per policy and asks ``is_action_permitted(action, resource)``: ``DENIED`` from any
policy denies, otherwise any ``PERMITTED`` allows. We build each ``IAMPolicy`` once (its constructor does the
``json.loads``), the same compile-once treatment broker and cedarpy get, and pass the request context as
``incoming_condition_values`` (moto only ever reads ``sts:ExternalId`` there on its own path).

Its gaps (moto 5.2.5 source; /work/shared/reference/aws-sts-iam.md section 8) are the disagreement
categories in ``CATEGORIES``; ``classify`` attributes a disagreeing decision to the statement that caused it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult

from benchmarks.policy_model import condition_holds, glob, statement_outcome

__all__ = ["CATEGORIES", "classify", "moto_evaluator"]

Verdict = Literal["Allow", "ExplicitDeny", "ImplicitDeny"]

CATEGORIES: Mapping[str, str] = {
    "unsupported-operator": "operators other than StringEquals are ignored (treated as true)",
    "unmet-condition-denies": "an unmet condition returns DENIED (explicit deny) even on an Allow statement",
    "condition-before-resource": "conditions are checked before the resource, so a failing condition denies "
                                 "a request for a resource the statement does not cover",
    "action-case": "actions match case-sensitively (AWS: case-insensitive)",
    "missing-key": "a condition key absent from the request is treated as matching",
    "other": "not explained by a known gap",
}


def moto_evaluator(documents: Sequence[str]) -> Callable[[str, str, Mapping[str, str]], Verdict]:
    """Compile once (one ``IAMPolicy`` per document); the returned function decides one request."""
    policies = [IAMPolicy(doc) for doc in documents]
    denied, permitted = PermissionResult.DENIED, PermissionResult.PERMITTED

    def decide(action: str, resource: str, context: Mapping[str, str]) -> Verdict:
        allowed = False
        for policy in policies:
            result = policy.is_action_permitted(action, resource, None, context)  # type: ignore[arg-type]
            if result is denied:
                return "ExplicitDeny"
            if result is permitted:
                allowed = True
        return "Allow" if allowed else "ImplicitDeny"

    return decide


def _string_equals_fails(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    """moto's own condition check failing: a ``StringEquals`` key is present with a value not listed."""
    for key, expected in condition.get("StringEquals", {}).items():
        if key in context:
            values = expected if isinstance(expected, list) else [expected]
            if context[key] not in values:
                return True
    return False


def _statement_category(stmt: Mapping[str, Any], action: str, resource: str,
                        context: Mapping[str, str]) -> str | None:
    """Why moto's verdict on one statement differs from IAM's, or ``None`` if they agree."""
    moto = IAMPolicyStatement(stmt).is_action_permitted(action, resource, None, dict(context))
    iam = statement_outcome(stmt, action, resource, context)
    effect = stmt["Effect"]
    iam_result = PermissionResult.NEUTRAL
    if iam == "match":
        iam_result = PermissionResult.PERMITTED if effect == "Allow" else PermissionResult.DENIED
    if moto is iam_result:
        return None
    actions = stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]
    if any(glob(a, ignore_case=True).match(action) for a in actions) != any(glob(a).match(action) for a in actions):
        return "action-case"
    condition = stmt.get("Condition", {})
    if moto is PermissionResult.DENIED and _string_equals_fails(condition, context):
        resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
        if not any(glob(r).match(resource) for r in resources):
            return "condition-before-resource"
        return "unmet-condition-denies"
    if iam == "condition-false":
        equals_only = {"StringEquals": condition["StringEquals"]} if "StringEquals" in condition else {}
        if not condition_holds(equals_only, context):
            return "missing-key"
        return "unsupported-operator"
    return "other"


def classify(documents: Sequence[Mapping[str, Any]], action: str, resource: str,
             context: Mapping[str, str], moto_verdict: Verdict) -> str:
    """The category of the statement that produced moto's (wrong) verdict, else of the first differing one."""
    wanted = {"ExplicitDeny": PermissionResult.DENIED, "Allow": PermissionResult.PERMITTED}.get(moto_verdict)
    first: str | None = None
    for doc in documents:
        statements = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
        for stmt in statements:
            category = _statement_category(stmt, action, resource, context)
            if category is None:
                continue
            moto = IAMPolicyStatement(stmt).is_action_permitted(action, resource, None, dict(context))
            if moto is wanted:
                return category
            first = first or category
    return first or "other"
