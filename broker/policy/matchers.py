"""The small tests ``compile.py`` builds for a statement: its resource test, the AND of its condition clauses,
and the alternation of several wildcard patterns.

Resource matching follows "IAM JSON policy elements: Resource" / "NotResource"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html); clauses are
ANDed as in "IAM JSON policy elements: Condition", section "The condition block"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html). The shapes
are chosen for the evaluation loop: ``ExactOrPrefix`` exposes its data so ``evaluate`` tests it inline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from broker.policy.conditions.clause import Clause

__all__ = ["ExactOrPrefix", "all_hold", "any_of", "static_test"]

Context = Mapping[str, tuple[str, ...] | str]


def any_of(globs: list[Callable[[str], bool]]) -> Callable[[str], bool] | None:
    """One matcher for several linear-time globs (``globmatch``); ``None`` when there are none."""
    if not globs:
        return None
    if len(globs) == 1:
        return globs[0]
    members = tuple(globs)
    return lambda value: any(glob(value) for glob in members)


def all_hold(clauses: tuple[Clause, ...]) -> Callable[[Context, list[str]], bool] | None:
    """One ``holds(ctx, missing)`` for a statement's clauses (AND, stopping at the first that fails), or
    ``None`` when there are none; a single clause's own ``holds`` is used as is."""
    if not clauses:
        return None
    if len(clauses) == 1:
        return clauses[0].holds
    tests = tuple(c.holds for c in clauses)

    def holds(ctx: Context, missing: list[str]) -> bool:
        for test in tests:
            if not test(ctx, missing):
                return False
        return True

    return holds


class ExactOrPrefix:
    """The common resource test: one of the exact ARNs, or starts with one of the literal prefixes of
    ``prefix*`` patterns. A class rather than a closure so the evaluation plan can read ``exact`` and
    ``heads`` and test them inline (``in``, ``startswith``) without a call."""

    __slots__ = ("exact", "heads")

    def __init__(self, exact: frozenset[str], heads: tuple[str, ...]) -> None:
        self.exact = exact
        self.heads = heads

    def __call__(self, resource: str) -> bool:
        return resource in self.exact or resource.startswith(self.heads)


def static_test(
    exact: frozenset[str],
    heads: tuple[str, ...],
    rx: Callable[[str], bool] | None,
    negated: bool,
    lists_everything: bool,
) -> Callable[[str], bool]:
    """Resource test for a statement without policy variables (NotResource inverts it): set lookup for
    exact ARNs, one ``startswith`` for ``prefix*`` patterns, one regex for the rest."""
    if lists_everything:
        return lambda resource: not negated
    if rx is None and not negated:
        return ExactOrPrefix(exact, heads)
    if rx is None and not heads:
        return lambda resource: resource not in exact

    def lists(resource: str) -> bool:
        if resource in exact or (heads and resource.startswith(heads)):
            return True
        return rx is not None and rx(resource)

    if not negated:
        return lists
    return lambda resource: not lists(resource)
