"""The one table of condition operators, and the parsing of an operator name with its qualifiers.

"IAM JSON policy elements: Condition operators"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
the ``IfExists`` suffix (section "...IfExists condition operators") on any operator but ``Null``; the
set prefixes ``ForAllValues:`` / ``ForAnyValue:`` ("Set operators for multivalued context keys",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html).
Operator names are matched exactly as documented (case-sensitive).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from broker.policy.conditions import arn, binary, boolean, date, ip, null, numeric, string
from broker.policy.conditions.base import Operator

__all__ = ["REGISTRY", "ParsedOperator", "SetOperator", "parse_operator"]

SetOperator = Literal["ForAllValues", "ForAnyValue"] | None

REGISTRY: dict[str, Operator] = {
    op.name: op for family in (string, numeric, date, boolean, binary, ip, arn, null) for op in family.OPERATORS
}


@dataclass(frozen=True, slots=True)
class ParsedOperator:
    operator: Operator
    set_operator: SetOperator
    if_exists: bool


def parse_operator(name: str) -> ParsedOperator | None:
    """``ForAnyValue:StringLikeIfExists`` → (StringLike, ForAnyValue, if_exists); ``None`` if unknown."""
    set_operator: SetOperator = None
    base = name
    if base.startswith("ForAllValues:"):
        set_operator, base = "ForAllValues", base[len("ForAllValues:") :]
    elif base.startswith("ForAnyValue:"):
        set_operator, base = "ForAnyValue", base[len("ForAnyValue:") :]
    if_exists = False
    if base.endswith("IfExists"):
        if_exists, base = True, base[: -len("IfExists")]
    operator = REGISTRY.get(base)
    if operator is None or (if_exists and not operator.if_exists_allowed):
        return None
    return ParsedOperator(operator, set_operator, if_exists)
