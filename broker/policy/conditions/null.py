"""The ``Null`` condition operator.

"IAM JSON policy elements: Condition operators", section "Condition operator to check existence of
condition keys" (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Null):
``"true"`` — the key is absent (or null); ``"false"`` — the key is present. It cannot take ``IfExists``.
The matcher here receives ``"true"`` when the key is absent and ``"false"`` when present.
"""

from __future__ import annotations

from collections.abc import Sequence

from broker.policy.conditions.base import Matcher, Operator

__all__ = ["OPERATORS", "build_null"]


def build_null(values: Sequence[str]) -> Matcher:
    folded = frozenset(v.lower() for v in values)
    for value in folded:
        if value not in ("true", "false"):
            raise ValueError(f"Invalid Null value {value!r} in condition: use true or false")
    return folded.__contains__


OPERATORS = (Operator("Null", "Null", False, build_null, if_exists_allowed=False),)
