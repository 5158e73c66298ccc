"""A policy set's evaluation plan: for each distinct action, the statements that can apply, remembered.

Building an action's entry consults each policy's action index once; afterwards a decision for that
action is one dictionary lookup away from the statements that matter, so its cost does not grow with
the statements that cannot match. Two refinements keep large sets fast:

- statements that are identical but for Sid and Action (the same TLS-only Deny pasted into many
  policies) form one *unit*: evaluated once, every one of them reported when it matches;
- an action with many units gets a resource index: units whose Resource is exact are found by the
  request's resource, units with wildcard ARNs by the literal prefix before the first wildcard (a
  necessary condition for a match); the rest (``"*"``, NotResource, variables) are always checked.

The memo is bounded (emptied when full). A plan is attached to the ``PolicySet`` that asked for it and
kept in a small module cache keyed by the compiled policies, so a caller that rebuilds an equal set per
request still reuses it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter

from broker.policy import reasons
from broker.policy.compile import CompiledPolicy, CompiledStatement
from broker.policy.matchers import ExactOrPrefix
from broker.policy.model import Decision, MatchedStatement, PolicySet, SetName
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
    "Unit",
    "plan_for",
]

IDENTITY, RESOURCE, BOUNDARY, SESSION = 0, 1, 2, 3
_SET_NAMES: tuple[SetName, ...] = ("identity", "resource", "boundary", "session")
_MEMO_LIMIT = 8192
_PLAN_CACHE_LIMIT = 2048
_INDEX_FROM = 8  # units per action before a resource index pays for itself
_MAX_PREFIX_LENGTHS = 48

Context = Mapping[str, tuple[str, ...] | str]
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
]
"""(representative statement, set code, records of every statement in the unit, rank in document order),
then the statement's evaluation fields flattened so the loop in ``evaluate`` reads no attributes:
the resource test as ``exact``, ``heads``, ``call`` (``_resource_fields``), the conditions as ``key``,
``test``, ``cond`` (``_condition_fields``), then ``deny`` and ``principal`` of ``CompiledStatement``."""
_rank = itemgetter(3)


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


class IndexedEntry:
    """The units of one action, indexed by resource."""

    __slots__ = ("_always", "_exact", "_lengths", "_overlap", "_prefix", "units")

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
        lengths = sorted({len(k) for k in prefix})
        if len(lengths) > _MAX_PREFIX_LENGTHS:  # too scattered to probe: check those units every time
            seen = {u[3] for u in always}
            for group in prefix.values():
                for unit in group:
                    if unit[3] not in seen:
                        seen.add(unit[3])
                        always.append(unit)
            always.sort(key=lambda u: u[3])
            prefix, lengths = {}, []
        self._always = tuple(always)
        # A unit filed under several keys (several Resource entries) could be selected twice.
        filed = [u[3] for group in (*exact.values(), *prefix.values()) for u in group]
        self._overlap = len(filed) != len(set(filed))
        self._exact = {k: tuple(v) for k, v in exact.items()}
        self._prefix = {k: tuple(v) for k, v in prefix.items()}
        self._lengths = tuple(lengths)

    def select(self, resource: str) -> Sequence[Unit]:
        """The units that may match ``resource``, in document order."""
        hits = self._exact.get(resource)
        size = len(resource)
        prefix = self._prefix
        for length in self._lengths:
            if length > size:
                break
            group = prefix.get(resource[:length])
            if group is not None:
                hits = group if hits is None else hits + group
        if hits is None:
            return self._always
        if self._overlap:
            hits = tuple({u[3]: u for u in hits}.values())
        units = [*self._always, *hits]
        units.sort(key=_rank)
        return units


Entry = tuple[Unit, ...] | IndexedEntry
Program = tuple[Entry, bool, bool, Decision | None]
"""(entry, identity-only rule applies, a resource policy must allow, decision when nothing applies)."""


class Plan:
    __slots__ = ("has_boundary", "has_session", "memo", "must_allow", "programs", "sets")

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
        units: list[Unit] = [
            (s, code, tuple(records), rank, *_resource_fields(s), *_condition_fields(s), s.deny, s.principal)
            for s, code, records, rank in groups.values()
        ]
        result: Entry = tuple(units) if len(units) < _INDEX_FROM else IndexedEntry(units)
        if len(self.memo) >= _MEMO_LIMIT:
            self.memo.clear()
        self.memo[action] = result
        return result

    def program(self, action: str) -> Program:
        """What ``evaluate`` needs for ``action`` (lower-cased), memoised: the entry, whether the short
        identity-only rule applies, whether a resource (trust) policy must allow, and, for the short rule,
        the decision when no statement applies and no key is missing."""
        found = self.programs.get(action)
        if found is not None:
            return found
        entry = self.entry(action)
        units = entry if isinstance(entry, tuple) else entry.units
        # Only identity-based statements without a Principal, and neither boundary nor session policies:
        # no resource grant is possible, so the combining rule reduces to deny / cross-account / trust / allow.
        simple = not (self.has_boundary or self.has_session) and all(u[1] == IDENTITY and u[11] is None for u in units)
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
    return plan
