"""The source of the fast path's generated decision functions (``fastpath``): shapes, fragments, factories.

A unit list is reduced to its *shape* (``shape_of``: one resource token and one condition token per unit, from
the fixed tables below) and ``source_for`` writes a factory's source from the shape alone: fixed fragments,
names derived from unit positions and bit literals, never policy text. ``factory_for`` compiles it once per
shape (bounded cache) in a namespace whose builtins are only ``Exception``, ``OSError``, ``ValueError`` and
``str``; ``factory_data`` lists the policy data, per unit, in the form the source reads. How the function
decides, and its rules on errors and tables: ``fastpath``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import BuiltinMethodType

from broker.policy.conditions.clause import Clause
from broker.policy.matchers import ExactOrPrefix
from broker.policy.plan import Runner, Unit

__all__ = ["Shape", "factory_data", "factory_for", "shape_of", "source_for"]

_TABLES = ("full", "list", "dict")
_FACTORY_LIMIT = 1024

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


def factory_for(shape: Shape, table: str) -> Callable[..., Runner]:
    """The compiled factory for ``shape`` and ``table`` kind (bounded cache): see ``source_for``."""
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


def factory_data(units: Sequence[Unit], shape: Shape) -> tuple[list[object], list[object], list[object]]:
    """(tests, keys, values) for a factory of ``shape``: per unit its resource test (``S``), its condition
    key(s) (``K``: one key, or a tuple for clauses ANDed in place) and what its inline test reads (``T``)."""
    tests: list[object] = []
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
    return tests, keys, keyed
