"""A policy set's evaluation plan: for each distinct action, the statements that can apply, remembered.

Building an action's entry consults each policy's action index once; afterwards a decision for that
action is one dictionary lookup away from the statements that matter, so its cost does not grow with
the statements that cannot match. Two refinements keep large sets fast:

- statements that are identical but for Sid and Action (the same TLS-only Deny pasted into many
  policies) form one *unit*: evaluated once, every one of them reported when it matches;
- an action with more than a few units gets a resource index: units whose Resource is exact are found
  by the request's resource, units with wildcard ARNs by the literal prefix before the first wildcard (a
  necessary condition for a match); the rest (``"*"``, NotResource, variables) are always checked. A
  unit found by its exact ARN or by a ``prefix*`` head is known to match and skips its resource test.
  An action the identity-only rule decides is indexed as soon as one unit has an indexable Resource,
  however few units it has: its decision functions are then looked up by resource
  (``fastpath.ByResource``, which remembers the function per resource), so the units' resource tests run
  once per resource instead of on every request (``_worth_indexing``).

The memo is bounded (emptied when full), and so is what the plan's ``ByResource`` objects remember
together: at most ``RESOURCE_MEMO_LIMIT`` resources across all actions (``Plan.remember_resource``), so
callers choosing actions and resources freely cannot grow a plan past a few megabytes. A plan is
attached to the ``PolicySet`` that asked for it and kept in a small module cache keyed by the compiled
policies, so a caller that rebuilds an equal set per request still reuses it.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from broker.policy import reasons
from broker.policy.compile import CompiledPolicy, CompiledStatement
from broker.policy.matchers import ExactOrPrefix
from broker.policy.model import Decision, MatchedStatement, PolicySet, Request, SetName
from broker.policy.principals import PrincipalMatcher

__all__ = [
    "BOUNDARY",
    "IDENTITY",
    "RESOURCE",
    "SESSION",
    "Entry",
    "IndexedEntry",
    "Plan",
    "Program",
    "Runner",
    "Unit",
    "plan_for",
]

IDENTITY, RESOURCE, BOUNDARY, SESSION = 0, 1, 2, 3
_SET_NAMES: tuple[SetName, ...] = ("identity", "resource", "boundary", "session")
_MEMO_LIMIT = 8192


class Forgetful(Protocol):
    def forget(self) -> None: ...

RESOURCE_MEMO_LIMIT = 16384
"""Resources remembered by all of one plan's ``ByResource`` objects together (~100 bytes each)."""
_PLAN_CACHE_LIMIT = 2048
_INDEX_FROM = 5  # units per action before a resource index pays for the complete rule (callgrind: 5 beats 3 and 8)

Context = Mapping[str, tuple[str, ...] | str]
Runner = Callable[[Request], Decision]
"""A decision function for one action (and, for an indexed entry, one merged unit list): see ``evaluate``."""
Unit = tuple[
    CompiledStatement,
    int,
    tuple[MatchedStatement, ...],
    int,
    frozenset[str] | None,
    tuple[str, ...] | None,
    Callable[[str, Context], bool] | None,
    str | None,
    Callable[[str], bool] | None,
    Callable[[Context, list[str]], bool] | None,
    bool,
    PrincipalMatcher | None,
    Decision,
]
"""(representative statement, set code, records of every statement in the unit, rank in document order),
then the statement's evaluation fields flattened so the loop in ``evaluate`` reads no attributes:
the resource test as ``exact``, ``heads``, ``call`` (``_resource_fields``), the conditions as ``key``,
``test``, ``cond`` (``_condition_fields``), ``deny`` and ``principal`` of ``CompiledStatement``, and
``solo``: the identity-only rule's decision when this unit alone applies with no key missing (``_solo``)."""


def _resource_fields(
    statement: CompiledStatement,
) -> tuple[frozenset[str] | None, tuple[str, ...] | None, Callable[[str, Context], bool] | None]:
    """(exact, heads, call) for the loop in ``evaluate``: ``exact`` and ``heads`` (``None`` when there are
    no prefixes) are tested inline with ``in`` and ``startswith``; ``call(resource, ctx)`` covers the other
    shapes; all ``None`` when any resource matches. Read from ``res_test`` when the entry is built, so the
    statement's test stays the one source of truth."""
    if statement.res_any:
        return None, None, None
    test = statement.res_test
    if test is None:  # policy variables: needs the request context
        return None, None, statement.resource_matches
    if isinstance(test, ExactOrPrefix):
        return test.exact, test.heads or None, None
    return None, None, lambda resource, ctx: test(resource)


def _condition_fields(
    statement: CompiledStatement,
) -> tuple[str | None, Callable[[str], bool] | None, Callable[[Context, list[str]], bool] | None]:
    """(key, test, cond): ``cond(ctx, missing)`` is the AND of the statement's clauses (``None``: none).
    A statement with one plain clause also gets its lower-cased ``key`` and ``test``, the clause's verdict
    for a single string value, which ``evaluate`` calls directly (``Clause.fast_key``/``fast_test``)."""
    clauses = statement.clauses
    if len(clauses) == 1 and clauses[0].fast_key is not None:
        return clauses[0].fast_key, clauses[0].fast_test, statement.cond
    return None, None, statement.cond


def _covered(unit: Unit) -> Unit:
    """``unit`` without its resource test (the resource is known to match)."""
    statement, code, records, rank, _exact, _heads, _call, key, test, cond, deny, principal, solo = unit
    return statement, code, records, rank, None, None, None, key, test, cond, deny, principal, solo


def _solo(deny: bool, records: tuple[MatchedStatement, ...]) -> Decision:
    """The identity-only rule's decision when one unit alone applies (no key missing, no error, same
    account, no trust policy required): its Deny, or its Allow."""
    if deny:
        return Decision("ExplicitDeny", records, (), (), False, "none", None, None, reasons.EXPLICIT_DENY)
    return Decision("Allow", records, (), (), True, "none", None, None, reasons.IDENTITY_ALLOWS)


class IndexedEntry:
    """The units of one action, indexed by resource.

    Exact resources are one dictionary lookup. Literal prefixes are kept sorted, each with a link to the
    longest other prefix it starts with: the prefixes a resource starts with are then the one found by
    bisection (the greatest key not after the resource) or, if that one is not a prefix of the resource,
    its nearest linked ancestor that is, and all of that one's ancestors (every prefix of the resource
    sorts between it and the resource, so it extends each of them). The merged, document-ordered unit
    list of each (exact key, deepest prefix) pair is built once and remembered.

    ``exact_keys`` (exact resource -> group number), ``prefix_keys`` (sorted) and ``prefix_parent`` (each
    prefix's linked ancestor, -1: none) are read by ``fastpath.ByResource``, which runs the same search
    inline when it meets a new resource. Policy data: never changed after ``__init__``.
    """

    __slots__ = (
        "_always",
        "_by_prefix",
        "_groups",
        "_prefix",
        "by_exact",
        "exact_keys",
        "prefix_keys",
        "prefix_parent",
        "units",
    )

    def __init__(self, units: Sequence[Unit]) -> None:
        self.units = tuple(units)
        always: list[Unit] = []
        exact: dict[str, list[Unit]] = {}
        prefix: dict[str, list[Unit]] = {}
        for unit in units:
            keys = unit[0].resource_index_keys()
            if keys is None:
                always.append(unit)
                continue
            for resource in keys[0]:
                exact.setdefault(resource, []).append(unit)
            for head in keys[1]:
                prefix.setdefault(head, []).append(unit)
        self._always = tuple(always)
        self._groups = [tuple(group) for group in exact.values()]
        self.exact_keys = {resource: number for number, resource in enumerate(exact)}
        self.prefix_keys = sorted(prefix)
        self._prefix = [tuple(prefix[key]) for key in self.prefix_keys]
        parent: list[int] = []
        chain: list[int] = []  # the ancestors of the current key, shortest first
        for number, key in enumerate(self.prefix_keys):
            while chain and not key.startswith(self.prefix_keys[chain[-1]]):
                chain.pop()
            parent.append(chain[-1] if chain else -1)
            chain.append(number)
        self.prefix_parent = parent
        self.by_exact: dict[str, tuple[Unit, ...]] = {}
        self._by_prefix: dict[int, tuple[Unit, ...]] = {}

    def _deepest(self, resource: str) -> int:
        """The number of the longest literal prefix ``resource`` starts with, or -1."""
        keys = self.prefix_keys
        deepest = bisect_right(keys, resource) - 1
        while deepest >= 0 and not resource.startswith(keys[deepest]):
            deepest = self.prefix_parent[deepest]
        return deepest

    def select(self, resource: str) -> Sequence[Unit]:
        """The units that may match ``resource``, in document order (see ``_merge``)."""
        found = self.by_exact.get(resource)
        if found is not None:
            return found
        deepest = self._deepest(resource)
        found = self._by_prefix.get(deepest)
        if found is not None and resource not in self.exact_keys:
            return found
        return self._merge(resource, deepest)

    def _merge(self, resource: str, deepest: int) -> tuple[Unit, ...]:
        """The always-checked units, the units filed under ``resource`` and under each prefix it starts
        with, in document order, remembered per exact resource or per deepest prefix (both policy data).
        A unit that is known to cover ``resource`` (filed under it, or under one of its ``prefix*`` heads)
        has its resource test dropped: ``evaluate`` would only repeat it."""
        picked: dict[int, Unit] = {unit[3]: unit for unit in self._always}
        covered: set[int] = set()
        number = self.exact_keys.get(resource)
        if number is not None:
            for unit in self._groups[number]:
                picked[unit[3]] = unit
                covered.add(unit[3])
        link = deepest
        while link >= 0:
            key = self.prefix_keys[link]
            for unit in self._prefix[link]:
                picked.setdefault(unit[3], unit)
                if unit[5] is not None and key in unit[5]:
                    covered.add(unit[3])
            link = self.prefix_parent[link]
        merged = tuple(_covered(picked[rank]) if rank in covered else picked[rank] for rank in sorted(picked))
        if number is not None:
            if len(self.by_exact) >= _MEMO_LIMIT:
                self.by_exact.clear()
            self.by_exact[resource] = merged
        else:
            self._by_prefix[deepest] = merged  # at most one per prefix key
        return merged


Entry = tuple[Unit, ...] | IndexedEntry
Program = tuple[Entry, bool, bool, Decision | None]
"""(entry, identity-only rule applies, a resource policy must allow, decision when nothing applies)."""


class Plan:
    __slots__ = ("by_resource", "has_boundary", "has_session", "memo", "must_allow", "programs", "resources_left",
                 "runners", "sets")

    def __init__(self, policies: PolicySet) -> None:
        sets: list[tuple[int, CompiledPolicy]] = [(IDENTITY, p) for p in policies.identity]
        sets += [(RESOURCE, p) for p in policies.resource]
        sets += [(BOUNDARY, p) for p in policies.boundary or ()]
        sets += [(SESSION, p) for p in policies.session or ()]
        self.sets = tuple(sets)
        self.has_boundary = policies.boundary is not None
        self.has_session = policies.session is not None
        self.must_allow = policies.resource_must_allow
        self.memo: dict[str, Entry] = {}
        self.programs: dict[str, Program] = {}
        # What ``evaluate`` calls per action: a decision function, or for an indexed identity-only entry a
        # mapping from resource to decision function (``fastpath.ByResource``). Filled by ``evaluate``.
        self.runners: dict[str, object] = {}
        # The ``ByResource`` objects among the runners (their memos share one bound, ``remember_resource``).
        self.by_resource: list[Forgetful] = []
        self.resources_left = RESOURCE_MEMO_LIMIT

    def forget_runners(self) -> None:
        """Empty the runner memo (it is full), with the per-resource memos it held."""
        self.runners.clear()
        self.by_resource.clear()
        self.resources_left = RESOURCE_MEMO_LIMIT

    def remember_resource(self) -> None:
        """Count one more resource remembered by a ``ByResource`` of this plan; past the plan's bound every
        one of them forgets its resources (each then pays its prefix search again, once per resource)."""
        self.resources_left -= 1
        if self.resources_left < 0:
            for memo in self.by_resource:
                memo.forget()
            self.resources_left = RESOURCE_MEMO_LIMIT - 1

    def entry(self, action: str) -> Entry:
        """The units whose Action/NotAction covers ``action`` (lower-cased), memoised."""
        found = self.memo.get(action)
        if found is not None:
            return found
        groups: dict[tuple[object, ...], tuple[CompiledStatement, int, list[MatchedStatement], int]] = {}
        rank = 0
        for code, policy in self.sets:
            for statement in policy.candidates(action):
                record = MatchedStatement(
                    policy.policy_id,
                    statement.sid,
                    statement.pointer,
                    "Deny" if statement.deny else "Allow",
                    _SET_NAMES[code],
                )
                key = (code, statement.semantic_key)
                group = groups.get(key)
                if group is None:
                    groups[key] = (statement, code, [record], rank)
                else:
                    group[2].append(record)
                rank += 1
        units: list[Unit] = []
        for statement, code, listed, rank in groups.values():
            records = tuple(listed)
            units.append(
                (
                    statement,
                    code,
                    records,
                    rank,
                    *_resource_fields(statement),
                    *_condition_fields(statement),
                    statement.deny,
                    statement.principal,
                    _solo(statement.deny, records),
                )
            )
        result: Entry = IndexedEntry(units) if self._worth_indexing(units) else tuple(units)
        if len(self.memo) >= _MEMO_LIMIT:
            self.memo.clear()
        self.memo[action] = result
        return result

    def _identity_only(self, units: Sequence[Unit]) -> bool:
        """Only identity-based statements without a Principal, and neither boundary nor session policies:
        no resource grant is possible, so the combining rule reduces to deny / cross-account / trust / allow
        (the generated decision functions of ``fastpath.py``)."""
        return not (self.has_boundary or self.has_session) and all(u[1] == IDENTITY and u[11] is None for u in units)

    def _worth_indexing(self, units: Sequence[Unit]) -> bool:
        """From ``_INDEX_FROM`` units for the complete rule's loop, which selects per request; for an entry
        of the identity-only rule from the first unit with an indexable Resource, since ``ByResource`` then
        runs the selection once per resource (callgrind, typical role of the benchmark: 5,539 -> 4,944
        instructions per decision, harness included; the 1,000- and 10,000-statement sets were already
        indexed and do not change)."""
        if len(units) >= _INDEX_FROM:
            return True
        return self._identity_only(units) and any(u[0].resource_index_keys() is not None for u in units)

    def program(self, action: str) -> Program:
        """What ``evaluate`` needs for ``action`` (lower-cased), memoised: the entry, whether the short
        identity-only rule applies, whether a resource (trust) policy must allow, and, for the short rule,
        the decision when no statement applies and no key is missing."""
        found = self.programs.get(action)
        if found is not None:
            return found
        entry = self.entry(action)
        units = entry if isinstance(entry, tuple) else entry.units
        simple = self._identity_only(units)
        trust = self.must_allow if self.must_allow is not None else action.startswith("sts:assumerole")
        nothing = None
        if simple:
            reason = reasons.TRUST_DENIES if trust else reasons.NO_IDENTITY_ALLOW
            nothing = Decision("ImplicitDeny", (), (), (), False, "none", None, None, reason)
        program: Program = (entry, simple, trust, nothing)
        if len(self.programs) >= _MEMO_LIMIT:
            self.programs.clear()
        self.programs[action] = program
        return program


_plans: dict[tuple[object, ...], Plan] = {}
_lock = threading.Lock()


def plan_for(policies: PolicySet) -> Plan:
    """The plan of ``policies``, built once and attached to it."""
    key = (
        tuple(policies.identity),
        tuple(policies.resource),
        policies.boundary,
        policies.session,
        policies.resource_must_allow,
    )
    with _lock:
        plan = _plans.get(key)
        if plan is None:
            plan = Plan(policies)
            if len(_plans) >= _PLAN_CACHE_LIMIT:
                del _plans[next(iter(_plans))]
            _plans[key] = plan
    object.__setattr__(policies, "_plan", plan)
    object.__setattr__(policies, "_runners", plan.runners)  # what ``evaluate`` reads: one attribute, not two
    return plan
