"""Generated forms for statements with several plain condition clauses, held equal to the complete rule.

A statement with 2-4 plain clauses (no set operator, no ``Null``, no variables) has their fast tests ANDed inline
in the generated decision function (``fastpath._and_block``) instead of calling the statement's ``cond``; the
combining rule is "Policy evaluation logic" (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html)
and the clause semantics "The condition block"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html): AND across
operators and keys, a missing key false for a positive operator and true for a negated one.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from policy_helpers import ACCOUNT, OTHER_ACCOUNT, USER_ARN, allow, compiled, deny, doc

from broker.policy import Decision, PolicySet, PrincipalRef, Request, evaluate, explain
from broker.policy.conditions import ip
from broker.policy.evaluate import _evaluate_all
from broker.policy.fastpath import shape_of, source_for
from broker.policy.plan import IndexedEntry, plan_for

TEAM = "aws:PrincipalTag/team"
PROJECT = "aws:PrincipalTag/project"
IP = "aws:SourceIp"
TLS = "aws:SecureTransport"

CONDITIONS: list[tuple[dict[str, Any], str]] = [
    ({"StringLike": {PROJECT: "p*"}, "IpAddress": {IP: "10.0.0.0/8"}}, "key&key"),
    ({"Bool": {TLS: "true"}, "StringEquals": {TEAM: ["a", "b"]}}, "keyin&keyin"),
    ({"NotIpAddress": {IP: ["10.0.0.0/8", "::1/128"]}, "StringNotEquals": {TEAM: "a"}}, "keynot&keynotin"),
    ({"StringEquals": {TEAM: "a"}, "StringNotLike": {PROJECT: "q*"}, "Bool": {TLS: "true"}}, "keyin&keynot&keyin"),
    ({"StringEqualsIfExists": {TEAM: "a"}, "IpAddress": {IP: "10.0.0.0/8"}}, "keyin&key"),
]
VALUES: dict[str, list[Any]] = {
    TEAM: [None, "a", "b", "c", ["a", "c"], []],
    PROJECT: [None, "p1", "q", ["q"]],
    IP: [None, "10.1.2.3", "8.8.8.8", "::1", "junk", ["10.1.2.3", "8.8.8.8"]],
    TLS: [None, "true", "FALSE", [], ["true"]],
}


def _complete(request: Request, pset: PolicySet) -> Decision:
    plan = plan_for(pset)
    entry, _simple, trust, _nothing = plan.program(request.action_key)
    return _evaluate_all(plan, entry, trust, request)


def _same(request: Request, pset: PolicySet) -> Decision:
    """``evaluate`` (twice: the second time from the tables) equals the complete rule, ``explain`` too."""
    expected = _complete(request, pset)
    for _ in range(2):
        got = evaluate(request, pset)
        assert got == expected and got.reason == expected.reason, request
        assert explain(got, request) == explain(expected, request)
    return expected


def _contexts(keys: list[str]) -> list[dict[str, Any]]:
    out = []
    for values in itertools.product(*(VALUES[key] for key in keys)):
        out.append({key: value for key, value in zip(keys, values, strict=True) if value is not None})
    return out


def _keys(condition: dict[str, Any]) -> list[str]:
    return sorted({key for clause in condition.values() for key in clause})


@pytest.mark.parametrize(("condition", "form"), CONDITIONS, ids=[form for _, form in CONDITIONS])
def test_several_plain_clauses_are_anded_inline_and_agree(condition: dict[str, Any], form: str) -> None:
    """Each clause's form as for a one-clause statement, joined by ``&``; every combination of absent, single,
    multivalued and empty values decides as the complete rule (missing keys recorded only up to the first
    failing clause, as ``all_hold`` does), for a Deny and an Allow, unindexed and indexed by resource, for the
    caller's own account and another."""
    caller = PrincipalRef(USER_ARN, ACCOUNT)
    effects = set()
    for make in (allow, deny):
        for resource in ("*", "arn:aws:s3:::b/*"):
            statements = [make("s3:GetObject", resource, Sid="Two", Condition=condition), allow("s3:Get*", Sid="All")]
            pset = PolicySet(identity=[compiled(doc(*statements))])
            for context in _contexts(_keys(condition)):
                for account in (None, OTHER_ACCOUNT):
                    request = Request("s3:GetObject", "arn:aws:s3:::b/k", context, caller, account)
                    effects.add(_same(request, pset).effect)
            entry = plan_for(pset).memo["s3:getobject"]
            units = entry.units if isinstance(entry, IndexedEntry) else entry
            assert shape_of(units[0])[1] == form
    assert effects == {"Allow", "ExplicitDeny", "ImplicitDeny"}
    source = source_for((("any", form),), "full")
    assert "Q[0](ctx, missing)" in source and "v = ctx.get(K0_1)" in source


def test_the_anded_form_reports_missing_keys_in_the_complete_rules_order() -> None:
    """The first clause fails: the second's absent key is not recorded; it holds: the absent key is."""
    condition = {"StringEquals": {TEAM: "a"}, "IpAddress": {IP: "10.0.0.0/8"}}
    pset = PolicySet(identity=[compiled(doc(allow("s3:GetObject", Condition=condition)))])
    assert _same(Request("s3:GetObject", "x", {TEAM: "b"}), pset).missing_context_keys == ()
    assert _same(Request("s3:GetObject", "x", {TEAM: "a"}), pset).missing_context_keys == (IP,)
    assert _same(Request("s3:GetObject", "x", {}), pset).missing_context_keys == (TEAM,)


def test_other_clause_mixes_keep_the_general_and() -> None:
    """A set operator, ``Null`` or a variable in any clause, or more than four clauses: ``Q[i]`` as before."""
    for condition in (
        {"StringEquals": {TEAM: "a"}, "ForAnyValue:StringEquals": {"aws:TagKeys": "k"}},
        {"StringEquals": {TEAM: "a"}, "Null": {IP: "false"}},
        {"StringEquals": {TEAM: "${aws:username}"}, "Bool": {TLS: "true"}},
        {
            "StringEquals": {TEAM: "a"},
            "StringLike": {PROJECT: "p*"},
            "IpAddress": {IP: "10.0.0.0/8"},
            "Bool": {TLS: "true"},
            "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"},
        },
    ):
        pset = PolicySet(identity=[compiled(doc(allow("s3:GetObject", Condition=condition)))])
        _same(Request("s3:GetObject", "x", {TEAM: "a", PROJECT: "p", IP: "10.0.0.1", TLS: "true"}), pset)
        assert shape_of(plan_for(pset).memo["s3:getobject"][0]) == ("any", "cond")  # type: ignore[index]
    for bad in ("key&__import__", "key&key&key&key&key", "cond&key", "key&"):
        with pytest.raises(ValueError):
            source_for((("any", bad),), "full")


def test_a_clause_that_raises_is_reported_as_by_the_complete_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """An address test that raises (in the inline test or in ``Q[i]``): an Allow is skipped, a Deny counts, the
    error recorded with the general rule's wording, whichever clause raised."""

    def boom(*_args: object) -> bytes:
        raise RuntimeError("broken parser")

    monkeypatch.setattr(ip, "_pton", boom)
    for condition in (
        {"StringEquals": {TEAM: "a"}, "IpAddress": {IP: "10.0.0.0/8"}},
        {"IpAddress": {IP: "10.0.0.0/8"}, "StringEquals": {TEAM: "a"}},
    ):
        for make in (allow, deny):
            pset = PolicySet(identity=[compiled(doc(make("s3:GetObject", Condition=condition), allow("s3:*")))])
            errors = 0
            for context in _contexts([IP, TEAM]):
                errors += bool(_same(Request("s3:GetObject", "x", context), pset).errors)
            assert errors


def test_decisions_with_missing_keys_are_kept_per_bit_set_and_missing_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """``_Tail.finish``: with keys missing (no error, same account) the bit set and the missing keys decide; the
    decision is kept per that pair (so a second request with the same outcome gets the same object) and equals
    the complete rule; another missing key, bit set, account or an error gives another decision; the memo is
    bounded (``_MISSING_LIMIT``) and decisions stay those of the complete rule while it is emptied."""
    from broker.policy import fastpath

    monkeypatch.setattr(fastpath, "_MISSING_LIMIT", 2)
    statements = [
        deny("s3:*", Sid="Team", Condition={"StringNotEquals": {TEAM: "a"}}),
        allow("s3:GetObject", Sid="Ip", Condition={"IpAddress": {IP: "10.0.0.0/8"}}),
        allow("s3:GetObject", Sid="Project", Condition={"StringLike": {PROJECT: "p*"}}),
    ]
    pset = PolicySet(identity=[compiled(doc(*statements))])
    caller = PrincipalRef(USER_ARN, ACCOUNT)

    def decide(context: dict[str, Any], account: str | None = None) -> Decision:
        request = Request("s3:GetObject", "x", context, caller, account)
        _same(request, pset)
        return evaluate(request, pset)

    no_team = decide({IP: "10.0.0.1", PROJECT: "p"})
    assert no_team.effect == "ExplicitDeny" and no_team.missing_context_keys == (TEAM,)
    assert decide({IP: "10.2.0.1", PROJECT: "p2"}) is no_team
    no_ip = decide({TEAM: "a", PROJECT: "p"})
    assert no_ip.effect == "Allow" and no_ip.missing_context_keys == (IP,) and no_ip is not no_team
    assert decide({TEAM: "a", PROJECT: "q"}).effect == "ImplicitDeny"  # bit set differs, same missing key
    assert decide({TEAM: "a", PROJECT: "p1"}) is not no_ip  # the memo of 2 was emptied
    assert decide({TEAM: "a"}).missing_context_keys == (IP, PROJECT)
    other = decide({IP: "10.0.0.1", PROJECT: "p"}, OTHER_ACCOUNT)
    assert other is not decide({IP: "10.0.0.1", PROJECT: "p"}, OTHER_ACCOUNT)  # another account: built each time
    for context in _contexts([TEAM, IP, PROJECT]):
        for account in (None, ACCOUNT, OTHER_ACCOUNT):
            decide(context, account)


ADDRESSES: list[Any] = [
    None, "10.1.2.3", "10.0.0.0", "10.255.255.255", "192.0.2.7", "8.8.8.8", "10.1.2.03", "10.1.2", "10.1.2.3.4",
    "10.1.2.256", "10.1.2.3 ", "10.\u0661.2.3", "10.1.2.3\x00", "10.1.2.\ud800", "10.", "", "::1", "::ffff:10.1.2.3",
    ["10.1.2.3", "8.8.8.8"], ["8.8.8.8"], [],
]


@pytest.mark.parametrize(
    ("operator", "ranges", "form"),
    [
        ("IpAddress", ["10.0.0.0/8"], "keyip"),
        ("IpAddress", ["10.0.0.0/8", "192.0.2.0/24"], "keyip"),
        ("NotIpAddress", ["10.0.0.0/8", "192.0.2.0/24"], "keynotip"),
        ("NotIpAddress", ["10.0.0.0/12"], "keynot"),  # not whole octets: the matcher is called
        ("IpAddress", ["10.0.0.0/8", "::1/128"], "key"),
    ],
)
def test_whole_octet_address_ranges_are_tested_inline(operator: str, ranges: list[str], form: str) -> None:
    """An IpAddress/NotIpAddress clause whose ranges are whole octets is written as the prefix test and the strict
    address check in place (``ip.build_ip``'s ``match_prefix`` as data); decisions equal the complete rule's on
    valid, malformed, IPv6, multivalued, empty and missing addresses, for a Deny and an Allow."""
    for make in (allow, deny):
        statement = make("s3:GetObject", Condition={operator: {IP: ranges}})
        pset = PolicySet(identity=[compiled(doc(statement, allow("s3:*")))])
        for value in ADDRESSES:
            _same(Request("s3:GetObject", "arn:aws:s3:::b/k", {} if value is None else {IP: value}), pset)
        assert shape_of(plan_for(pset).memo["s3:getobject"][0]) == ("any", form)  # type: ignore[index]
    if form.endswith("ip"):
        assert "P0(F0, v)" in source_for((("any", form),), "full")


def test_an_inline_address_check_that_raises_is_reported_as_by_the_complete_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(*_args: object) -> bytes:
        raise RuntimeError("broken parser")

    monkeypatch.setattr(ip, "_pton", boom)
    for operator in ("IpAddress", "NotIpAddress"):
        for make in (allow, deny):
            statement = make("s3:GetObject", Condition={operator: {IP: "10.0.0.0/8"}})
            pset = PolicySet(identity=[compiled(doc(statement, allow("s3:*")))])
            assert shape_of(plan_for(pset).program("s3:getobject")[0][0])[1].endswith("ip")  # type: ignore[index]
            decisions = [_same(Request("s3:GetObject", "x", {} if v is None else {IP: v}), pset) for v in ADDRESSES]
            assert any(decision.errors for decision in decisions)
