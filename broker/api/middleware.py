"""ASGI middleware: authenticate and authorize every request to a service with broker's PDP, locally.

::

    from broker.api.middleware import PdpMiddleware, Target
    from broker.pdp import open_local_pdp

    def route(method: str, path: str) -> Target | None:       # None: public, not checked
        if path.startswith("/things/"):
            return Target("example:GetThing" if method == "GET" else "example:PutThing",
                          f"arn:aws:example:::thing/{path.rsplit('/', 1)[-1]}")
        return None

    local = open_local_pdp(Settings())
    app.add_middleware(PdpMiddleware, pdp=local.pdp, resolve=route, service="example")

For each HTTP request whose ``resolve(method, path)`` is a :class:`Target`:

* ``Authorization: Bearer …`` is verified as a broker access token (``aud`` must contain
  ``audience``); anything else is verified as SigV4 (header or presigned query) scoped to ``service``.
  The body is read (at most ``max_body_bytes``) to check the payload hash SigV4 signs, then replayed
  to the application unchanged.
* The decision uses the request's facts as global condition keys (``aws:SourceIp`` from the client
  address, ``aws:SecureTransport`` from the scheme, ``aws:UserAgent``) plus ``Target.context``.
* Allowed: the request goes on with ``scope["state"]["principal"]`` (a :class:`~broker.principal.Principal`,
  ``request.state.principal`` in Starlette/FastAPI) and ``scope["state"]["authz"]`` (the
  :class:`~broker.pdp.AuthzResult`).
* Denied: ``403`` (or the status of the authentication error: ``IncompleteSignature`` and
  ``RequestExpired`` are 400) with an AWS-style JSON body ``{"Error": {"Code", "Message"}, "RequestId"}``;
  ``AccessDenied`` carries AWS's "User: … is not authorized to perform: … on resource: …" message. The
  application is not called.

Decisions for ``ASIA…`` keys and bearer tokens need no I/O and run on the event loop; others (``AKIA…``
keys are looked up in the store) run in a worker thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread

from broker.credentials.sigv4 import SignedRequest
from broker.pdp import AuthzResult, PolicyDecisionPoint, RequestFacts
from broker.policy import ContextValue

__all__ = ["PdpMiddleware", "Resolver", "Target"]

ASGIApp = Callable[[dict[str, Any], Callable[[], Any], Callable[[dict[str, Any]], Any]], Any]


@dataclass(frozen=True)
class Target:
    """What a request asks to do: the IAM action, the resource ARN and extra condition keys."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)


Resolver = Callable[[str, str], "Target | None"]


class PdpMiddleware:
    """Pure ASGI middleware (no Starlette base class): see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        pdp: PolicyDecisionPoint,
        resolve: Resolver,
        service: str | None = None,
        audience: str | None = None,
        max_body_bytes: int = 1024 * 1024,
    ) -> None:
        self.app = app
        self.pdp = pdp
        self.resolve = resolve
        self.service = service
        self.audience = audience
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Any], send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        target = self.resolve(scope["method"], scope["path"])
        if target is None:
            await self.app(scope, receive, send)
            return
        body, too_large = await self._read_body(receive)
        if too_large:
            await _deny(send, self.pdp, 413, "RequestEntityTooLarge",
                        f"Request body must be at most {self.max_body_bytes} bytes")
            return
        request = SignedRequest.build(
            method=scope["method"],
            path=(scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
            body=body,
        )
        client = scope.get("client")
        agents = request.header_values("user-agent")
        facts = RequestFacts(
            source_ip=client[0] if client else "",
            user_agent=agents[0] if agents else "",
            secure_transport=scope.get("scheme") in ("https", "wss"),
        )
        result = await self._decide(request, target, facts)
        if not result.allowed:
            if result.error is not None:
                await _deny(send, self.pdp, result.error.status, result.error.code, result.error.message)
            else:
                await _deny(send, self.pdp, 403, "AccessDenied", result.denial)
            return
        state = scope.setdefault("state", {})
        state["principal"] = result.principal
        state["authz"] = result
        await self.app(scope, _replay(body, receive), send)

    async def _decide(self, request: SignedRequest, target: Target, facts: RequestFacts) -> AuthzResult:
        authorization = request.header_values("authorization")
        if authorization and authorization[0][:7].lower() == "bearer ":
            audiences = [self.audience] if self.audience else []
            return self.pdp.authorize_bearer(
                authorization[0][7:].strip(), target.action, target.resource, context=target.context, facts=facts,
                audiences=audiences,
            )

        def decide() -> AuthzResult:
            return self.pdp.authorize_sigv4(
                request, target.action, target.resource, context=target.context, facts=facts, service=self.service
            )

        sealed = bool(authorization) and "Credential=ASIA" in authorization[0]
        if sealed or "X-Amz-Credential=ASIA" in request.query:
            return decide()
        return await anyio.to_thread.run_sync(decide)

    async def _read_body(self, receive: Callable[[], Any]) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return b"", True
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), False


def _replay(body: bytes, receive: Callable[[], Any]) -> Callable[[], Any]:
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        message: dict[str, Any] = await receive()
        return message

    return replay


async def _deny(send: Callable[..., Any], pdp: PolicyDecisionPoint, status: int, code: str, message: str) -> None:
    rid = pdp.request_id()
    payload = json.dumps({"Error": {"Code": code, "Message": message}, "RequestId": rid}).encode("utf-8")
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode("ascii")),
            (b"x-amzn-requestid", rid.encode("ascii")),
        ],
    })
    await send({"type": "http.response.body", "body": payload})
