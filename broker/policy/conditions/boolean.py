"""The Boolean condition operator.

"IAM JSON policy elements: Condition operators", section "Boolean condition operators"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Boolean):
``Bool`` compares ``true``/``false`` (case-insensitive); policy variables are allowed. broker refuses any
other literal value at validation, so a typo cannot silently disable a Deny.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import product

from broker.policy.conditions.base import Matcher, Operator

__all__ = ["OPERATORS", "build_bool"]


def build_bool(values: Sequence[str]) -> Matcher:
    folded = frozenset(v.lower() for v in values)
    for value in folded:
        if value not in ("true", "false"):
            raise ValueError(f"Invalid Bool value {value!r} in condition: use true or false")
    return frozenset(_spellings(folded)).__contains__


def _spellings(words: frozenset[str]) -> Iterator[str]:
    """Every string whose ``lower()`` is one of ``words`` ("true", "false"): each letter in either case, 16 + 32
    strings. No other character lower-cases to one of their letters (only U+212A KELVIN SIGN lower-cases to an
    ASCII letter, ``k``; unit-tested over every code point), so membership in this set is the case-insensitive
    comparison, answered by one C-level set lookup (the evaluation loop writes it ``v in T``, no call)."""
    for word in sorted(words):
        for letters in product(*((c, c.upper()) for c in word)):
            yield "".join(letters)


OPERATORS = (Operator("Bool", "Bool", False, build_bool, variables=True),)
