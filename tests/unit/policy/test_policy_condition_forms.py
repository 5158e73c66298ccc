"""Faster forms of the numeric and date matchers, held equal to the forms they replace.

"Condition operators", sections "Numeric condition operators" and "Date condition operators"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
The reference implementations below are the matchers as they were before (``strip`` and one regular
expression for every number; the comparison as a function called per test).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.policy.conditions import date, numeric
from broker.policy.conditions.date import parse_date
from broker.policy.conditions.numeric import parse_number

_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
TESTS: dict[str, Callable[[float, float], bool]] = {
    "LessThan": lambda x, b: x < b,
    "LessThanEquals": lambda x, b: x <= b,
    "GreaterThan": lambda x, b: x > b,
    "GreaterThanEquals": lambda x, b: x >= b,
}
PICK: dict[str, Callable[[list[float]], float]] = {"Less": max, "Greater": min}


def _reference_number(text: str) -> float | None:
    text = text.strip()
    if not _NUMBER.match(text):
        return None
    return float(text)


NUMBERS = [
    "0", "00", "0123", "3600", "900", "7199", "12", "+1", "-1", "1.5", ".5", "5.", "1e3", "1E-3", " 12 ", "12\n",
    "", " ", "abc", "1_000", "nan", "inf", "-inf", "\u00b2", "\u0661\u0662", "\uff11\uff12", "12\u00b2",
    "9" * 400, "0x10", "1e", "--1", "\x00",
]


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.from_regex(r"[0-9]{1,12}", fullmatch=True), st.sampled_from(NUMBERS)))
def test_parse_number_equals_the_regular_expression_form(text: str) -> None:
    assert parse_number(text) == _reference_number(text)


@pytest.mark.parametrize("name", sorted(TESTS))
def test_numeric_comparisons_equal_the_function_form(name: str) -> None:
    operator = next(op for op in numeric.OPERATORS if op.name == f"Numeric{name}")
    pick = PICK["Less" if name.startswith("Less") else "Greater"]
    for values in (["3600"], ["900", "3600"], ["-1.5"], ["0"]):
        match = operator.build(values)
        bound = pick([float(v) for v in values])
        for text in [*NUMBERS, "3599", "3601", "899", "901", "-2", "-1.5", "0.0"]:
            number = _reference_number(text)
            assert match(text) == (number is not None and TESTS[name](number, bound)), (values, text)


DATES = [
    "2026-11-28T12:00:00Z", "2027-01-01T00:00:00Z", "2026-06-30T00:00:00Z", "2026-06-30T00:00:00.5Z", "2026",
    "2026-06", "2026-06-30", "1798761600", "1798761600.5", "-5", "junk", "", "2026-13-01", "2026-06-30T00:00:00+02:00",
]


@pytest.mark.parametrize("name", sorted(TESTS))
def test_date_comparisons_equal_the_function_form(name: str) -> None:
    operator = next(op for op in date.OPERATORS if op.name == f"Date{name}")
    pick = PICK["Less" if name.startswith("Less") else "Greater"]
    for values in (["2027-01-01T00:00:00Z"], ["2026-06-30T00:00:00Z", "1798761600"]):
        match = operator.build(values)
        bound = pick([moment for v in values if (moment := parse_date(v)) is not None])
        for text in DATES:
            moment = parse_date(text)
            assert match(text) == (moment is not None and TESTS[name](moment, bound)), (values, text)
