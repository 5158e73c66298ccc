"""A deliberately naive IAM evaluator for the corpus subset only: the yardstick for explaining disagreements.

It is not timed and not a product: it interprets the JSON on every call, statement by statement, and exists
so that when moto or the Cedar translation disagrees with broker the harness can say *which statement* and
*which rule* caused it. It follows, for the subset ``policy_corpus`` generates:

- "Policy evaluation logic": an explicit Deny wins, otherwise any Allow, otherwise implicit deny
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
- "IAM JSON policy elements: Action": action names are case-insensitive, ``*`` matches any characters
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
- "IAM JSON policy elements: Resource": ARNs match case-sensitively, ``*`` within the resource part
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
- "IAM JSON policy elements: Condition operators": AND across operators and keys, OR across values; a
  key missing from the request makes a positive operator false and a negated operator true
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

__all__ = ["StatementOutcome", "condition_holds", "evaluate", "glob", "statement_outcome"]

StatementOutcome = Literal["match", "condition-false", "no-match"]
Verdict = Literal["Allow", "ExplicitDeny", "ImplicitDeny"]


@lru_cache(maxsize=65_536)
def glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """``*`` -> any run of characters, every other character literal."""
    body = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.compile(f"{body}\\Z", re.IGNORECASE if ignore_case else 0)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _one(op: str, expected: str, actual: str) -> bool:
    if op == "StringEquals":
        return actual == expected
    if op == "StringLike":
        return glob(expected).match(actual) is not None
    if op in ("IpAddress", "NotIpAddress"):
        return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
    if op == "Bool":
        return actual.lower() == expected.lower()
    if op == "DateLessThan":
        return _epoch(actual) < _epoch(expected)
    if op == "NumericLessThan":
        return float(actual) < float(expected)
    raise ValueError(f"operator {op} is outside the corpus subset")


def condition_holds(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    """AND over operators and keys, OR over values; ``Not…`` operators negate the OR and hold on a missing key."""
    lowered = {k.lower(): v for k, v in context.items()}
    for op, block in condition.items():
        negated = op.startswith("Not")
        for key, values in block.items():
            actual = lowered.get(key.lower())
            if actual is None:
                if not negated:
                    return False
                continue
            hit = any(_one(op, str(v), actual) for v in _as_list(values))
            if hit == negated:
                return False
    return True


def statement_outcome(stmt: Mapping[str, Any], action: str, resource: str,
                      context: Mapping[str, str]) -> StatementOutcome:
    """Whether one statement applies: action and resource match and its condition holds."""
    if not any(glob(a, ignore_case=True).match(action) for a in _as_list(stmt["Action"])):
        return "no-match"
    if not any(glob(r).match(resource) for r in _as_list(stmt["Resource"])):
        return "no-match"
    if "Condition" in stmt and not condition_holds(stmt["Condition"], context):
        return "condition-false"
    return "match"


def evaluate(documents: Sequence[Mapping[str, Any]], action: str, resource: str,
             context: Mapping[str, str]) -> Verdict:
    """Deny wins; otherwise Allow if any Allow statement applies; otherwise implicit deny."""
    allowed = False
    for doc in documents:
        for stmt in _as_list(doc["Statement"]):
            if statement_outcome(stmt, action, resource, context) == "match":
                if stmt["Effect"] == "Deny":
                    return "ExplicitDeny"
                allowed = True
    return "Allow" if allowed else "ImplicitDeny"
