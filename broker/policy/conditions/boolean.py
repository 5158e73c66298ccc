"""The Boolean condition operator.

"IAM JSON policy elements: Condition operators", section "Boolean condition operators"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Boolean):
``Bool`` compares ``true``/``false`` (case-insensitive); policy variables are allowed. broker refuses any
other literal value at validation, so a typo cannot silently disable a Deny.
"""

from __future__ import annotations

from collections.abc import Sequence

from broker.policy.conditions.base import Matcher, Operator

__all__ = ["OPERATORS", "build_bool"]


def build_bool(values: Sequence[str]) -> Matcher:
    folded = frozenset(v.lower() for v in values)
    for value in folded:
        if value not in ("true", "false"):
            raise ValueError(f"Invalid Bool value {value!r} in condition: use true or false")
    spelled = frozenset(v for f in folded for v in (f, f.upper(), f.capitalize()))
    return lambda value: value in spelled or value.lower() in folded


OPERATORS = (Operator("Bool", "Bool", False, build_bool, variables=True),)
