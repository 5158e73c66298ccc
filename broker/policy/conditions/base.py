"""What an operator family provides: a builder from policy values to a one-argument matcher.

A matcher answers "does this one context value match any of the policy values" in the operator's
*positive* sense; negation, missing keys, ``IfExists`` and the set prefixes are applied once, in
``broker.policy.conditions.clause``. Several policy values for one key are ORed ("IAM JSON policy elements:
Condition", section "The condition block",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["Builder", "GlobKind", "Matcher", "Operator", "bounded_put", "pattern_matcher", "split_globs"]

Matcher = Callable[[str], bool]
Builder = Callable[[Sequence[str]], Matcher]
GlobKind = Literal["plain", "arn"] | None

_MEMO_LIMIT = 4096


def bounded_put(memo: dict[str, object], key: str, value: object) -> None:
    """Store in a memo dict that is emptied when it reaches its limit (cheap, bounded, no LRU order)."""
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[key] = value


def pattern_matcher(
    exact: Sequence[str],
    globs: Sequence[Matcher] = (),
    *,
    prefixes: Sequence[str] = (),
    suffixes: Sequence[str] = (),
) -> Matcher:
    """Match ``exact`` strings by set lookup, ``prefixes``/``suffixes`` with one ``startswith``/``endswith``
    call each, and the remaining wildcard patterns with linear-time glob matchers (``globmatch``)."""
    exact_set = frozenset(exact)
    heads, tails, others = tuple(prefixes), tuple(suffixes), tuple(globs)
    if not others and not heads and not tails:
        return exact_set.__contains__
    if not others and not tails:
        if not exact_set:
            return lambda value: value.startswith(heads)
        return lambda value: value in exact_set or value.startswith(heads)

    def match(value: str) -> bool:
        if value in exact_set or (heads and value.startswith(heads)) or (tails and value.endswith(tails)):
            return True
        for glob in others:
            if glob(value):
                return True
        return False

    return match


def split_globs(patterns: Sequence[str]) -> tuple[list[str], list[str], list[str], list[str]]:
    """(exact, prefixes, suffixes, other patterns) for plain globs: ``abc*`` is a prefix, ``*abc`` a suffix."""
    exact: list[str] = []
    heads: list[str] = []
    tails: list[str] = []
    others: list[str] = []
    for pattern in patterns:
        wild = pattern.count("*") + pattern.count("?")
        if wild == 0:
            exact.append(pattern)
        elif wild == 1 and pattern.endswith("*"):
            heads.append(pattern[:-1])
        elif wild == 1 and pattern.startswith("*"):
            tails.append(pattern[1:])
        else:
            others.append(pattern)
    return exact, heads, tails, others


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
