"""Translate the corpus subset of IAM to Cedar, and IAM requests to Cedar requests, for cedarpy.

Each IAM statement becomes one Cedar policy with an unconstrained scope and a ``when`` clause:
``permit`` for Allow, ``forbid`` for Deny (Cedar's forbid-overrides-permit is IAM's explicit-deny-wins,
and Cedar's default deny is IAM's implicit deny: https://docs.cedarpolicy.com/auth/authorization.html).

- Action: the request's action, lower-cased, is ``context.action``; an exact IAM action becomes ``==`` on
  its lower-cased name and a wildcard becomes ``like`` (IAM action names are case-insensitive:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html).
- Resource: the ARN is ``context.resource``; exact ARNs ``==``, wildcards ``like`` (case-sensitive in both).
- Conditions: each key ``k`` becomes ``context["k"]`` (key lower-cased: IAM key names are
  case-insensitive), guarded by ``context has "k"`` so a missing key makes a positive operator false and a
  negated operator true. Values are typed in the request: ``aws:SourceIp`` an ``ip`` extension value,
  ``aws:SecureTransport`` a Bool, ``aws:CurrentTime`` epoch seconds, ``aws:MultiFactorAuthAge`` a Long.
  ``StringEquals`` -> ``==`` / ``[..].contains``; ``StringLike`` -> ``like``; ``IpAddress`` /
  ``NotIpAddress`` -> ``isInRange``; ``Bool`` -> ``==``; ``DateLessThan`` / ``NumericLessThan`` -> ``<``.

``?`` wildcards have no Cedar ``like`` equivalent, so the corpus never produces them; anything outside the
subset raises ``ValueError`` rather than translating approximately.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

__all__ = ["cedar_request", "cedar_verdict", "translate_documents", "translate_statement"]

_KEY_TYPES: Mapping[str, str] = {
    "aws:sourceip": "ip",
    "aws:securetransport": "bool",
    "aws:currenttime": "epoch",
    "aws:multifactorauthage": "long",
}
_PRINCIPAL = 'Role::"bench"'
_ACTION = 'Action::"call"'
_RESOURCE = 'Resource::"arn"'


def _lit(value: str) -> str:
    """A Cedar string literal (JSON escaping is a subset of Cedar's for the ASCII the corpus uses)."""
    if "\\" in value or not value.isascii():
        raise ValueError(f"value outside the corpus subset: {value!r}")
    return json.dumps(value)


def _epoch(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _match(attr: str, patterns: Sequence[str], *, lower: bool) -> str | None:
    """OR of equality / ``like`` tests; ``None`` when a bare ``*`` makes the element always true."""
    terms = []
    for raw in patterns:
        if raw == "*":
            return None
        if "?" in raw:
            raise ValueError(f"'?' wildcard has no Cedar equivalent: {raw!r}")
        pattern = raw.lower() if lower else raw
        terms.append(f"{attr} like {_lit(pattern)}" if "*" in pattern else f"{attr} == {_lit(pattern)}")
    return terms[0] if len(terms) == 1 else "(" + " || ".join(terms) + ")"


def _value_test(op: str, ref: str, value: str) -> str:
    if op == "StringEquals":
        return f"{ref} == {_lit(value)}"
    if op == "StringLike":
        return f"{ref} like {_lit(value)}"
    if op in ("IpAddress", "NotIpAddress"):
        return f"{ref}.isInRange(ip({_lit(value)}))"
    if op == "Bool":
        return f"{ref} == {'true' if value.lower() == 'true' else 'false'}"
    if op == "DateLessThan":
        return f"{ref} < {_epoch(value)}"
    if op == "NumericLessThan":
        return f"{ref} < {int(value)}"
    raise ValueError(f"operator {op} is outside the corpus subset")


def _condition(condition: Mapping[str, Mapping[str, Any]]) -> list[str]:
    clauses = []
    for op, block in condition.items():
        negated = op.startswith("Not")
        for key, values in block.items():
            k = _lit(key.lower())
            ref = f"context[{k}]"
            if op == "StringEquals" and isinstance(values, list) and len(values) > 1:
                any_value = f"[{', '.join(_lit(v) for v in values)}].contains({ref})"
            else:
                tests = [_value_test(op, ref, str(v)) for v in _as_list(values)]
                any_value = tests[0] if len(tests) == 1 else "(" + " || ".join(tests) + ")"
            if negated:
                clauses.append(f"(!(context has {k}) || !({any_value}))")
            else:
                clauses.append(f"(context has {k} && {any_value})")
    return clauses


def translate_statement(stmt: Mapping[str, Any]) -> str:
    """One IAM statement -> one Cedar policy."""
    effect = {"Allow": "permit", "Deny": "forbid"}[stmt["Effect"]]
    clauses = [c for c in (_match("context.action", _as_list(stmt["Action"]), lower=True),
                           _match("context.resource", _as_list(stmt["Resource"]), lower=False)) if c]
    clauses += _condition(stmt.get("Condition", {}))
    body = " && ".join(clauses) if clauses else "true"
    return f"{effect}(principal, action, resource) when {{ {body} }};"


def translate_documents(documents: Sequence[Mapping[str, Any]]) -> str:
    """Every statement of every document, in order, as one Cedar policy set text."""
    return "\n".join(translate_statement(s) for d in documents for s in _as_list(d["Statement"]))


def _typed(key: str, value: str) -> Any:
    kind = _KEY_TYPES.get(key, "string")
    if kind == "ip":
        return {"__extn": {"fn": "ip", "arg": value}}
    if kind == "bool":
        return value.lower() == "true"
    if kind == "epoch":
        return _epoch(value)
    if kind == "long":
        return int(value)
    return value


def cedar_request(action: str, resource: str, context: Mapping[str, str]) -> dict[str, Any]:
    """The Cedar request for one IAM request: fixed principal/action/resource entities, all data in context."""
    ctx: dict[str, Any] = {k.lower(): _typed(k.lower(), v) for k, v in context.items()}
    ctx["action"] = action.lower()
    ctx["resource"] = resource
    return {"principal": _PRINCIPAL, "action": _ACTION, "resource": _RESOURCE, "context": ctx}


def cedar_verdict(allowed: bool, reasons: Sequence[str]) -> Literal["Allow", "ExplicitDeny", "ImplicitDeny"]:
    """Cedar Deny with a determining policy is a forbid (explicit deny); with none it is the default deny."""
    if allowed:
        return "Allow"
    return "ExplicitDeny" if reasons else "ImplicitDeny"
