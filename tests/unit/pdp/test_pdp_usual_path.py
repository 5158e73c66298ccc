"""The one-pass SigV4 path and the normalised-context decision give exactly what the general path gives.

* ``parse_usual`` reads what ``parse`` reads, and only requests ``parse`` accepts;
* ``usual_signature`` is ``expected_signature``'s signature;
* ``PolicyDecisionPoint.authorize_sigv4`` answers the same with its one-pass path as without it, for good
  requests and for every kind of tampering (the fast path never refuses on its own);
* ``CachingAuthorizer.decide_normalized`` evaluates the same context as ``PolicyAuthorizer.decide``;
* ``Request.from_normalized`` is ``Request`` for a normalised context; ``time_keys`` is the normalised clock.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker import policy
from broker.credentials.sigv4 import SignedRequest, parse, sign
from broker.credentials.sigv4.fast import parse_usual, signer, usual_signature
from broker.credentials.sigv4.signing_key import derive_signing_key
from broker.credentials.sigv4.verify import expected_signature
from broker.errors import BrokerError
from broker.pdp.policies import time_keys
from broker.policy.model import normalize_context
from broker.principal import CallContext
from broker.service.authorize import PolicyAuthorizer
from tests.unit.pdp.conftest import World

THING = "arn:aws:example:::thing/1"
NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLE//token+with/slashes=="


def _signed(headers: list[tuple[str, str]] | None = None, *, key: str = "ASIAEXAMPLEKEY000001", path: str = "/t/1",
            token: str | None = TOKEN, service: str = "example", region: str = "us-east-1",
            body: bytes = b"{}") -> SignedRequest:
    base = SignedRequest.build("POST", path, "", headers or [("Host", "svc.example"), ("User-Agent", "ua/1")], body)
    return sign(base, key, SECRET, region, service, NOW, session_token=token)


def _replace(request: SignedRequest, name: str, value: str | None, *, append: bool = False) -> SignedRequest:
    headers = [(n, v) for n, v in request.headers if append or n.lower() != name.lower()]
    if value is not None:
        headers.append((name, value))
    return SignedRequest(request.method, request.path, request.query, tuple(headers), request.body,
                         request.body_sha256)


def _authorization(request: SignedRequest, edit: Callable[[str], str]) -> SignedRequest:
    return _replace(request, "Authorization", edit(request.header_tuple("authorization")[0]))


def _outcome(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except BrokerError as error:
        return (type(error).__name__, error.message)


VARIANTS: dict[str, Callable[[SignedRequest], SignedRequest]] = {
    "as signed": lambda r: r,
    "no space after commas": lambda r: _authorization(r, lambda h: h.replace(", ", ",")),
    "padded header": lambda r: _authorization(r, lambda h: f" {h} "),
    "fields reordered": lambda r: _authorization(r, lambda h: h.replace("Credential", "X").replace(
        "Signature", "Credential").replace("X", "Signature")),
    "upper-case signature": lambda r: _authorization(r, lambda h: h[:-64] + h[-64:].upper()),
    "short signature": lambda r: _authorization(r, lambda h: h[:-1]),
    "wrong signature": lambda r: _authorization(r, lambda h: h[:-1] + ("0" if h[-1] != "0" else "1")),
    "upper-case signed header": lambda r: _authorization(r, lambda h: h.replace("host", "Host")),
    "host not signed": lambda r: _authorization(r, lambda h: h.replace("host;", "")),
    "date not signed": lambda r: _authorization(r, lambda h: h.replace(";x-amz-date", "")),
    "token not signed": lambda r: _authorization(r, lambda h: h.replace(";x-amz-security-token", "")),
    "bad terminator": lambda r: _authorization(r, lambda h: h.replace("aws4_request", "aws4_reqest")),
    "bad region": lambda r: _authorization(r, lambda h: h.replace("us-east-1", "US_EAST")),
    "other service": lambda r: _authorization(r, lambda h: h.replace("/example/", "/other/")),
    "scope date differs": lambda r: _authorization(r, lambda h: h.replace("/20260101/", "/20251231/")),
    "six credential parts": lambda r: _authorization(r, lambda h: h.replace("/aws4_request", "/x/aws4_request")),
    "two authorizations": lambda r: _replace(r, "Authorization", r.header_tuple("authorization")[0], append=True),
    "no date": lambda r: _replace(r, "X-Amz-Date", None),
    "date header instead": lambda r: _replace(_replace(r, "X-Amz-Date", None), "Date",
                                              "Thu, 01 Jan 2026 12:00:00 GMT"),
    "two dates": lambda r: _replace(r, "X-Amz-Date", "20260101T120000Z", append=True),
    "malformed date": lambda r: _replace(r, "X-Amz-Date", "20260101T120000"),
    "impossible date": lambda r: _replace(r, "X-Amz-Date", "20261301T120000Z"),
    "padded date": lambda r: _replace(r, "X-Amz-Date", " 20260101T120000Z"),
    "stale date": lambda r: _replace(r, "X-Amz-Date", "20260101T110000Z"),
    "no token": lambda r: _replace(r, "X-Amz-Security-Token", None),
    "two tokens": lambda r: _replace(r, "X-Amz-Security-Token", "x", append=True),
    "other token": lambda r: _replace(r, "X-Amz-Security-Token", "x"),
    "user agent padded": lambda r: _replace(r, "User-Agent", "  ua  /1 "),
    "user agent twice": lambda r: _replace(r, "User-Agent", "ua/2", append=True),
    "host removed": lambda r: _replace(r, "Host", None),
    "content sha sent": lambda r: _replace(r, "X-Amz-Content-Sha256", "0" * 64),
    "query added": lambda r: SignedRequest(r.method, r.path, "a=b", r.headers, r.body),
    "path changed": lambda r: SignedRequest(r.method, "/t/./1", r.query, r.headers, r.body),
    "method lower": lambda r: SignedRequest("post", r.path, r.query, r.headers, r.body),
    "body changed": lambda r: SignedRequest(r.method, r.path, r.query, r.headers, b"{ }"),
    "body hash given": lambda r: SignedRequest(r.method, r.path, r.query, r.headers, b"",
                                               "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_parse_usual_reads_what_parse_reads(variant: str) -> None:
    request = VARIANTS[variant](_signed([("Host", "svc.example"), ("User-Agent", "ua/1"), ("X-Tab", "a\tb")]))
    usual = parse_usual(request)
    general = _outcome(lambda: parse(request))
    if usual is None:
        return
    assert not isinstance(general, tuple), f"{variant}: the fast parse accepted what parse refuses: {general}"
    key_id, date, region, service, signed, names, sig, stamp, timestamp, token = usual
    assert (key_id, date, region, service, tuple(names), sig, stamp, timestamp, token) == (
        general.access_key_id, general.date, general.region, general.service, general.signed_headers,
        general.signature, general.amz_date, general.timestamp, general.security_token)
    assert general.terminator == "aws4_request" and not general.presigned and signed == ";".join(names)
    assert general.date == general.amz_date[:8]
    key = derive_signing_key(SECRET, date, region, service)
    fast = usual_signature(request, usual, signer(key))
    try:
        expected: Any = expected_signature(request, general, SECRET, normalize_path=True)[1]
    except BrokerError:
        expected = None  # a signed header missing: the fast path must not answer either
    assert fast == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["x-a", "X-B", "x-c", "content-type"]), st.text(max_size=12)),
                max_size=5), st.sampled_from(["/", "/a b", "/a/../b", "//x", "/t/1"]))
def test_usual_signature_equals_expected_signature(extra: list[tuple[str, str]], path: str) -> None:
    request = _signed([("Host", "svc.example"), *extra], path=path)
    usual = parse_usual(request)
    if usual is None:
        return
    key = derive_signing_key(SECRET, usual[1], usual[2], usual[3])
    auth = parse(request)
    try:
        expected: Any = expected_signature(request, auth, SECRET, normalize_path=True)[1]
    except BrokerError:
        expected = None
    mac = signer(key)
    fast = usual_signature(request, usual, mac)
    assert fast is None or fast == expected
    assert usual_signature(request, usual, mac) == fast  # the keyed HMAC is copied, never consumed
    if fast is None:  # only repeated signed headers are left to the general path
        assert any(len(request.header_tuple(name)) > 1 for name in usual[5])


def _both_paths(world: World, request: SignedRequest, monkeypatch: pytest.MonkeyPatch,
                **kwargs: Any) -> tuple[Any, Any]:
    fast = world.pdp.authorize_sigv4(request, "example:GetThing", THING, **kwargs)
    with monkeypatch.context() as patched:
        patched.setattr(world.pdp, "_usual", lambda *args: None)
        general = world.pdp.authorize_sigv4(request, "example:GetThing", THING, **kwargs)
    return fast, general


def _same(fast: Any, general: Any) -> None:
    assert (fast.decision, fast.principal, fast.matched_statements, fast.missing_context_keys, fast.reason,
            fast.denial) == (general.decision, general.principal, general.matched_statements,
                             general.missing_context_keys, general.reason, general.denial)
    assert (type(fast.error), fast.error and fast.error.message) == (type(general.error),
                                                                     general.error and general.error.message)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_pdp_answers_the_same_with_and_without_the_one_pass_path(world: World, variant: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    creds = world.assume()
    base = SignedRequest.build("POST", "/t/1", "", [("Host", "svc.example"), ("User-Agent", "ua/1")], b"{}")
    request = VARIANTS[variant](sign(base, creds["AccessKeyId"], creds["SecretAccessKey"], "us-east-1", "example",
                                     world.clock.now(), session_token=creds["SessionToken"]))
    answers = {}
    for service in (None, "example", "other"):
        fast, general = _both_paths(world, request, monkeypatch, service=service)
        _same(fast, general)
        answers[service] = fast
    if variant == "as signed":
        assert answers["other"].decision == "ImplicitDeny" and answers["other"].error is not None
        assert answers[None].decision == "Allow"
    taken = _outcome(lambda: world.pdp._usual(request, None, world.clock.now()) is not None)
    if variant in ("no token", "other token"):  # refused by the session token check both paths share
        assert taken == ("InvalidClientTokenId", "The security token included in the request is invalid.")
    else:  # the one-pass path takes only good requests, and the usual ones among them
        assert taken is False or answers[None].error is None
        if variant in ("as signed", "no space after commas", "user agent padded", "user agent twice",
                       "path changed", "method lower", "body hash given"):
            assert taken is True


def test_pdp_same_answers_for_expired_revoked_and_foreign_sessions(world: World,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    creds = world.assume()
    request = world.signed(creds)
    _same(*_both_paths(world, request, monkeypatch))
    later = world.clock.now() + timedelta(hours=2)  # past the session's hour; the signature is stale too
    _same(*_both_paths(world, request, monkeypatch, now=later))
    resigned = sign(request, creds["AccessKeyId"], creds["SecretAccessKey"], "us-east-1", "example", later,
                    session_token=creds["SessionToken"])
    fast, general = _both_paths(world, resigned, monkeypatch, now=later)
    _same(fast, general)
    assert fast.error is not None and type(fast.error).__name__ == "ExpiredToken"
    other = world.assume()
    foreign = sign(request, other["AccessKeyId"], creds["SecretAccessKey"], "us-east-1", "example",
                   world.clock.now(), session_token=creds["SessionToken"])
    fast, general = _both_paths(world, foreign, monkeypatch)
    _same(fast, general)
    assert fast.error is not None and type(fast.error).__name__ == "InvalidClientTokenId"
    world.pdp.authenticator.revocations = _RevokeAll()
    fast, general = _both_paths(world, request, monkeypatch)
    _same(fast, general)
    assert fast.error is not None and "revoked" in (fast.error.detail or "")


class _RevokeAll:
    def is_revoked(self, claims: Any, now: datetime) -> bool:
        return True


def test_signing_keys_are_kept_per_scope(world: World) -> None:
    creds = world.assume()
    for region in ("us-east-1", "eu-west-1", "us-east-1"):
        base = SignedRequest.build("GET", "/t", "", [("Host", "svc.example")])
        request = sign(base, creds["AccessKeyId"], creds["SecretAccessKey"], region, "example", world.clock.now(),
                       session_token=creds["SessionToken"])
        assert world.pdp.authorize_sigv4(request, "example:GetThing", THING).decision == "Allow"
    keys = world.pdp._sessions[creds["SessionToken"]][3]
    assert sorted(keys) == ["20260101/eu-west-1/example", "20260101/us-east-1/example"]
    derived = derive_signing_key(creds["SecretAccessKey"], "20260101", "eu-west-1", "example")
    probe = b"AWS4-HMAC-SHA256\nprobe"
    kept = keys["20260101/eu-west-1/example"].copy()
    kept.update(probe)
    assert kept.digest() == hmac.digest(derived, probe, "sha256")


# --- the decision from normalised parts ---------------------------------------------------------------------------

CONTEXTS: list[dict[str, Any] | None] = [
    None,
    {},
    {"example:color": "blue"},
    {"aws:SourceIp": "192.0.2.1", "aws:CurrentTime": "2020-01-01T00:00:00Z"},
    {"AWS:SOURCEIP": "192.0.2.1"},
    {"aws:SourceIp": None},
    {"aws:sourceip": None},
    {"example:n": 5, "example:f": 1.5, "example:b": False, "example:l": ["a", 2, True], "example:t": NOW},
    {"example:Color": "red", "EXAMPLE:COLOR": "blue"},
    {"aws:SourceIp": "192.0.2.9", "aws:sourceip": "192.0.2.8"},
    {"aws:sourceip": "192.0.2.8", "aws:SourceIp": "192.0.2.9"},
    {"aws:PrincipalTag/team": "green", "aws:principaltag/TEAM": None},
]


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[policy.Request]:
    seen: list[policy.Request] = []
    real = policy.evaluate

    def spy(request: policy.Request, pset: policy.PolicySet) -> policy.Decision:
        seen.append(request)
        return real(request, pset)

    monkeypatch.setattr(policy, "evaluate", spy)
    return seen


@pytest.mark.parametrize("extra", CONTEXTS)
@pytest.mark.parametrize("secure", [True, False])
def test_decide_normalized_evaluates_the_general_context(world: World, monkeypatch: pytest.MonkeyPatch,
                                                         extra: dict[str, Any] | None, secure: bool) -> None:
    world.run("TagRole", RoleName="app", Tags=[{"Key": "team", "Value": "red"}])
    creds = world.assume(Tags=[{"Key": "Env", "Value": "blue"}])
    principal = world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING).principal
    assert principal is not None
    prepared = world.authorizer.prepare(principal)
    assert prepared.exact
    for now in (world.clock.now(), world.clock.now() + timedelta(microseconds=1234)):
        call = CallContext(request_id="", now=now, principal=principal, source_ip="10.0.0.1", user_agent="ua/1",
                           secure_transport=secure, region="eu-west-1")
        seen = _spy(monkeypatch)
        general = PolicyAuthorizer.decide(world.authorizer, call, principal, "example:GetThing", THING, extra)
        fast = world.authorizer.decide_normalized(prepared, principal, "example:GetThing", THING, extra, now,
                                                  "10.0.0.1", "ua/1", secure, "eu-west-1")
        monkeypatch.undo()
        assert seen[1].ctx == seen[0].ctx
        assert seen[1].action_key == seen[0].action_key and seen[1].resource == seen[0].resource
        assert fast == general


def test_colliding_prepared_keys_take_the_general_merge(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = world.assume()
    principal = world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING).principal
    assert principal is not None
    from dataclasses import replace

    odd = replace(principal, federated_provider="idp", federated_keys={"aws:SourceIp": "1.2.3.4", "x:sub": "s"})
    prepared = world.authorizer.prepare(odd)
    assert not prepared.exact
    call = CallContext(request_id="", now=world.clock.now(), principal=odd, source_ip="10.0.0.1")
    seen = _spy(monkeypatch)
    PolicyAuthorizer.decide(world.authorizer, call, odd, "example:GetThing", THING, None)
    world.authorizer.decide_normalized(prepared, odd, "example:GetThing", THING, None, call.now, "10.0.0.1", "",
                                       False, "us-east-1")
    assert seen[1].ctx == seen[0].ctx


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1960, 1, 1), max_value=datetime(2200, 1, 1)),
       st.sampled_from([UTC, timezone(timedelta(hours=2)), None]))
def test_time_keys_are_the_normalised_clock(when: datetime, zone: Any) -> None:
    now = when.replace(tzinfo=zone)
    expected = normalize_context({"aws:CurrentTime": now, "aws:EpochTime": str(int(now.timestamp()))})
    assert time_keys(now) == (expected["aws:currenttime"], expected["aws:epochtime"])
    assert time_keys(now) == (expected["aws:currenttime"], expected["aws:epochtime"])  # memoised second


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), st.one_of(
    st.text(max_size=5), st.booleans(), st.integers(), st.lists(st.text(max_size=3), max_size=3)), max_size=6))
def test_request_from_normalized_equals_request(context: dict[str, Any]) -> None:
    ctx = normalize_context(context)
    general = policy.Request("Example:GetThing", THING, ctx)
    fast = policy.Request.from_normalized("Example:GetThing", THING, dict(ctx))
    assert (fast.action, fast.resource, fast.ctx, fast.action_key, fast.principal, fast.resource_account) == (
        general.action, general.resource, general.ctx, general.action_key, general.principal,
        general.resource_account)
    assert fast == general


def test_authz_result_equals_the_dataclass_constructor(world: World) -> None:
    from broker.pdp.result import AuthzResult, authz_result
    from broker.policy import MatchedStatement

    principal = world.pdp.authorize_sigv4(world.signed(world.assume()), "example:GetThing", THING).principal
    matched = (MatchedStatement("p", "s", "/Statement/0", "Allow", "identity"),)
    for args in [("Allow", principal, matched, (), "r", ""), ("ImplicitDeny", None, (), ("k",), "", "User: x")]:
        fast = authz_result(*args)  # type: ignore[arg-type]
        general = AuthzResult(args[0], args[1], args[2], args[3], args[4], None, args[5])  # type: ignore[arg-type]
        assert fast == general and repr(fast) == repr(general) and fast.allowed == general.allowed
        assert fast.to_json() == general.to_json()


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from("AZaz09+/-_= \t\n\x0b\x0c\r\x1c\x85\xa0\u2028"), max_size=24))
def test_an_openable_token_is_its_own_trimall(text: str) -> None:
    """``token_opened``: whatever the codec's strict base64 decoding accepts, Trimall leaves unchanged."""
    import binascii

    from broker.credentials.session_token import _b64decode

    try:
        _b64decode(text)
    except (binascii.Error, ValueError):
        return
    assert " ".join(text.split()) == text


def test_usual_signature_with_an_opened_token_equals_the_general_signature(world: World) -> None:
    for extra in ([], [("X-Pad", "  a   b ")], [("Content-Type", "application/json")]):
        creds = world.assume()
        request = world.signed(creds, body=b"x")
        request = sign(SignedRequest.build(request.method, request.path, "", [("Host", "svc.example"), *extra],
                                           b"x"), creds["AccessKeyId"], creds["SecretAccessKey"], "us-east-1",
                       "example", world.clock.now(), session_token=creds["SessionToken"])
        usual = parse_usual(request)
        assert usual is not None and usual[9] == creds["SessionToken"] and "x-amz-security-token" in usual[5]
        world.authenticator.open_token(usual[0], usual[9], world.clock.now())  # what _usual does first
        mac = signer(derive_signing_key(creds["SecretAccessKey"], usual[1], usual[2], usual[3]))
        expected = expected_signature(request, parse(request), creds["SecretAccessKey"], normalize_path=True)[1]
        assert usual_signature(request, usual, mac, token_opened=True) == expected == usual[6]
        assert usual_signature(request, usual, mac) == expected


def test_signer_is_hmac_sha256() -> None:
    key = derive_signing_key(SECRET, "20260101", "us-east-1", "example")
    mac = signer(key)
    for message in (b"", b"AWS4-HMAC-SHA256\n20260101T120000Z\n", bytes(range(256))):
        copy = mac.copy()
        copy.update(message)
        assert copy.hexdigest() == hmac.new(key, message, "sha256").hexdigest()
