"""Specialised decision functions for the identity-only rule: one per unit list, generated once.

``evaluate``'s common case is a plan entry with only identity-based statements and neither boundary nor
session policies ("Policy evaluation logic",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html): no resource
grant is possible, so the combining rule reduces to explicit deny / cross-account / trust policy / identity
allow. For such a unit list this module builds a function ``decide(request) -> Decision`` that runs the
units' tests straight-line instead of through a generic loop, records which units matched as the bits of
one integer, and returns the ``Decision`` built in advance for that set of bits.

How the function is made (no policy text ever reaches source code):

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
from collections.abc import Callable, Sequence
from types import BuiltinMethodType

from broker.policy import reasons
from broker.policy.conditions.clause import Clause
from broker.policy.matchers import ExactOrPrefix
from broker.policy.model import Decision, Effect, MatchedStatement, Request
from broker.policy.plan import IndexedEntry, Plan, Runner, Unit

__all__ = ["ByResource", "Runner", "build_runner", "shape_of", "source_for"]

_NO_KEYS: tuple[str, ...] = ()
_NO_RECORDS: tuple[MatchedStatement, ...] = ()
_FULL_TABLE_UNITS = 4  # up to 2**4 bit sets: every decision built with the function
_LIST_TABLE_UNITS = 8  # up to 2**8: a list indexed by the bit set, filled on first use; beyond, a dict
_TABLES = ("full", "list", "dict")
_TABLE_LIMIT = 4096
_MISSING_LIMIT = 32  # decisions remembered per unit list for (bit set, missing keys): see ``_Tail.finish``
_FACTORY_LIMIT = 1024
_new = tuple.__new__

# Resource tests: how a unit's Resource/NotResource is checked (``None``: any resource matches).
_RESOURCE_TESTS: dict[str, str | None] = {
    "any": None,
    "in": "resource in E{i}",
    "inhead": "resource in E{i} or resource.startswith(H{i})",
    "test": "S{i}(resource)",
    "ctx": "S{i}(resource, ctx)",
}
_CONDITIONS = ("none", "key", "keyin", "keynot", "keynotin", "keyip", "keynotip", "cond")
# An IpAddress/NotIpAddress clause whose ranges are whole octets (``ip.build_ip``'s ``match_prefix``), written
# inline: the address prefix test, then the strict address check in a ``try`` (one Python frame less).
_IP_CHECK = ["if v.startswith(T{i}):", "    try:", "        P{i}(F{i}, v)", "    except (OSError, ValueError):"]
_IP_TESTS = {"keyip": [*_IP_CHECK, "        pass", "    else:", "        {add}"],
             "keynotip": [*_IP_CHECK, "        {add}", "else:", "    {add}"]}
_KEY_TESTS = {"key": "T{i}(v)", "keyin": "v in T{i}", "keynot": "not T{i}(v)", "keynotin": "v not in T{i}"}
_NEGATED = {"key": "keynot", "keyin": "keynotin"}
_AND_CLAUSES = 4  # a statement with 2-4 plain clauses has them ANDed inline (``_and_block``); more: ``Q[i]``

Shape = tuple[tuple[str, str], ...]
_factories: dict[tuple[Shape, str], Callable[..., Runner]] = {}


def shape_of(unit: Unit) -> tuple[str, str]:
    """(resource test, condition) tokens of one unit, read from its flattened fields (``plan.Unit``)."""
    statement, exact, heads, call, key, cond = unit[0], unit[4], unit[5], unit[6], unit[7], unit[9]
    if exact is not None:
        resource = "in" if heads is None else "inhead"
    elif call is not None:
        resource = "ctx" if statement.res_test is None or isinstance(statement.res_test, ExactOrPrefix) else "test"
    else:
        resource = "any"
    if key is not None:
        clause = statement.clauses[0]  # its one clause with a fast test (``plan._condition_fields``)
        condition = _clause_form(clause)
        if condition in ("key", "keynot") and getattr(clause.fast_match, "ipv4", None) is not None:
            condition = "keynotip" if clause.fast_negated else "keyip"
    elif cond is not None and 1 < len(statement.clauses) <= _AND_CLAUSES and all(
        clause.fast_key is not None for clause in statement.clauses
    ):  # several plain clauses: their fast tests ANDed inline, in order (``_and_block``)
        condition = "&".join(_clause_form(clause) for clause in statement.clauses)
    else:
        condition = "cond" if cond is not None else "none"
    return resource, condition


def _clause_form(clause: Clause) -> str:
    """``key``/``keyin`` for a plain clause's positive matcher, ``keynot``/``keynotin`` for a negated operator's
    (its positive matcher negated inline: one call less than ``fast_test``)."""
    form = _key_form(clause.fast_match)
    return _NEGATED[form] if clause.fast_negated else form


def _clause_data(clause: Clause, form: str) -> object:
    """What the generated test of ``form`` reads for ``clause``: the set of ``v in T``, else the callable."""
    if form in ("keyin", "keynotin"):
        return getattr(clause.fast_match, "__self__", None)
    if form in _IP_TESTS:  # (prefixes, strict address check): ``ip.build_ip``
        return getattr(clause.fast_match, "ipv4", None)
    return clause.fast_match if form == "keynot" else clause.fast_test


def _and_block(i: int, forms: Sequence[str], add: str) -> list[str]:
    """Unit ``i``'s clauses ANDed as ``Q[i]`` (``matchers.all_hold``) ANDs them, stopping at the first false
    one: while each value is one string its fast test runs inline; at the first value that is not (absent or
    multivalued) ``Q[i]`` decides from the first clause on (the tests before it are pure and held, so it
    reaches that clause with the same verdicts, records the missing key and raises as the inline tests would)."""
    lines: list[str] = []
    indent = ""
    for j, form in enumerate(forms):
        lines += [f"{indent}v = CTX.get(K{i}_{j})", f"{indent}if v.__class__ is str:"]
        lines.append(f"{indent}    if {_KEY_TESTS[form].format(i=f'{i}_{j}')}:")
        indent += "        "
    lines.append(f"{indent}{add}")
    for j in range(len(forms) - 1, -1, -1):
        indent = "        " * j
        lines += [f"{indent}else:", f"{indent}    if missing is None:", f"{indent}        missing = []"]
        lines += [f"{indent}    if Q[{i}](CTX, missing):", f"{indent}        {add}"]
    return lines


def _key_form(test: object) -> str:
    """How a unit's one-string test is written: ``v in C`` when it is the bound ``__contains__`` of a set or
    dict (``Bool``'s spellings, ``StringEquals`` values), exactly the call it replaces without the call;
    otherwise ``T(v)``. Exact types only: a subclass's operator goes through CPython's generic slot."""
    if isinstance(test, BuiltinMethodType):
        owner, name = test.__self__, test.__name__
        if name == "__contains__" and owner.__class__ in (frozenset, set, dict):
            return "keyin"
    return "key"


def source_for(shape: Shape, table: str) -> str:
    """The factory's source for ``shape``: fixed fragments, position-derived names and bit literals only.

    ``table``: ``full`` (a list with every bit set's decision), ``list`` (filled on first use) or ``dict``.
    A unit adds its bit as the last statement of its ``try`` block, so each bit is added at most once and
    ``m += bit`` is ``m |= bit`` (CPython specialises the addition of small ints, not ``|=``). A unit that
    raises adds ``X`` (its bit for a Deny, 0 for an Allow) and makes ``missing`` a list, so that one
    ``missing is None`` test tells whether the bit set alone decides."""
    if table not in _TABLES:
        raise ValueError(f"unknown table kind {table!r}")
    unpack: list[str] = []
    body: list[str] = []
    resource_uses = ctx_uses = 0  # on the path without a missing key: one use is read in place, no local
    always = 0  # the bits of units that match every request (any resource, no condition): m starts with them
    for i, (resource, condition) in enumerate(shape):
        test = _RESOURCE_TESTS[resource]  # KeyError for an unknown token: nothing else is ever emitted
        forms = condition.split("&")
        anded = 1 < len(forms) <= _AND_CLAUSES and all(form in _KEY_TESTS for form in forms)
        if condition not in _CONDITIONS and not anded:
            raise ValueError(f"unknown condition shape {condition!r}")
        if test is None and condition == "none":
            always += 1 << i
            continue
        add = f"m += {1 << i}"
        inner: list[str] = []
        if condition == "none":
            inner.append(add)
        elif condition in _KEY_TESTS or condition in _IP_TESTS:
            if condition in _IP_TESTS:
                unpack += [f"K{i} = K[{i}]", f"T{i} = T[{i}][0]", f"P{i} = T[{i}][1]", f"F{i} = T[{i}][2]"]
                checks = [line.format(i=i, add=add) for line in _IP_TESTS[condition]]
            else:
                unpack += [f"K{i} = K[{i}]", f"T{i} = T[{i}]"]
                checks = [f"if {_KEY_TESTS[condition].format(i=i)}:", f"    {add}"]
            inner += [f"v = CTX.get(K{i})", "if v.__class__ is str:", *("    " + line for line in checks), "else:"]
            inner += ["    if missing is None:", "        missing = []", f"    if Q[{i}](CTX, missing):"]
            inner.append(f"        {add}")
            ctx_uses += 1
        elif len(forms) > 1:
            unpack += [f"{name}{i}_{j} = {name}[{i}][{j}]" for j in range(len(forms)) for name in ("K", "T")]
            inner += _and_block(i, forms, add)
            ctx_uses += len(forms)
        else:
            inner += ["if missing is None:", "    missing = []", f"if Q[{i}](CTX, missing):", f"    {add}"]
            ctx_uses += 1
        if test is None:
            block = inner
        else:
            unpack += [f"{name}{i} = {name}[{i}]" for name in ("E", "H", "S") if f"{name}{{i}}" in test]
            resource_uses += test.count("resource")
            ctx_uses += test.count("ctx")
            block = [f"if {test.format(i=i).replace('resource', 'RES').replace('ctx', 'CTX')}:"]
            block += ["    " + line for line in inner]
        body += ["try:", *("    " + line for line in block), "except Exception as exc:"]
        body += [f"    errors = fail(errors, {i}, exc)", f"    m += X[{i}]"]
        body += ["    if missing is None:", "        missing = []"]
    prologue = ["resource = request.resource"] if resource_uses > 1 else []
    prologue += ["ctx = request.ctx"] if ctx_uses > 1 else []
    res = "resource" if resource_uses > 1 else "request.resource"
    ctx = "ctx" if ctx_uses > 1 else "request.ctx"
    body = [line.replace("RES", res).replace("CTX", ctx) for line in body]
    # ``missing is request.resource_account``: both ``None`` (``missing`` is a list or None, the account a
    # str or None), i.e. no key missing, no error and the caller's own account
    epilogue = ["if missing is request.resource_account:"]
    if table == "full":
        epilogue.append("    return table[m]")
    else:
        lookup = "table[m]" if table == "list" else "table.get(m)"
        epilogue += [f"    d = {lookup}", "    if d is not None:", "        return d"]
    epilogue.append("return finish(request, m, missing, errors)")
    lines = ["def factory(E, H, S, K, T, Q, X, table, finish, fail):", *("    " + line for line in unpack)]
    # The starting values and the policy data as parameter defaults rather than closure cells: the call sets
    # them (no bytecode, no cell copies) and the body reads them as fast locals. ``decide`` is only ever called
    # with the request (``evaluate``); the slow paths' data are read from the per-unit sequences ``Q`` and ``X``.
    names = [line.split(" = ")[0] for line in unpack] + ["table", "finish", "fail", "Q", "X"]
    bound = "".join(f", {name}={name}" for name in names)
    lines.append(f"    def decide(request, m={always}, missing=None, errors=None{bound}):")
    lines += ["        " + line for line in (*prologue, *body, *epilogue)]
    lines.append("    return decide")
    return "\n".join(lines) + "\n"


def _factory(shape: Shape, table: str) -> Callable[..., Runner]:
    found = _factories.get((shape, table))
    if found is not None:
        return found
    builtins = {"Exception": Exception, "OSError": OSError, "ValueError": ValueError, "str": str}
    namespace: dict[str, object] = {"__builtins__": builtins}
    exec(compile(source_for(shape, table), "<broker.policy.fastpath>", "exec"), namespace)  # noqa: S102
    factory: Callable[..., Runner] = namespace["factory"]  # type: ignore[assignment]
    if len(_factories) >= _FACTORY_LIMIT:
        _factories.clear()
    _factories[(shape, table)] = factory
    return factory


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
    factory = _factory(shape, tail.kind)
    tests: list[Callable[..., bool] | None] = []
    keyed: list[object] = []
    keys: list[object] = []
    for unit, (resource, condition) in zip(units, shape, strict=True):
        tests.append(unit[0].res_test if resource == "test" else unit[6])
        clauses = unit[0].clauses
        if condition in _KEY_TESTS or condition in _IP_TESTS:
            keys.append(unit[7])
            keyed.append(_clause_data(clauses[0], condition))
        elif "&" in condition:
            keys.append(tuple(clause.fast_key for clause in clauses))
            keyed.append(tuple(_clause_data(c, form) for c, form in zip(clauses, condition.split("&"), strict=True)))
        else:
            keys.append(None)
            keyed.append(unit[8])
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
