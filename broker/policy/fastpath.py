"""Specialised decision functions for the identity-only rule: one per unit list, generated once.

``evaluate``'s common case is a plan entry with only identity-based statements and neither boundary nor
session policies ("Policy evaluation logic",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html): no resource
grant is possible, so the combining rule reduces to explicit deny / cross-account / trust policy / identity
allow. For such a unit list this module builds a function ``decide(request) -> Decision`` that runs the
units' tests straight-line instead of through a generic loop, records which units matched as the bits of
one integer, and returns the ``Decision`` built in advance for that set of bits.

How the function is made (``fastsource.py``; no policy text ever reaches source code):

- each unit is reduced to a *shape*: how its resource is tested (``any``, ``in`` an exact set, ``in`` or
  ``startswith`` literal prefixes, a one-argument test, a test that needs the context) and how its
  conditions are (none, one plain clause on a key — whole-octet IPv4 ranges as a prefix test and a strict
  address check in place —, 2-4 plain clauses ANDed in place, the general AND of clauses). Shapes are
  tokens from fixed tables;
- the source of a *factory* is generated from the shape tuple alone: the only words in it are those
  tokens' fixed fragments, names like ``E3``/``T3`` built from the unit's position, and bit literals
  ``1 << position``. It is compiled once per distinct shape tuple (bounded cache) with a namespace whose
  builtins are only ``Exception``, ``OSError``, ``ValueError`` and ``str``;
- the factory is called with the compiled policy data (exact-ARN sets, prefix tuples, condition keys,
  matcher callables): they become parameter defaults of ``decide``, which is only called with the request.

The decision for a bit set is computed the first time that bit set is seen, by ``_Tail.finish``, which is
the identity-only rule written as a loop over the matched units; it is remembered only when it depends on
nothing but the bit set, or the bit set and the missing keys (no error, same account). Errors behave as in
the general rule: a unit that raises is recorded in ``errors``; an Allow is skipped, a Deny counts as
matching (fail closed)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from broker.policy import reasons
from broker.policy.fastsource import factory_data, factory_for, shape_of, source_for
from broker.policy.model import Decision, Effect, MatchedStatement, Request
from broker.policy.plan import IndexedEntry, Plan, Runner, Unit

__all__ = ["ByResource", "Runner", "build_runner", "shape_of", "source_for"]

_NO_KEYS: tuple[str, ...] = ()
_NO_RECORDS: tuple[MatchedStatement, ...] = ()
_FULL_TABLE_UNITS = 4  # up to 2**4 bit sets: every decision built with the function
_LIST_TABLE_UNITS = 8  # up to 2**8: a list indexed by the bit set, filled on first use; beyond, a dict
_TABLE_LIMIT = 4096
_MISSING_LIMIT = 32  # decisions remembered per unit list for (bit set, missing keys): see ``_Tail.finish``
_new = tuple.__new__

class _Tail:
    """What a generated function hands back to when its bit set has no decision yet (or may not use one):
    the per-unit records, Deny flags and single-unit decisions, the action's trust flag and its
    "nothing applies" decision, and the table of decisions by bit set (``kind``: see ``source_for``)."""

    __slots__ = ("deny", "kind", "nothing", "records", "solo", "table", "trust", "with_missing")

    def __init__(self, units: Sequence[Unit], trust: bool, nothing: Decision) -> None:
        self.records = tuple(unit[2] for unit in units)
        self.deny = tuple(unit[10] for unit in units)
        self.solo = tuple(unit[12] for unit in units)
        self.trust = trust
        self.nothing = nothing
        self.with_missing: dict[tuple[int | str, ...], Decision] = {}
        count = len(units)
        self.table: list[Decision | None] | dict[int, Decision]
        if count <= _FULL_TABLE_UNITS:
            self.kind = "full"
            self.table = [self._decide(m, False, None, None) for m in range(1 << count)]
        elif count <= _LIST_TABLE_UNITS:
            self.kind, self.table = "list", [None] * (1 << count)
        else:
            self.kind, self.table = "dict", {}

    def fail(self, errors: list[str] | None, i: int, exc: Exception) -> list[str]:
        """``errors`` with unit ``i``'s error appended (the general rule's wording)."""
        first = self.records[i][0]
        errors = errors or []
        errors.append(f"{first.policy_id} {first.pointer}: {type(exc).__name__}: {exc}")
        return errors

    def finish(self, request: Request, m: int, missing: list[str] | None, errors: list[str] | None) -> Decision:
        """The decision for bit set ``m`` when the table has none or may not be used: remembered in the
        table when nothing but ``m`` decided it (no missing key, no error, same account), and in
        ``with_missing`` when ``m`` and the missing keys did (no error, same account). Either way every test
        of the request has run: these are decisions by test outcome, never by request."""
        account = request.resource_account
        principal = request.principal
        cross = account is not None and principal is not None and principal.account != account
        table = self.table
        if missing and errors is None and not cross:
            # Keys were missing: the bit set and the missing keys (condition keys as the policy spells them, in
            # the order the tests met them) decide, remembered per that pair (bounded, policy data only).
            key: tuple[int | str, ...] = (m, *missing)
            found = self.with_missing.get(key)
            if found is None:
                found = self._decide(m, False, missing, None)
                if len(self.with_missing) >= _MISSING_LIMIT:
                    self.with_missing.clear()
                self.with_missing[key] = found
            return found
        if not missing and errors is None and not cross:
            # A multivalued key (``missing`` then an empty list) or the caller's own account named: the bit
            # set alone decides after all, as the table's decision when it has one.
            found = table.get(m) if isinstance(table, dict) else table[m]
            if found is not None:
                return found
        decision = self._decide(m, cross, missing, errors)
        if not missing and errors is None and not cross:
            if isinstance(table, dict) and len(table) >= _TABLE_LIMIT:
                table.clear()
            table[m] = decision
        return decision

    def _decide(self, m: int, cross: bool, missing: list[str] | None, errors: list[str] | None) -> Decision:
        """The identity-only rule (``evaluate.py``, steps 1, 2, 4) for the units whose bits are set in ``m``."""
        denies: tuple[MatchedStatement, ...] | None = None
        allows: tuple[MatchedStatement, ...] | None = None
        alone: Decision | None = None  # the decision when exactly one unit applied
        for i, records in enumerate(self.records):
            if not m >> i & 1:
                continue
            alone = self.solo[i] if denies is None and allows is None else None
            if self.deny[i]:
                denies = records if denies is None else denies + records
            else:
                allows = records if allows is None else allows + records
        if not missing and errors is None:
            if alone is not None and (denies is not None or not (cross or self.trust)):
                return alone
            if allows is None and denies is None and not cross:
                return self.nothing
        return _combine(denies, allows, missing, errors, cross, self.trust)


def _combine(
    denies: tuple[MatchedStatement, ...] | None,
    allows: tuple[MatchedStatement, ...] | None,
    missing: list[str] | None,
    errors: list[str] | None,
    cross: bool,
    trust: bool,
) -> Decision:
    """The combining rule without resource grants, boundaries or session policies."""
    effect: Effect
    if denies is not None:
        effect, reason = "ExplicitDeny", reasons.EXPLICIT_DENY
    elif cross:
        effect, reason = "ImplicitDeny", reasons.CROSS_ACCOUNT
    elif trust:
        effect, reason = "ImplicitDeny", reasons.TRUST_DENIES
    elif allows is None:
        effect, reason = "ImplicitDeny", reasons.NO_IDENTITY_ALLOW
    else:
        effect, reason = "Allow", reasons.IDENTITY_ALLOWS
    return _new(
        Decision,
        (
            effect,
            denies if denies is not None else allows if allows is not None else _NO_RECORDS,
            tuple(dict.fromkeys(missing)) if missing else _NO_KEYS,
            tuple(errors) if errors else _NO_KEYS,
            allows is not None,
            "none",
            None,
            None,
            reason,
        ),
    )


def build_runner(units: Sequence[Unit], trust: bool, nothing: Decision) -> Runner:
    """``decide(request)`` for an identity-only unit list (``plan.Plan.program``'s ``simple``)."""
    shape = tuple(shape_of(unit) for unit in units)
    tail = _Tail(units, trust, nothing)
    factory = factory_for(shape, tail.kind)
    tests, keys, keyed = factory_data(units, shape)
    return factory(
        [unit[4] for unit in units],
        [unit[5] for unit in units],
        tests,
        keys,
        keyed,
        tuple(unit[9] for unit in units),
        tuple(1 << i if unit[10] else 0 for i, unit in enumerate(units)),
        tail.table,
        tail.finish,
        tail.fail,
    )


class ByResource:
    """The decision functions of an indexed identity-only entry, by resource.

    ``functions`` holds the functions of resources a unit lists exactly; any other resource is answered by
    ``miss`` from the function of its deepest literal prefix (``IndexedEntry``'s search, built once per
    prefix) and then remembered under the resource too, as that same function object, so the prefix search
    runs once per resource. This is a lookup memo (resource -> which statements can apply, a pure function of
    the policy set), never a decision: every condition and principal test still runs per request. Bounded:
    emptied when it holds ``_TABLE_LIMIT`` resources, or when the plan's memos together pass theirs
    (``Plan.remember_resource``), so a workload with more distinct resources only pays the
    search again. ``evaluate`` reads ``functions.get(resource) or miss(resource)``, which is ``self[resource]``:
    ``functions`` is a plain dict because a dict subclass's subscript goes through CPython's generic
    ``__getitem__`` slot (about twice the instructions of the plain dict's ``get``)."""

    __slots__ = ("_entry", "_nothing", "_plan", "_prefixes", "_trust", "functions")

    def __init__(self, entry: IndexedEntry, trust: bool, nothing: Decision, plan: Plan) -> None:
        self._entry = entry
        self._plan = plan
        plan.by_resource.append(self)
        self._trust = trust
        self._nothing = nothing
        self._prefixes: dict[int, Runner] = {}
        self.functions: dict[str, Runner] = {}

    def __getitem__(self, resource: str) -> Runner:
        return self.functions.get(resource) or self.miss(resource)

    def __len__(self) -> int:
        return len(self.functions)

    def miss(self, resource: str) -> Runner:
        """The function for a resource not in ``functions`` yet, remembered there."""
        entry = self._entry
        if resource in entry.exact_keys:
            run = build_runner(entry.select(resource), self._trust, self._nothing)
        else:
            keys = entry.prefix_keys  # the search of ``IndexedEntry._deepest``, inlined: one frame less per miss
            deepest = bisect_right(keys, resource) - 1
            while deepest >= 0 and not resource.startswith(keys[deepest]):
                deepest = entry.prefix_parent[deepest]
            found = self._prefixes.get(deepest)
            if found is None:
                found = self._prefixes[deepest] = build_runner(entry.select(resource), self._trust, self._nothing)
            run = found  # the same function object as its prefix's: the prefix search runs once per resource
        functions = self.functions
        if len(functions) >= _TABLE_LIMIT:
            functions.clear()
        self._plan.remember_resource()
        functions[resource] = run
        return run

    def forget(self) -> None:
        """Forget every remembered resource (``Plan.remember_resource``); exact ARNs are found again too."""
        self.functions.clear()
