"""String condition operators.

"IAM JSON policy elements: Condition operators", section "String condition operators"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String):
``StringEquals`` exact and case-sensitive; ``StringEqualsIgnoreCase`` ignores case; ``StringLike`` is
case-sensitive with ``*`` (any run) and ``?`` (one character) anywhere; the ``Not`` forms negate. Policy
variables are allowed in all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from broker.policy.conditions.base import Matcher, Operator, pattern_matcher, split_globs
from broker.policy.globmatch import glob_matcher

__all__ = ["OPERATORS", "build_equals", "build_equals_ignore_case", "build_like"]


def build_equals(values: Sequence[str]) -> Matcher:
    return frozenset(values).__contains__


def build_equals_ignore_case(values: Sequence[str]) -> Matcher:
    folded = frozenset(v.lower() for v in values)
    return lambda value: value.lower() in folded


def build_like(values: Sequence[str]) -> Matcher:
    exact, heads, tails, others = split_globs(values)
    return pattern_matcher(exact, [glob_matcher(p) for p in others], prefixes=heads, suffixes=tails)


OPERATORS = (
    Operator("StringEquals", "String", False, build_equals, variables=True),
    Operator("StringNotEquals", "String", True, build_equals, variables=True),
    Operator("StringEqualsIgnoreCase", "String", False, build_equals_ignore_case, variables=True),
    Operator("StringNotEqualsIgnoreCase", "String", True, build_equals_ignore_case, variables=True),
    Operator("StringLike", "String", False, build_like, variables=True, glob="plain"),
    Operator("StringNotLike", "String", True, build_like, variables=True, glob="plain"),
)
