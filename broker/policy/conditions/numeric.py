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
    """A finite decimal number, or ``None``. A string of ASCII digits only (``isascii`` first: ``isdigit``
    alone also takes ``²`` and other Unicode digits) is one of the regular expression's numbers without
    surrounding space, so it goes to ``float`` directly (two method calls instead of ``strip`` and a match)."""
    if text.isascii() and text.isdigit():
        return float(text)
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


def _compare(pick: Callable[[list[float]], float], test: str) -> Callable[[Sequence[str]], Matcher]:
    """``test``: ``<``, ``<=``, ``>`` or ``>=``, written into each matcher (no comparison function per call)."""

    def build(values: Sequence[str]) -> Matcher:
        bound = pick(_policy_numbers(values))

        def lt(value: str) -> bool:
            number = parse_number(value)
            return number is not None and number < bound

        def le(value: str) -> bool:
            number = parse_number(value)
            return number is not None and number <= bound

        def gt(value: str) -> bool:
            number = parse_number(value)
            return number is not None and number > bound

        def ge(value: str) -> bool:
            number = parse_number(value)
            return number is not None and number >= bound

        return {"<": lt, "<=": le, ">": gt, ">=": ge}[test]

    return build


OPERATORS = (
    Operator("NumericEquals", "Numeric", False, _equals),
    Operator("NumericNotEquals", "Numeric", True, _equals),
    # x < any of the values  <=>  x < max(values); x > any  <=>  x > min(values)
    Operator("NumericLessThan", "Numeric", False, _compare(max, "<")),
    Operator("NumericLessThanEquals", "Numeric", False, _compare(max, "<=")),
    Operator("NumericGreaterThan", "Numeric", False, _compare(min, ">")),
    Operator("NumericGreaterThanEquals", "Numeric", False, _compare(min, ">=")),
)
