"""Numeric condition operators.

"IAM JSON policy elements: Condition operators", section "Numeric condition operators"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Numeric):
integers and decimals; policy variables are not supported. A context value that is not a number matches
no value (so the negated ``NumericNotEquals`` is true for it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from broker.policy.conditions.base import Matcher, Operator

__all__ = ["OPERATORS", "parse_number"]

_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def parse_number(text: str) -> float | None:
    """A finite decimal number, or ``None``."""
    text = text.strip()
    if not _NUMBER.match(text):
        return None
    return float(text)


def _policy_numbers(values: Sequence[str]) -> list[float]:
    out: list[float] = []
    for value in values:
        number = parse_number(value)
        if number is None:
            raise ValueError(f"Invalid numeric value {value!r} in condition")
        out.append(number)
    return out


def _equals(values: Sequence[str]) -> Matcher:
    numbers = frozenset(_policy_numbers(values))

    def match(value: str) -> bool:
        return parse_number(value) in numbers

    return match


def _compare(
    pick: Callable[[list[float]], float], test: Callable[[float, float], bool]
) -> Callable[[Sequence[str]], Matcher]:
    def build(values: Sequence[str]) -> Matcher:
        bound = pick(_policy_numbers(values))

        def match(value: str) -> bool:
            number = parse_number(value)
            return number is not None and test(number, bound)

        return match

    return build


OPERATORS = (
    Operator("NumericEquals", "Numeric", False, _equals),
    Operator("NumericNotEquals", "Numeric", True, _equals),
    # x < any of the values  <=>  x < max(values); x > any  <=>  x > min(values)
    Operator("NumericLessThan", "Numeric", False, _compare(max, lambda x, b: x < b)),
    Operator("NumericLessThanEquals", "Numeric", False, _compare(max, lambda x, b: x <= b)),
    Operator("NumericGreaterThan", "Numeric", False, _compare(min, lambda x, b: x > b)),
    Operator("NumericGreaterThanEquals", "Numeric", False, _compare(min, lambda x, b: x >= b)),
)
