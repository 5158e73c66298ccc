"""Compile a validated policy once: wildcards to matchers, values pre-parsed, statements indexed by action.

DESIGN.md §4 "Compiled policies". A compiled statement answers three questions cheaply: does its
Action/NotAction cover this action (asked once per distinct action, then remembered by the policy set's
plan), does its Resource/NotResource cover this resource, do its conditions hold. Matching rules:

- actions: "IAM JSON policy elements: Action" / "NotAction" — case-insensitive, ``*`` and ``?``
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html);
- resources: "IAM JSON policy elements: Resource" / "NotResource" — segment by segment, case-sensitive,
  policy variables in the resource part; a variable with no value matches nothing
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html,
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notresource.html).

The action index of one policy: exact lower-cased action -> statements; service prefix -> statements
whose patterns have a wildcard after a literal ``service:``; and a short list of statements that may match
anything (``*``, a wildcard in the service, ``NotAction``).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping

from broker.policy.conditions.clause import Clause
from broker.policy.globmatch import arn_glob_matcher, glob_matcher
from broker.policy.matchers import all_hold, any_of, static_test
from broker.policy.model import PolicyKind
from broker.policy.patterns import arn_prefix, has_wildcard
from broker.policy.principals import PrincipalMatcher
from broker.policy.validate import StatementSpec, check, raise_for
from broker.policy.variables import Template, parse_template

__all__ = ["CompiledPolicy", "CompiledStatement", "PolicyCache", "compile_policy"]

Context = Mapping[str, tuple[str, ...] | str]
_TEMPLATE_CACHE_LIMIT = 512


class CompiledStatement:
    """One statement, ready to evaluate. ``index`` is its position in the policy."""

    __slots__ = (
        "_action_all",
        "_action_exact",
        "_action_rx",
        "_res_exact",
        "_res_heads",
        "_res_patterns",
        "_res_rx",
        "_res_templates",
        "_template_cache",
        "clauses",
        "cond",
        "deny",
        "effect",
        "index",
        "not_action",
        "not_resource",
        "pointer",
        "principal",
        "res_any",
        "res_test",
        "semantic_key",
        "sid",
    )

    def __init__(self, spec: StatementSpec, index: int, *, variables: bool) -> None:
        self.index = index
        self.sid = spec.sid
        self.pointer = spec.pointer
        self.effect = spec.effect
        self.deny = spec.effect == "Deny"
        self.not_action = spec.not_action
        lowered = [a.lower() for a in spec.actions]
        self._action_all = "*" in lowered
        self._action_exact = frozenset(a for a in lowered if not has_wildcard(a))
        self._action_rx = any_of([glob_matcher(a) for a in lowered if has_wildcard(a) and a != "*"])
        self.principal = (
            PrincipalMatcher(spec.principal, negated=spec.not_principal) if spec.principal is not None else None
        )
        self.clauses: tuple[Clause, ...] = spec.clauses
        self.not_resource = spec.not_resource
        resources = spec.resources
        exact: list[str] = []
        sources: list[Callable[[str], bool]] = []
        templates: list[Template] = []
        patterns: list[str] = []
        heads: list[str] = []
        any_resource = resources is None
        for resource in resources or ():
            if resource == "*":
                any_resource = True
                continue
            parts = resource.split(":", 5)
            template = parse_template(resource) if variables and len(parts) == 6 and "${" in parts[5] else None
            if template is not None:
                templates.append(template)
            elif has_wildcard(resource):
                patterns.append(resource)
                head = arn_prefix(resource)
                if head is not None:
                    heads.append(head)
                else:
                    sources.append(arn_glob_matcher(resource))
            else:
                exact.append(resource)
        # "NotResource": "*" matches nothing; "Resource": "*" (or no Resource element) matches everything.
        self.res_any = any_resource and not spec.not_resource
        self._res_exact = frozenset(["*"] if (any_resource and spec.not_resource) else exact)
        self._res_rx = any_of(sources)
        self._res_heads = tuple(heads)
        self._res_patterns = tuple(patterns)
        self._res_templates = tuple(templates)
        self._template_cache: dict[tuple[tuple[str, bool], ...], Callable[[str], bool]] = {}
        # res_test: a one-argument test when no policy variable is involved (the common, fast case).
        self.res_test: Callable[[str], bool] | None = (
            None
            if templates
            else static_test(
                self._res_exact, self._res_heads, self._res_rx, spec.not_resource, any_resource and spec.not_resource
            )
        )
        self.cond = all_hold(spec.clauses)
        # Everything but Sid and Action: statements with equal keys decide identically for an action they
        # both cover, so a plan evaluates them once and reports all of them.
        self.semantic_key: tuple[object, ...] = (
            spec.effect,
            variables,
            spec.not_resource,
            None if resources is None else tuple(sorted(set(resources))),
            spec.not_principal,
            None if spec.principal is None else tuple(sorted(spec.principal.items())),
            tuple(c.signature for c in spec.clauses),
        )

    @property
    def exact_actions(self) -> frozenset[str]:
        return self._action_exact

    def resource_index_keys(self) -> tuple[list[str], list[str]] | None:
        """(exact resources, literal prefixes of wildcard patterns), or ``None`` when the statement must
        always be checked (``"*"``, NotResource, policy variables, no Resource element)."""
        if self.res_any or self.not_resource or self._res_templates:
            return None
        prefixes: list[str] = []
        if self._res_patterns:
            for pattern in self._res_patterns:
                cut = min((i for i in (pattern.find("*"), pattern.find("?")) if i >= 0), default=len(pattern))
                prefixes.append(pattern[:cut])
        return sorted(self._res_exact), prefixes

    # -- actions -----------------------------------------------------------------------------------
    def _lists_action(self, action: str) -> bool:
        if self._action_all or action in self._action_exact:
            return True
        return self._action_rx is not None and self._action_rx(action)

    def action_matches(self, action: str) -> bool:
        """``action`` is lower-cased. NotAction matches every action it does not list."""
        return self._lists_action(action) != self.not_action

    # -- resources ---------------------------------------------------------------------------------
    def _lists_resource(self, resource: str, ctx: Context) -> bool:
        if resource in self._res_exact:
            return True
        if self.not_resource and "*" in self._res_exact:
            return True
        if self._res_heads and resource.startswith(self._res_heads):
            return True
        if self._res_rx is not None and self._res_rx(resource):
            return True
        for template in self._res_templates:
            tokens = template.render_tokens(ctx)
            if tokens is None:  # a variable with no value: this entry matches nothing
                continue
            matcher = self._template_cache.get(tokens)
            if matcher is None:
                if len(self._template_cache) >= _TEMPLATE_CACHE_LIMIT:
                    self._template_cache.clear()
                matcher = arn_glob_matcher(tokens)
                self._template_cache[tokens] = matcher
            if matcher(resource):
                return True
        return False

    def resource_matches(self, resource: str, ctx: Context) -> bool:
        return self._lists_resource(resource, ctx) != self.not_resource

    def conditions_hold(self, ctx: Context, missing: list[str]) -> bool:
        """All clauses hold (AND across operators and keys)."""
        for clause in self.clauses:
            if not clause.holds(ctx, missing):
                return False
        return True


class CompiledPolicy:
    """A validated, compiled policy document. Immutable; share it freely between policy sets."""

    __slots__ = (
        "_anywhere",
        "_by_service",
        "_exact",
        "digest",
        "document",
        "kind",
        "policy_id",
        "statements",
        "version",
    )

    def __init__(
        self,
        document: str,
        policy_id: str,
        kind: PolicyKind,
        version: str,
        statements: tuple[CompiledStatement, ...],
        wild: list[tuple[list[str], bool]],
    ) -> None:
        self.document = document
        self.policy_id = policy_id
        self.kind = kind
        self.version = version
        self.digest = hashlib.sha256(document.encode("utf-8")).hexdigest()
        self.statements = statements
        exact: dict[str, list[CompiledStatement]] = {}
        by_service: dict[str, list[CompiledStatement]] = {}
        anywhere: list[CompiledStatement] = []
        for statement, (services, anything) in zip(statements, wild, strict=True):
            if statement.not_action or anything:
                anywhere.append(statement)
                continue
            for action in statement.exact_actions:
                exact.setdefault(action, []).append(statement)
            for service in services:
                by_service.setdefault(service, []).append(statement)
        self._exact = {k: tuple(v) for k, v in exact.items()}
        self._by_service = {k: tuple(v) for k, v in by_service.items()}
        self._anywhere = tuple(anywhere)

    def candidates(self, action: str) -> list[CompiledStatement]:
        """Statements whose Action/NotAction covers ``action`` (lower-cased), in document order."""
        service = action.partition(":")[0]
        found: dict[int, CompiledStatement] = {}
        for statement in self._exact.get(action, ()):
            found[statement.index] = statement
        for group in (self._by_service.get(service, ()), self._anywhere):
            for statement in group:
                if statement.index not in found and statement.action_matches(action):
                    found[statement.index] = statement
        return [found[i] for i in sorted(found)]

    def __repr__(self) -> str:
        return f"CompiledPolicy(policy_id={self.policy_id!r}, kind={self.kind!r}, statements={len(self.statements)})"


def _wild_index(spec: StatementSpec) -> tuple[list[str], bool]:
    """Services of the wildcard action patterns, and whether some pattern may match any service."""
    if spec.not_action:
        return [], True
    services: list[str] = []
    for action in spec.actions:
        lowered = action.lower()
        if lowered == "*":
            return [], True
        if not has_wildcard(lowered):
            continue
        service, _, _ = lowered.partition(":")
        if has_wildcard(service):
            return [], True
        services.append(service)
    return services, False


def compile_policy(document: str, *, policy_id: str, kind: PolicyKind, max_size: int | None = None) -> CompiledPolicy:
    """Validate and compile. Raises ``PolicyDocumentError`` (``MalformedPolicyDocument``),
    ``PolicySizeError`` (``LimitExceeded``) or ``PackedPolicyError`` (``PackedPolicyTooLarge``) with
    every problem found."""
    problems, spec = check(document, kind, max_size=max_size)
    raise_for(problems)
    assert spec is not None
    statements = tuple(CompiledStatement(s, i, variables=spec.variables) for i, s in enumerate(spec.statements))
    wild = [_wild_index(s) for s in spec.statements]
    return CompiledPolicy(document, policy_id, kind, spec.version, statements, wild)


class PolicyCache:
    """Compiled policies keyed by (policy id, kind, version tag or content digest).

    Pass ``version`` (a managed policy's default version id, or the store's change counter) when there
    is one; otherwise the SHA-256 of the document is the key, so a changed document never hits an old
    entry. ``invalidate(policy_id)`` drops every entry of a policy; the cache is bounded and forgets its
    oldest entries first. Thread-safe.
    """

    def __init__(self, max_entries: int = 10000) -> None:
        self._entries: dict[tuple[str, str, str], CompiledPolicy] = {}
        self._max = max_entries
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(
        self,
        document: str,
        *,
        policy_id: str,
        kind: PolicyKind,
        version: str | None = None,
        max_size: int | None = None,
    ) -> CompiledPolicy:
        tag = version if version is not None else hashlib.sha256(document.encode("utf-8")).hexdigest()
        key = (policy_id, kind, tag)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self.hits += 1
                return found
        compiled = compile_policy(document, policy_id=policy_id, kind=kind, max_size=max_size)
        with self._lock:
            self.misses += 1
            if len(self._entries) >= self._max:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = compiled
        return compiled

    def invalidate(self, policy_id: str) -> int:
        """Forget every compiled version of ``policy_id``; returns how many entries were dropped."""
        with self._lock:
            keys = [k for k in self._entries if k[0] == policy_id]
            for key in keys:
                del self._entries[key]
            return len(keys)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
