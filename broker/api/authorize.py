"""``POST /v1/authorize``: another service asks broker to decide a request made with broker credentials.

SPEC.md §3.3. The body is the JSON question of :mod:`broker.pdp.wire` (the described request's method,
path, query, headers and body hash for SigV4, or its bearer token and audience; the action, the resource
ARN and extra context); the answer is :meth:`broker.pdp.AuthzResult.to_json` with HTTP 200, whatever the
decision. The described request failing authentication is an ``ImplicitDeny`` decision carrying the
AWS error, not an error of this call.

Who may ask: the call itself is SigV4-signed for the service name ``broker`` (any region) by a principal
allowed ``broker:Authorize`` on the resource asked about (the root user may always ask). So a service's
role can be limited to questions about its own resources::

    {"Effect": "Allow", "Action": "broker:Authorize", "Resource": "arn:aws:example:::thing/*"}

Errors of the call are ``{"Error": {"Code", "Message"}, "RequestId"}`` with the error's HTTP status:
``MissingAuthenticationToken``/``IncompleteSignature``/``SignatureDoesNotMatch``/``InvalidClientTokenId``/
``ExpiredToken`` for the caller's own signature, ``AccessDenied`` (403) without ``broker:Authorize``,
``ValidationError`` (400) for a bad question, ``RequestEntityTooLarge`` (413) past 64 KiB.

Decisions are not written to the audit store (a store write per decision would make the PDP as slow as
the store); every refused call (authentication, ``AccessDenied``, bad input) leaves one audit event, like
any refused Query API call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from broker.credentials.sigv4 import SignedRequest
from broker.credentials.sigv4.fast import signed_request
from broker.errors import AccessDenied, BrokerError, InternalFailure, RequestEntityTooLarge, ValidationError
from broker.ids import Entropy
from broker.pdp import (
    AuthzResult,
    BearerVerifier,
    CachingAuthorizer,
    PolicyDecisionPoint,
    PolicyRefresher,
    RequestFacts,
    principal_json,
)
from broker.pdp.wire import MAX_BODY_BYTES, AuthorizeQuestion, parse_question
from broker.principal import CallContext, Principal

if TYPE_CHECKING:
    from broker.api.app import Broker

__all__ = [
    "AUTHORIZE_ACTION", "AUTHORIZE_PATH", "AUTHORIZE_SERVICE", "AuthorizeEndpoint", "authorize", "install_authorize",
    "serve",
]

AUTHORIZE_SERVICE = "broker"
"""The SigV4 service name calls to ``/v1/authorize`` are signed for."""
AUTHORIZE_ACTION = "broker:Authorize"

_log = logging.getLogger("broker.api.authorize")
AUTHORIZE_PATH = "/v1/authorize"


def build_pdp(broker: Broker) -> tuple[PolicyDecisionPoint, PolicyRefresher | None]:
    """The node's own PDP: broker's authenticator, a caching authorizer and the keyring's JWT keys."""
    # One policy cache per node: the Query API's dispatcher and this PDP share it, and the dispatcher drops it
    # the moment an IAM change commits here; the refresher follows changes committed by other nodes.
    shared = broker.dispatcher.authorizer
    authorizer = shared if isinstance(shared, CachingAuthorizer) else CachingAuthorizer(broker.store)
    if authorizer.invalidate not in broker.dispatcher.on_iam_change:
        broker.dispatcher.on_iam_change.append(authorizer.invalidate)
    bearer = None
    refresher = None
    if broker.keyring is not None:
        keyring = broker.keyring
        issuer = broker.settings.effective_public_url  # what the token endpoint puts in ``iss``
        bearer = BearerVerifier(
            lambda: keyring.keyring, issuer=issuer, audiences=(), arns=broker.arns,
            skew_seconds=broker.settings.clock_skew_seconds, revocations=getattr(broker, "revocations", None),
        )
        # IAM edits are seen within policy_refresh_seconds (at once when IAM writes bump the counter).
        refresher = PolicyRefresher(broker.store, keyring, authorizer, broker.clock, poll_seconds=1.0,
                                    policy_refresh_seconds=60.0)
    pdp = PolicyDecisionPoint(
        authenticator=broker.authenticator, authorizer=authorizer, clock=broker.clock, bearer=bearer,
        entropy=broker.entropy,
    )
    return pdp, refresher


def install_authorize(app: FastAPI, broker: Broker) -> PolicyDecisionPoint:
    """Mount ``/v1/authorize`` with the node's PDP; its policy refresher runs with the app.

    ``POST /v1/authorize`` is answered by :class:`AuthorizeEndpoint`, a plain ASGI layer in front of the
    router: the hot path skips route matching over every other route, the exception and exit-stack
    layers and Starlette's request/response objects (docs/performance.md). The Starlette route stays
    mounted for everything else on that path (``405`` for other methods) and answers the same way.
    """
    pdp, refresher = build_pdp(broker)
    app.state.pdp = pdp
    if refresher is not None:
        app.router.on_startup.append(refresher.start)
        app.router.on_shutdown.append(refresher.stop)
    app.router.add_route(AUTHORIZE_PATH, authorize, methods=["POST"], include_in_schema=False)
    app.add_middleware(AuthorizeEndpoint, pdp=pdp, broker=broker)
    return pdp


class AuthorizeEndpoint:
    """ASGI layer serving ``POST /v1/authorize`` itself; every other request goes to ``app``."""

    def __init__(self, app: ASGIApp, *, pdp: PolicyDecisionPoint, broker: Broker | None = None) -> None:
        self.app = app
        self.pdp = pdp
        self.broker = broker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != AUTHORIZE_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await _read_body(scope, receive)
        status, headers, content = await serve(self.pdp, self.broker, scope, body)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def answer_first(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer ``POST /v1/authorize`` called *before* the app's own middleware (``BrokerApp``).

        What the skipped outermost layer (Starlette's ``ServerErrorMiddleware``) gives this route is kept: an
        exception escaping before the answer starts (reading the body) is answered ``500 InternalFailure``
        as JSON (its text only in the log), then raised on for the server to log, as that layer does; once
        the answer has started it is raised on alone. :func:`serve` answers every error of its own.
        """
        try:
            body = await _read_body(scope, receive)
            status, headers, content = await serve(self.pdp, self.broker, scope, body)
        except Exception:
            rid = fast_request_id(self.pdp.entropy)
            _log.exception("authorize request %s failed", rid)
            status, headers, content = _error(
                InternalFailure("An internal error occurred. Please retry your request."), rid)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": content})
            raise
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


class _TooLarge(Exception):
    pass


async def _read_body(scope: Scope, receive: Receive) -> bytes | _TooLarge:
    """The request body, or :class:`_TooLarge` as soon as it passes ``MAX_BODY_BYTES`` (declared or sent)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > MAX_BODY_BYTES:
            return _TooLarge()
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: nothing to answer
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return _TooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _error(error: BrokerError, rid: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = {"Error": {"Code": error.code, "Message": error.message}, "RequestId": rid}
    return error.status, *_json(body, rid)


def _json(body: dict[str, Any] | str, rid: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    # Starlette's JSONResponse rendering (compact, UTF-8), with its content-type and length.
    content = (body if isinstance(body, str) else _dumps(body)).encode("utf-8")
    headers = [(b"content-length", str(len(content)).encode("latin-1")), (b"content-type", b"application/json"),
               (b"x-amzn-requestid", rid.encode("latin-1"))]
    return headers, content


_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
_text: Callable[[str], str] = json.encoder.encode_basestring  # what _dumps writes for a str (TypeError for others)
_PRINCIPALS: dict[int, tuple[Principal, str]] = {}
_MAX_PRINCIPALS = 4096


def render(result: AuthzResult) -> str:
    """``_dumps(result.to_json())``, with the principal's part rendered once per principal object.

    The PDP keeps one :class:`~broker.principal.Principal` per session token, so a session's later
    answers reuse its rendered identity; the decision, statements, keys and reason are rendered per call.
    """
    principal = result.principal
    if principal is None:
        return _dumps(result.to_json())
    found = _PRINCIPALS.get(id(principal))
    if found is None or found[0] is not principal:
        found = (principal, _dumps(principal_json(principal)))
        if len(_PRINCIPALS) >= _MAX_PRINCIPALS:
            _PRINCIPALS.clear()
        _PRINCIPALS[id(principal)] = found
    try:
        statements = ",".join([
            f'{{"policy_id":{_text(m.policy_id)},"sid":{"null" if m.sid is None else _text(m.sid)},'
            f'"pointer":{_text(m.pointer)},"effect":{_text(m.effect)},"set":{_text(m.set)}}}'
            for m in result.matched_statements
        ])
        keys = ",".join([_text(k) for k in result.missing_context_keys])
        tail = f'"reason":{_text(result.reason)}'
        if result.error is not None:
            tail += f',"error":{{"Code":{_text(result.error.code)},"Message":{_text(result.error.message)}}}'
    except TypeError:  # a value that is not a str: the encoder's own rendering
        return _dumps(result.to_json())
    return (f'{{"decision":{_text(result.decision)},"principal":{found[1]},"matched_statements":[{statements}],'
            f'"missing_context_keys":[{keys}],{tail}}}')


def fast_request_id(entropy: Entropy) -> str:
    """:func:`broker.ids.request_id` (a version-4 UUID from 16 entropy bytes) without ``uuid.UUID``'s checks."""
    raw = bytearray(entropy.token_bytes(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _signed(scope: Scope, body: bytes) -> SignedRequest:
    return signed_request(
        scope["method"],
        (scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
        scope.get("query_string", b"").decode("latin-1"),
        [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
        body,
    )


def _sealed_only(signed: SignedRequest, body: bytes) -> bool:
    """Scheduling hint only (never a security decision): the caller signs with an ``ASIA`` key and the
    question names an ``ASIA`` key or a bearer token, so no store I/O is expected: decide on the event loop."""
    auth = signed.header_tuple("authorization")
    caller = bool(auth) and "Credential=ASIA" in auth[0]
    return caller and (b"Credential=ASIA" in body or b'"bearer_token"' in body)


_decode = json.JSONDecoder().decode  # json.loads' own decoder, with its defaults


def loads(body: bytes) -> Any:
    """``json.loads(body)``; a body starting ``{`` and another byte than NUL is one ``json.detect_encoding``
    reads as UTF-8 (no BOM, not UTF-16/32), so it is decoded as ``loads`` would without asking."""
    if body[:1] == b"{" and body[1:2] != b"\x00":
        return _decode(body.decode("utf-8", "surrogatepass"))
    return json.loads(body)


def _question(body: bytes) -> AuthorizeQuestion:
    try:
        decoded = loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError("The request body is not valid JSON.") from exc
    return parse_question(decoded)


class _Seen:
    """What the handler learnt before a refusal, for its audit event."""

    __slots__ = ("params", "principal")

    def __init__(self) -> None:
        self.principal: Principal | None = None
        self.params: dict[str, Any] = {}


def _answer(pdp: PolicyDecisionPoint, signed: SignedRequest, body: bytes, seen: _Seen) -> str:
    now = pdp.clock.now()
    caller = pdp.authenticate(signed, now=now, service=AUTHORIZE_SERVICE)  # the caller first, before reading
    seen.principal = caller.principal
    question = _question(body)
    seen.params = {"action": question.action, "resource": question.resource}
    allowed = pdp.decide_for(caller, AUTHORIZE_ACTION, question.resource, now=now)
    if not allowed.allowed:
        raise AccessDenied(allowed.denial, detail=allowed.reason)
    facts = RequestFacts(source_ip=question.source_ip, secure_transport=question.secure_transport)
    if question.request is not None:
        agents = question.request.header_tuple("user-agent")
        facts.user_agent = agents[0] if agents else ""
        result = pdp.authorize_sigv4(
            question.request, question.action, question.resource, context=question.context, now=now, facts=facts,
            service=question.service,
        )
    else:
        assert question.bearer_token is not None and question.audience is not None
        result = pdp.authorize_bearer(
            question.bearer_token, question.action, question.resource, context=question.context, now=now,
            facts=facts, audiences=[question.audience],
        )
    return render(result)


async def serve(
    pdp: PolicyDecisionPoint, broker: Broker | None, scope: Scope, body: bytes | _TooLarge
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, headers, body) of the answer to one ``POST /v1/authorize``."""
    rid = pdp.request_id()
    seen = _Seen()
    try:
        if isinstance(body, _TooLarge):
            raise RequestEntityTooLarge(f"Request body must be at most {MAX_BODY_BYTES} bytes")
        signed = _signed(scope, body)
        if _sealed_only(signed, body):
            answer = _answer(pdp, signed, body, seen)
        else:
            answer = await run_in_threadpool(_answer, pdp, signed, body, seen)
    except BrokerError as error:
        return await _refuse(broker, scope, rid, seen, error)
    except Exception as exc:
        _log.exception("authorize request %s failed", rid)
        failure = InternalFailure("An internal error occurred. Please retry your request.", detail=repr(exc))
        return await _refuse(broker, scope, rid, seen, failure)
    return 200, *_json(answer, rid)


async def authorize(request: Request) -> Response:
    """The Starlette route (what :class:`AuthorizeEndpoint` answers in front of the router)."""
    pdp: PolicyDecisionPoint = request.app.state.pdp
    declared = request.headers.get("content-length")
    body: bytes | _TooLarge
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        body = _TooLarge()
    else:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            body = _TooLarge()
    status, headers, content = await serve(pdp, getattr(request.app.state, "broker", None), request.scope, body)
    return Response(content, status_code=status, headers={k.decode(): v.decode() for k, v in headers})


async def _refuse(
    broker: Broker | None, scope: Scope, rid: str, seen: _Seen, error: BrokerError
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """A refused call leaves one audit event (the store and the sinks), then gets its JSON error."""
    if broker is not None:
        client = scope.get("client")
        agent = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"user-agent"), "")
        call = CallContext(
            request_id=rid, now=broker.clock.now(), principal=seen.principal,
            source_ip=client[0] if client else "", user_agent=agent,
        )
        await run_in_threadpool(broker.dispatcher.record_refusal, call, AUTHORIZE_SERVICE, "Authorize", seen.params,
                                error)
    return _error(error, rid)
