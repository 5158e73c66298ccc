"""``POST /v1/authorize`` answered before FastAPI's own middleware (``BrokerApp``): the same answers as the
whole stack, the guarantees of the layers it skips, and the cases where it must take the stack."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from broker.api.app import BrokerApp
from broker.api.authorize import AuthorizeEndpoint
from tests.unit.pdp.conftest import AsgiClient, World
from tests.unit.pdp.test_pdp_authorize_api import THING, _described, _raw_call, _signed_headers, _svc_creds
from tests.unit.pdp.test_pdp_authorize_api import api as api  # the fixture


class _Paths:
    """Counts which way each ``POST /v1/authorize`` went: the front door or the layer inside the stack."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.front = 0
        self.stack = 0
        first, layer = AuthorizeEndpoint.answer_first, AuthorizeEndpoint.__call__

        async def front(endpoint: AuthorizeEndpoint, scope: Any, receive: Any, send: Any) -> None:
            self.front += 1
            await first(endpoint, scope, receive, send)

        async def stack(endpoint: AuthorizeEndpoint, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] == "/v1/authorize" and scope["method"] == "POST":
                self.stack += 1
            await layer(endpoint, scope, receive, send)

        monkeypatch.setattr(AuthorizeEndpoint, "answer_first", front)
        monkeypatch.setattr(AuthorizeEndpoint, "__call__", stack)


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Paths]:
    yield _Paths(monkeypatch)


def _telemetry(app: Any, on: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """FastAPI's native telemetry on (a tracer provider in the app's telemetry settings) or off."""
    from opentelemetry.trace import NoOpTracerProvider

    monkeypatch.setitem(app._native_telemetry.config, "tracer_provider", NoOpTracerProvider() if on else None)
    assert app._native_telemetry.enabled() is on


def _questions(world: World) -> list[bytes]:
    app_creds = world.assume()
    forged = dict(app_creds, SecretAccessKey="y" * 40)
    questions: list[Any] = [
        {"action": "example:GetThing", "resource": THING, "request": _described(world, app_creds)},
        {"action": "example:PutThing", "resource": THING, "request": _described(world, app_creds, b"x=1"),
         "context": {"example:color": "red"}, "source_ip": "10.0.0.1", "secure_transport": True},
        {"action": "example:GetThing", "resource": "arn:aws:example:::thing/secret",
         "request": _described(world, app_creds)},
        {"action": "example:GetThing", "resource": THING, "request": _described(world, forged)},
        {"action": "example:GetThing", "resource": "arn:aws:other:::x", "request": _described(world, app_creds)},
        {"action": "nope", "resource": "bucket"},
    ]
    return [json.dumps(q).encode() for q in questions] + [b"{oops", b"[]", b"{" + b" " * 70_000 + b"}"]


def test_front_door_answers_like_the_whole_stack(world: World, api: AsgiClient, paths: _Paths,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(api.app, BrokerApp)
    svc = _svc_creds(world)
    for body in _questions(world):
        headers = _signed_headers(world, body, svc)
        _telemetry(api.app, False, monkeypatch)
        front = _raw_call(api.app, [body[:7], body[7:]], headers)
        _telemetry(api.app, True, monkeypatch)  # FastAPI's telemetry on: the whole stack, as before
        stack = _raw_call(api.app, [body], headers)
        assert front[0] == stack[0], body[:80]
        assert json.loads(front[2]) | {"RequestId": None} == json.loads(stack[2]) | {"RequestId": None}
        assert front[1].keys() == stack[1].keys() and front[1][b"content-type"] == b"application/json"
        assert int(front[1][b"content-length"]) == len(front[2])
        assert front[1][b"x-amzn-requestid"] != stack[1][b"x-amzn-requestid"]
    assert (paths.front, paths.stack) == (len(_questions(world)), len(_questions(world)))


def test_front_door_answers_unexpected_errors_as_json_500_without_leaking(
    world: World, api: AsgiClient, paths: _Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = _svc_creds(world)
    body = json.dumps({"action": "example:GetThing", "resource": THING,
                       "request": _described(world, world.assume())}).encode()
    headers = _signed_headers(world, body, svc)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret-detail-1234")

    monkeypatch.setattr(api.app.state.pdp, "authenticate", broken)
    status, sent_headers, content = _raw_call(api.app, [body], headers)
    assert status == 500
    assert json.loads(content)["Error"] == {"Code": "InternalFailure",
                                            "Message": "An internal error occurred. Please retry your request."}
    assert b"secret-detail" not in content
    assert sent_headers[b"x-amzn-requestid"].decode() == json.loads(content)["RequestId"]
    assert paths.front == 1


def test_front_door_answers_a_failing_receive_with_json_500_then_raises(
    world: World, api: AsgiClient, paths: _Paths
) -> None:
    """What ``ServerErrorMiddleware`` does for an exception escaping the app: answer 500, raise it on."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise RuntimeError("secret-detail-5678")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/v1/authorize", "raw_path": b"/v1/authorize", "query_string": b"",
             "root_path": "", "headers": [(b"host", b"broker.test")], "client": ("127.0.0.1", 1),
             "server": ("broker.test", 80)}
    with pytest.raises(RuntimeError, match="secret-detail-5678"):
        asyncio.run(api.app(scope, receive, send))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 500 and (b"content-type", b"application/json") in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["Error"]["Code"] == "InternalFailure"
    assert b"secret-detail" not in sent[1]["body"]
    assert paths.front == 1


def test_front_door_takes_the_stack_whenever_a_skipped_layer_would_act(
    world: World, api: AsgiClient, paths: _Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY

    svc = _svc_creds(world)
    body = json.dumps({"action": "example:GetThing", "resource": THING,
                       "request": _described(world, world.assume())}).encode()
    headers = _signed_headers(world, body, svc)
    assert _raw_call(api.app, [body], headers)[0] == 200
    assert (paths.front, paths.stack) == (1, 0)
    _telemetry(api.app, True, monkeypatch)
    assert _raw_call(api.app, [body], headers)[0] == 200
    assert (paths.front, paths.stack) == (1, 1)
    _telemetry(api.app, False, monkeypatch)

    async def call_with(scope_extra: dict[str, Any]) -> None:  # a parent app's body limit in the scope
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            pass

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v1/authorize", "raw_path": b"/v1/authorize", "query_string": b"",
                 "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("broker.test", 80),
                 **scope_extra}
        await api.app(scope, receive, send)

    asyncio.run(call_with({MAX_BODY_SIZE_SCOPE_KEY: 1_000_000}))
    assert (paths.front, paths.stack) == (1, 2)


@pytest.mark.parametrize("change", ["middleware", "handler", "debug", "max_body_size"])
def test_front_door_is_off_when_the_app_is_changed(world: World, api: AsgiClient, paths: _Paths,
                                                     change: str) -> None:
    seen: list[str] = []

    class Spy:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope.get("path", ""))
            await self.app(scope, receive, send)

    app = api.app
    if change == "middleware":
        app.add_middleware(Spy)
    elif change == "handler":
        app.add_exception_handler(500, lambda request, exc: None)
    elif change == "debug":
        app.debug = True
    else:
        app.max_body_size = 1_000_000
    body = json.dumps({"action": "example:GetThing", "resource": THING,
                       "request": _described(world, world.assume())}).encode()
    assert _raw_call(app, [body], _signed_headers(world, body, _svc_creds(world)))[0] == 200
    assert (paths.front, paths.stack) == (0, 1)
    assert seen == (["/v1/authorize"] if change == "middleware" else [])


def test_telemetry_is_asked_again_when_what_it_reads_changes(world: World, api: AsgiClient, paths: _Paths,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The front door's memo of ``enabled()``: a global provider set, the provider variable set, the settings."""
    import os

    import opentelemetry.trace as trace

    app = api.app
    body = json.dumps({"action": "example:GetThing", "resource": THING,
                       "request": _described(world, world.assume())}).encode()
    headers = _signed_headers(world, body, _svc_creds(world))

    def ask() -> tuple[int, int]:
        assert _raw_call(app, [body], headers)[0] == 200
        return paths.front, paths.stack

    assert ask() == (1, 0)
    with monkeypatch.context() as patch:  # a global tracer provider (what the OpenTelemetry SDK's setup does)
        patch.setattr(trace, "_TRACER_PROVIDER", trace.NoOpTracerProvider())
        assert app._native_telemetry.enabled()
        assert ask() == (1, 1)
    assert ask() == (2, 1)
    with monkeypatch.context() as patch:  # the app's own settings
        patch.setitem(app._native_telemetry.config, "tracer_provider", trace.NoOpTracerProvider())
        assert ask() == (2, 2)
    assert ask() == (3, 2)
    calls: list[bool] = []

    def enabled() -> bool:  # what get_*_provider() does while no provider is set: look at the environment
        calls.append(True)
        return "OTEL_PYTHON_TRACER_PROVIDER" in os.environ

    monkeypatch.setattr(app._native_telemetry, "enabled", enabled)
    monkeypatch.setattr(app, "_telemetry_seen", None)
    assert ask() == (4, 2) and ask() == (5, 2) and len(calls) == 1  # asked once, then remembered
    monkeypatch.setenv("OTEL_PYTHON_TRACER_PROVIDER", "sdk")  # (not served: no such provider to load)
    assert app._telemetry_enabled() is True and app._telemetry_enabled() is True and len(calls) == 2
    monkeypatch.delenv("OTEL_PYTHON_TRACER_PROVIDER")
    assert ask() == (6, 2) and len(calls) == 3
