"""One compiled condition clause (operator, key, values) and the rules that combine its parts.

"IAM JSON policy elements: Condition", section "The condition block"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html) and
"Condition operators" (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):

- several values for one key are ORed; a negated operator is true only when the context value matches
  *none* of them;
- a missing key makes a positive operator false and a negated one true; ``...IfExists`` makes the
  clause true when the key is missing;
- ``ForAllValues``: every context value must match (true when the key is missing or empty);
  ``ForAnyValue``: at least one must (false when missing or empty) — "Set operators for multivalued
  context keys" (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html);
- a multivalued context value under an operator with no set prefix: a positive operator is true when
  any value matches, a negated one when none does (broker's reading; AWS says to use a set operator);
- ``Null``: ``true`` matches an absent (or empty) key, ``false`` a present one.

Condition key names are compared lower-cased (they are case-insensitive).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from broker.policy.conditions.base import Matcher, Operator, pattern_matcher
from broker.policy.conditions.registry import ParsedOperator
from broker.policy.globmatch import arn_glob_matcher, tokens_matcher
from broker.policy.patterns import has_wildcard
from broker.policy.variables import Template

__all__ = ["Clause"]

Context = Mapping[str, tuple[str, ...] | str]
_ALL, _ANY = 1, 2
_CACHE_LIMIT = 256


class Clause:
    """A compiled ``"Operator": {"key": values}`` entry; call ``holds(ctx, missing)`` (specialised per shape).

    ``missing`` collects (as written in the policy) the keys the clause needed but the request lacked.
    """

    __slots__ = (
        "_cache",
        "_matcher",
        "_negated",
        "_null",
        "_set",
        "_static",
        "_templates",
        "fast_key",
        "fast_match",
        "fast_negated",
        "fast_test",
        "holds",
        "if_exists",
        "key",
        "key_name",
        "operator",
        "operator_name",
        "signature",
    )

    def __init__(
        self,
        operator_name: str,
        parsed: ParsedOperator,
        key_name: str,
        values: Sequence[str],
        templates: Sequence[Template],
    ) -> None:
        self.operator_name = operator_name
        self.operator: Operator = parsed.operator
        self.key_name = key_name
        self.key = key_name.lower()
        self.if_exists = parsed.if_exists
        self._set = {"ForAllValues": _ALL, "ForAnyValue": _ANY, None: 0}[parsed.set_operator]
        self._negated = parsed.operator.negated
        self._null = parsed.operator.family == "Null"
        self._static = tuple(values)
        self._templates = tuple(templates)
        self._cache: dict[tuple[object, ...], Matcher] = {}
        self.signature = (operator_name, self.key, self._static, tuple(t.source for t in self._templates))
        # Raises ValueError for values the operator cannot take (validation reports it).
        self._matcher: Matcher | None = parsed.operator.build(self._static) if not templates else None
        if templates and self._static:
            parsed.operator.build(self._static)
        simple = self._matcher is not None and not self._null and not self._set
        self.holds: Callable[[Context, list[str]], bool] = self._fast() if simple else self._holds
        # For the evaluation loop: when the context value of ``fast_key`` is a single string ``v``,
        # ``holds`` is ``fast_test(v)``; other cases (absent, multivalued) go through ``holds``.
        # ``fast_test`` is ``fast_match`` (the operator's positive matcher), negated when ``fast_negated``.
        self.fast_key: str | None = self.key if simple else None
        self.fast_test: Matcher | None = None
        self.fast_match: Matcher | None = self._matcher if simple else None
        self.fast_negated = self._negated
        if simple:
            matcher = self._matcher
            assert matcher is not None
            self.fast_test = (lambda value: not matcher(value)) if self._negated else matcher

    def _fast(self) -> Callable[[Context, list[str]], bool]:
        """``holds`` for the common clause: no set operator, not Null, no variables."""
        key, name, matcher = self.key, self.key_name, self._matcher
        negated = self._negated
        when_absent = self.if_exists or negated
        assert matcher is not None

        def holds(ctx: Context, missing: list[str]) -> bool:
            value = ctx.get(key)
            if value is None:
                missing.append(name)
                return when_absent
            if value.__class__ is str:
                return matcher(value) != negated
            if not value:
                return when_absent
            return any(matcher(v) for v in value) != negated

        return holds

    def _resolved_matcher(self, ctx: Context) -> Matcher:
        glob = self.operator.glob
        rendered: tuple[object, ...]
        if glob is None:
            rendered = tuple(t.render(ctx) for t in self._templates)
        else:
            rendered = tuple(t.render_tokens(ctx) for t in self._templates)
        matcher = self._cache.get(rendered)
        if matcher is None:
            present = [r for r in rendered if r is not None]  # an unresolvable variable matches nothing
            if glob is None:
                matcher = self.operator.build([*self._static, *present])  # type: ignore[list-item]
            else:
                make = arn_glob_matcher if glob == "arn" else tokens_matcher
                globs = [make([(v, True)]) for v in self._static if has_wildcard(v)]
                globs += [make(tokens) for tokens in present]  # type: ignore[arg-type]
                matcher = pattern_matcher([v for v in self._static if not has_wildcard(v)], globs)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[rendered] = matcher
        return matcher

    def _holds(self, ctx: Context, missing: list[str]) -> bool:
        value = ctx.get(self.key)
        absent = value is None or value == ()
        if value is None:
            missing.append(self.key_name)
        matcher = self._matcher if self._matcher is not None else self._resolved_matcher(ctx)
        if self._null:
            return matcher("true" if absent else "false")
        if absent:
            if self.if_exists or self._set == _ALL:
                return True
            if self._set == _ANY:
                return False
            return self._negated
        assert value is not None
        negated = self._negated
        if value.__class__ is str:
            return matcher(value) != negated
        if self._set == _ALL:
            return all(matcher(v) != negated for v in value)
        if self._set == _ANY:
            return any(matcher(v) != negated for v in value)
        return any(matcher(v) for v in value) != negated
