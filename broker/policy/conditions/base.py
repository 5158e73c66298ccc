"""What an operator family provides: a builder from policy values to a one-argument matcher.

A matcher answers "does this one context value match any of the policy values" in the operator's
*positive* sense; negation, missing keys, ``IfExists`` and the set prefixes are applied once, in
``broker.policy.conditions.clause``. Several policy values for one key are ORed ("IAM JSON policy elements:
Condition", section "The condition block",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["Builder", "GlobKind", "Matcher", "Operator", "bounded_put", "regex_matcher"]

Matcher = Callable[[str], bool]
Builder = Callable[[Sequence[str]], Matcher]
GlobKind = Literal["plain", "arn"] | None

_MEMO_LIMIT = 4096


def bounded_put(memo: dict[str, object], key: str, value: object) -> None:
    """Store in a memo dict that is emptied when it reaches its limit (cheap, bounded, no LRU order)."""
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = value


def regex_matcher(exact: Sequence[str], sources: Sequence[str], *, flags: int = 0) -> Matcher:
    """Match ``exact`` strings by set lookup and the regex ``sources`` with one compiled alternation."""
    exact_set = frozenset(exact)
    if not sources:
        return exact_set.__contains__
    fullmatch = re.compile("(?:" + "|".join(sources) + ")", re.DOTALL | flags).fullmatch
    if not exact_set:
        return lambda value: fullmatch(value) is not None
    return lambda value: value in exact_set or fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class Operator:
    """One condition operator from "IAM JSON policy elements: Condition operators".

    ``build`` turns policy values into a matcher and raises ``ValueError`` (its message is the problem
    text) for a value the operator cannot take. ``variables``: policy variables are substituted in the
    values. ``glob``: the values are wildcard patterns (so a substituted variable is escaped, not a
    wildcard). ``negated``: the operator is true when the context value matches none of the values.
    """

    name: str
    family: str
    negated: bool
    build: Builder
    variables: bool = False
    glob: GlobKind = None
    if_exists_allowed: bool = True
