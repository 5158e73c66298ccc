"""ARN condition operators.

"IAM JSON policy elements: Condition operators", section "Amazon Resource Name (ARN) condition operators"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN):
``ArnEquals`` and ``ArnLike`` behave the same: the ARN is compared segment by segment (the first five
``:``-separated segments, then the resource), case-sensitive, with ``*`` and ``?`` inside a segment.
Policy variables are allowed.
"""

from __future__ import annotations

from collections.abc import Sequence

from broker.policy.conditions.base import Matcher, Operator, pattern_matcher
from broker.policy.globmatch import arn_glob_matcher
from broker.policy.patterns import arn_prefix, has_wildcard

__all__ = ["OPERATORS", "build_arn"]


def build_arn(values: Sequence[str]) -> Matcher:
    exact = [v for v in values if not has_wildcard(v)]
    heads: list[str] = []
    globs: list[Matcher] = []
    for value in values:
        if has_wildcard(value):
            head = arn_prefix(value)
            if head is not None:
                heads.append(head)
            else:
                globs.append(arn_glob_matcher(value))
    return pattern_matcher(exact, globs, prefixes=heads)


OPERATORS = (
    Operator("ArnEquals", "Arn", False, build_arn, variables=True, glob="arn"),
    Operator("ArnLike", "Arn", False, build_arn, variables=True, glob="arn"),
    Operator("ArnNotEquals", "Arn", True, build_arn, variables=True, glob="arn"),
    Operator("ArnNotLike", "Arn", True, build_arn, variables=True, glob="arn"),
)
