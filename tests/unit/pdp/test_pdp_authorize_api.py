"""POST /v1/authorize through the real app: who may ask, the answer's shape, bad input as JSON errors."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from broker.api.app import create_app
from broker.config import Settings
from broker.credentials.sigv4 import SignedRequest, sign
from broker.principal import Principal
from tests.unit.pdp.conftest import ACCOUNT, AsgiClient, World, doc

SVC_ROLE = f"arn:aws:iam::{ACCOUNT}:role/svc"
THING = "arn:aws:example:::thing/1"


@pytest.fixture
def api(world: World, tmp_path: Path) -> Iterator[AsgiClient]:
    world.run("CreateRole", RoleName="svc", AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}))
    world.run("PutRolePolicy", RoleName="svc", PolicyName="ask", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "broker:Authorize", "Resource": "arn:aws:example:::thing/*"}))
    settings = Settings(home=tmp_path / "home", account_id=ACCOUNT,
                        master_key=SecretStr(base64.b64encode(bytes(range(32))).decode()))
    app = create_app(settings, clock=world.clock, store=world.store, entropy=world.entropy)
    yield AsgiClient(app, base_url="http://broker.test")


def _svc_creds(world: World) -> dict[str, Any]:
    bob = world.run("GetUser", UserName="bob")["User"]
    who = Principal(kind="user", arn=bob["Arn"], account=ACCOUNT, user_id=bob["UserId"], name="bob",
                    identity_arn=bob["Arn"])
    creds: dict[str, Any] = world.run("AssumeRole", who, RoleArn=SVC_ROLE, RoleSessionName="svc")["Credentials"]
    return creds


def _ask(world: World, api: AsgiClient, question: Any, creds: dict[str, Any] | None,
         service: str = "broker") -> Any:
    body = question if isinstance(question, bytes) else json.dumps(question).encode()
    headers = [("Host", "broker.test"), ("Content-Type", "application/json")]
    request = SignedRequest.build("POST", "/v1/authorize", "", headers, body)
    if creds is not None:
        request = sign(request, creds["AccessKeyId"], creds["SecretAccessKey"], "us-east-1", service,
                       world.clock.now(), session_token=creds.get("SessionToken"))
    return api.post("/v1/authorize", content=body, headers=dict(request.headers))


def _described(world: World, creds: dict[str, Any], body: bytes = b"") -> dict[str, Any]:
    signed = world.signed(creds, method="POST", body=body)
    return {
        "method": signed.method, "path": signed.path, "query": signed.query,
        "headers": [list(h) for h in signed.headers], "body_sha256": hashlib.sha256(body).hexdigest(),
    }


def test_allow_answer(world: World, api: AsgiClient) -> None:
    app_creds = world.assume()
    question = {"action": "example:GetThing", "resource": THING, "request": _described(world, app_creds, b"x=1"),
                "service": "example", "source_ip": "10.0.0.1", "secure_transport": True}
    response = _ask(world, api, question, _svc_creds(world))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["decision"] == "Allow"
    assert answer["principal"]["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s1"
    assert [(m["sid"], m["effect"], m["set"]) for m in answer["matched_statements"]] == [
        ("ReadThings", "Allow", "identity")
    ]
    assert answer["missing_context_keys"] == []


def test_deny_and_authentication_failure_are_decisions(world: World, api: AsgiClient) -> None:
    app_creds, svc = world.assume(), _svc_creds(world)
    secret = _ask(world, api, {"action": "example:GetThing", "resource": "arn:aws:example:::thing/secret",
                               "request": _described(world, app_creds)}, svc).json()
    assert secret["decision"] == "ExplicitDeny"
    assert [m["sid"] for m in secret["matched_statements"]] == ["NoSecrets"]
    forged = dict(app_creds, SecretAccessKey="y" * 40)
    failed = _ask(world, api, {"action": "example:GetThing", "resource": THING,
                               "request": _described(world, forged)}, svc)
    assert failed.status_code == 200
    assert failed.json()["decision"] == "ImplicitDeny"
    assert failed.json()["principal"] is None
    assert failed.json()["error"]["Code"] == "SignatureDoesNotMatch"
    put = _ask(world, api, {"action": "example:PutThing", "resource": THING,
                            "request": _described(world, app_creds)}, svc).json()
    assert put["decision"] == "ImplicitDeny"
    assert put["missing_context_keys"] == ["example:color"]


def test_caller_needs_broker_authorize_on_the_resource(world: World, api: AsgiClient) -> None:
    app_creds, svc = world.assume(), _svc_creds(world)
    other = _ask(world, api, {"action": "example:GetThing", "resource": "arn:aws:other:::x",
                              "request": _described(world, app_creds)}, svc)
    assert other.status_code == 403
    assert other.json()["Error"]["Code"] == "AccessDenied"
    assert "broker:Authorize on resource: arn:aws:other:::x" in other.json()["Error"]["Message"]
    as_app = _ask(world, api, {"action": "example:GetThing", "resource": THING,
                               "request": _described(world, app_creds)}, app_creds)
    assert as_app.status_code == 403
    unsigned = _ask(world, api, {"action": "example:GetThing", "resource": THING}, None)
    assert unsigned.status_code == 403
    assert unsigned.json()["Error"]["Code"] == "MissingAuthenticationToken"
    wrong_service = _ask(world, api, {"action": "example:GetThing", "resource": THING,
                                      "request": _described(world, app_creds)}, svc, service="sts")
    assert wrong_service.status_code == 403
    assert wrong_service.json()["Error"]["Code"] == "SignatureDoesNotMatch"


def test_bad_input_is_a_validation_error(world: World, api: AsgiClient) -> None:
    svc = _svc_creds(world)
    response = _ask(world, api, {"action": "nope", "resource": "bucket", "context": {"k": {"x": 1}}}, svc)
    assert response.status_code == 400
    error = response.json()["Error"]
    assert error["Code"] == "ValidationError"
    assert error["Message"] == (
        "4 validation errors detected: 'action' must be 'service:ActionName'. 'resource' must be an ARN or '*' "
        "(at most 2048 characters). 'context.k' must be a string, number, boolean or a list of them. One of "
        "'request' (SigV4) or 'bearer_token' is required."
    )
    not_json = _ask(world, api, b"{oops", svc)
    assert not_json.status_code == 400
    assert not_json.json()["Error"]["Message"] == "The request body is not valid JSON."
    bad_hash = _ask(world, api, {"action": "example:GetThing", "resource": THING,
                                 "request": dict(_described(world, world.assume()), body_sha256="abc")}, svc)
    assert bad_hash.status_code == 400
    assert "body_sha256" in bad_hash.json()["Error"]["Message"]
    bearer = _ask(world, api, {"action": "example:GetThing", "resource": THING, "bearer_token": "x"}, svc)
    assert bearer.status_code == 400
    assert "'audience'" in bearer.json()["Error"]["Message"]


def test_oversized_body(world: World, api: AsgiClient) -> None:
    response = _ask(world, api, b"{" + b" " * 70_000 + b"}", _svc_creds(world))
    assert response.status_code == 413
    assert response.json()["Error"]["Code"] == "RequestEntityTooLarge"


def test_refused_calls_are_audited(world: World, api: AsgiClient) -> None:
    app_creds, svc = world.assume(), _svc_creds(world)
    refused = _ask(world, api, {"action": "example:GetThing", "resource": "arn:aws:other:::x",
                                "request": _described(world, app_creds)}, svc)
    unsigned = _ask(world, api, {"action": "example:GetThing", "resource": THING}, None)
    allowed = _ask(world, api, {"action": "example:GetThing", "resource": THING,
                                "request": _described(world, app_creds)}, svc)
    with world.store.transaction() as tx:
        events = tx.audit.list(event_name="Authorize")
    by_request = {e["requestID"]: e for e in events}
    denied = by_request[refused.headers["x-amzn-requestid"]]
    assert denied["errorCode"] == "AccessDenied"
    assert denied["userIdentity"]["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/svc/svc"
    assert denied["requestParameters"] == {"action": "example:GetThing", "resource": "arn:aws:other:::x"}
    assert by_request[unsigned.headers["x-amzn-requestid"]]["errorCode"] == "MissingAuthenticationToken"
    assert allowed.headers["x-amzn-requestid"] not in by_request  # decisions are not written to the store


def _raw_call(app: Any, body_chunks: list[bytes], headers: list[tuple[bytes, bytes]], method: str = "POST") -> Any:
    """One ASGI call with the body sent in ``body_chunks``: (status, headers, body)."""
    import asyncio

    messages = [{"type": "http.request", "body": c, "more_body": i < len(body_chunks) - 1}
                for i, c in enumerate(body_chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": "/v1/authorize", "raw_path": b"/v1/authorize", "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 1234), "server": ("broker.test", 80)}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body


def _signed_headers(world: World, body: bytes, creds: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    request = sign(SignedRequest.build("POST", "/v1/authorize", "", [("Host", "broker.test"),
                                                                     ("Content-Type", "application/json")], body),
                   creds["AccessKeyId"], creds["SecretAccessKey"], "us-east-1", "broker", world.clock.now(),
                   session_token=creds.get("SessionToken"))
    return [(k.lower().encode(), v.encode()) for k, v in request.headers]


def test_the_asgi_layer_answers_like_the_route(world: World, api: AsgiClient) -> None:
    from starlette.applications import Starlette

    from broker.api.authorize import AUTHORIZE_PATH, authorize

    app_creds, svc = world.assume(), _svc_creds(world)
    route_only = Starlette()
    route_only.state.pdp = api.app.state.pdp
    route_only.router.add_route(AUTHORIZE_PATH, authorize, methods=["POST"])
    questions = [
        {"action": "example:GetThing", "resource": THING, "request": _described(world, app_creds)},
        {"action": "example:PutThing", "resource": THING, "request": _described(world, app_creds),
         "context": {"example:color": "red"}, "source_ip": "10.0.0.1", "secure_transport": True},
        {"action": "example:GetThing", "resource": "arn:aws:other:::x", "request": _described(world, app_creds)},
        {"action": "example:GetThing"},
    ]
    for question in questions:
        body = json.dumps(question).encode()
        headers = _signed_headers(world, body, svc)
        layer = _raw_call(api.app, [body[:10], body[10:]], headers)  # the body in two chunks
        route = _raw_call(route_only, [body], headers)
        assert layer[0] == route[0]
        assert json.loads(layer[2]) | {"RequestId": None} == json.loads(route[2]) | {"RequestId": None}
        assert layer[1][b"content-type"] == route[1][b"content-type"] == b"application/json"
        assert int(layer[1][b"content-length"]) == len(layer[2])


def test_the_asgi_layer_refuses_oversized_bodies_while_reading(world: World, api: AsgiClient) -> None:
    svc = _svc_creds(world)
    chunks = [b"{" + b" " * 40_000, b" " * 40_000 + b"}"]  # no content-length: counted as it arrives
    status, _, body = _raw_call(api.app, chunks, _signed_headers(world, b"".join(chunks), svc))
    assert status == 413 and json.loads(body)["Error"]["Code"] == "RequestEntityTooLarge"
    declared = [(b"content-length", b"70000"), (b"host", b"broker.test")]
    status, _, body = _raw_call(api.app, [b"{}"], declared)
    assert status == 413


def test_other_methods_reach_the_route(world: World, api: AsgiClient) -> None:
    assert api.get("/v1/authorize").status_code == 405
    assert api.get("/healthz").status_code == 200


def test_render_is_the_json_of_the_answer(world: World) -> None:
    from broker.api.authorize import _dumps, render
    from broker.errors import InvalidClientTokenId
    from broker.pdp import AuthzResult
    from broker.policy import MatchedStatement

    creds = world.assume(Tags=[{"Key": "team", "Value": "blué"}], SourceIdentity="alice")
    principal = world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING).principal
    assert principal is not None
    matched = (MatchedStatement("p1", "S\"1", "/Statement/0", "Allow", "identity"),
               MatchedStatement("p2", None, "/Statement/1", "Deny", "session"))
    results = [
        AuthzResult("Allow", principal, matched[:1], (), "allowed"),
        AuthzResult("ExplicitDeny", principal, matched, ("aws:sourcevpc",), "denied \u2028 \"quoted\""),
        AuthzResult("ImplicitDeny", None, reason="no", error=InvalidClientTokenId("bad")),
        AuthzResult("ImplicitDeny", principal, reason="x", error=InvalidClientTokenId("bad ü")),
    ]
    for result in results * 2:  # the second time from the rendered-principal memo
        assert render(result) == _dumps(result.to_json())


def test_fast_request_id_is_the_uuid4_request_id() -> None:
    from broker.api.authorize import fast_request_id
    from broker.ids import request_id
    from tests.contract.conftest import SeededEntropy

    for seed in range(50):
        assert fast_request_id(SeededEntropy(seed)) == request_id(SeededEntropy(seed))


_TEXT = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(list('"\\\x00\x1f\u2028\ud800é')),
                max_size=8)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_TEXT, st.none() | _TEXT, _TEXT, _TEXT, _TEXT), max_size=3),
       st.lists(_TEXT, max_size=3), _TEXT, st.none() | st.tuples(_TEXT, _TEXT), st.booleans())
def test_render_is_the_json_of_any_answer(world: World, matched: list[tuple[Any, ...]], keys: list[str], reason: str,
                                          error: tuple[str, str] | None, with_principal: bool) -> None:
    from broker.api.authorize import _dumps, render
    from broker.errors import BrokerError
    from broker.pdp import AuthzResult
    from broker.policy import MatchedStatement

    principal = _principal(world) if with_principal else None
    failure = None
    if error is not None:
        failure = type("OddError", (BrokerError,), {"code": error[0]})(error[1])
    result = AuthzResult("ImplicitDeny", principal, tuple(MatchedStatement(*m) for m in matched), tuple(keys),
                         reason, failure)
    assert render(result) == _dumps(result.to_json())
    odd = AuthzResult("Allow", principal, (MatchedStatement(7, None, "/", "Allow", "identity"),), (), reason)  # type: ignore[arg-type]
    assert render(odd) == _dumps(odd.to_json())  # not a str: the encoder's own rendering


_PRINCIPALS: dict[int, Any] = {}


def _principal(world: World) -> Any:
    if id(world) not in _PRINCIPALS:
        _PRINCIPALS.clear()
        _PRINCIPALS[id(world)] = world.pdp.authorize_sigv4(world.signed(world.assume()), "example:GetThing",
                                                           THING).principal
    return _PRINCIPALS[id(world)]


@settings(max_examples=500, deadline=None)
@given(st.one_of(
    st.binary(max_size=12),
    st.builds(lambda b: b"{" + b, st.binary(max_size=12)),
    st.builds(lambda t: json.dumps(t, ensure_ascii=False).encode("utf-8"),
              st.dictionaries(_TEXT, _TEXT | st.integers() | st.floats(allow_nan=True), max_size=3)),
    st.builds(lambda t, enc: json.dumps(t).encode(enc), st.dictionaries(_TEXT, _TEXT, max_size=2),
              st.sampled_from(["utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])),
))
def test_loads_is_json_loads(body: bytes) -> None:
    from broker.api.authorize import loads

    def outcome(fn: Any) -> Any:
        try:
            return ("ok", json.dumps(fn(body), sort_keys=True))
        except (ValueError, UnicodeDecodeError) as exc:
            return ("error", type(exc))

    assert outcome(loads) == outcome(json.loads)


class _Bytes:
    """An entropy source handing out the bytes it was given, in order."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def token_bytes(self, n: int) -> bytes:
        out, self.data = self.data[:n], self.data[n:]
        assert len(out) == n
        return out


@settings(max_examples=50, deadline=None)
@given(st.binary(min_size=16 * 130, max_size=16 * 130), st.integers(1, 70))
def test_pooled_request_ids_are_request_ids_of_each_16_bytes(data: bytes, count: int) -> None:
    import uuid

    from broker.ids import request_id
    from broker.pdp import PolicyDecisionPoint
    from broker.pdp.point import request_ids

    chunks = [data[i:i + 16] for i in range(0, len(data), 16)]
    expected = [request_id(_Bytes(c)) for c in chunks]
    assert list(reversed(request_ids(_Bytes(data), count))) == expected[:count]
    pdp = PolicyDecisionPoint(authenticator=None, authorizer=None, clock=None, entropy=_Bytes(data))  # type: ignore[arg-type]
    drawn = [pdp.request_id() for _ in range(128)]  # two draws of 64
    assert drawn == expected[:128]
    assert all(uuid.UUID(rid).version == 4 and uuid.UUID(rid).variant == uuid.RFC_4122 for rid in drawn)


_QUESTION_VALUES = st.none() | st.booleans() | st.integers(-2, 2) | st.sampled_from(
    ["", "example:GetThing", "s3:*", THING, "*", "10.0.0.1", "example", "Bad Service", "tok"])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(["action", "resource", "context", "source_ip", "secure_transport", "service",
                                        "bearer_token", "audience"]), _QUESTION_VALUES),
       st.none() | st.fixed_dictionaries({
           "method": st.sampled_from(["GET", "get"]), "path": st.sampled_from(["/", "x"]),
           "headers": st.sampled_from([[["Host", "h"]], {"Host": "h"}, [["", "x"]]]),
           "body_sha256": st.sampled_from(["a" * 64, "A" * 64, "abc"])}),
       st.none() | st.dictionaries(st.sampled_from(["k", "K", ""]), _QUESTION_VALUES | st.lists(st.text(max_size=2))))
@example({"action": "example:GetThing", "resource": THING, "source_ip": "10.0.0.1", "secure_transport": True,
          "service": "example"}, {"method": "GET", "path": "/", "headers": [["Host", "h"]], "body_sha256": "A" * 64},
         {"k": ["a", "b"], "K": 1})
@example({"action": "s3:*", "resource": "*", "bearer_token": "tok", "audience": "example"}, None, None)
def test_parse_question_builds_the_dataclass(body: dict[str, Any], request: dict[str, Any] | None,
                                             context: dict[str, Any] | None) -> None:
    import dataclasses

    from broker.errors import ValidationError
    from broker.pdp.wire import AuthorizeQuestion, parse_question

    if request is not None:
        body["request"] = request
    if context is not None:
        body["context"] = context
    try:
        question = parse_question(body)
    except ValidationError:
        return
    rebuilt = AuthorizeQuestion(**{f.name: getattr(question, f.name) for f in dataclasses.fields(AuthorizeQuestion)})
    assert question == rebuilt and repr(question) == repr(rebuilt) and hash(question.action) == hash(rebuilt.action)
    assert type(question.action) is str and type(question.resource) is str and type(question.source_ip) is str
    assert type(question.secure_transport) is bool and type(question.context) is dict
    assert question.bearer_token is None or type(question.bearer_token) is str
    with pytest.raises(dataclasses.FrozenInstanceError):
        question.action = "x"  # type: ignore[misc]
