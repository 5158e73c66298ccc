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
    return _Spellings(folded).__getitem__


class _Spellings(dict[str, bool]):
    """Whether a context value is one of the policy's Bool values, case-insensitively: the usual spellings
    are looked up (a C-level dict hit, no Python call), any other spelling is lower-cased and compared."""

    __slots__ = ("_folded",)

    def __init__(self, folded: frozenset[str]) -> None:
        super().__init__(
            (spelling, word in folded)
            for word in ("true", "false")
            for spelling in (word, word.upper(), word.capitalize())
        )
        self._folded = folded

    def __missing__(self, value: str) -> bool:
        return value.lower() in self._folded


OPERATORS = (Operator("Bool", "Bool", False, build_bool, variables=True),)
