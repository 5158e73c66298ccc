"""The admin API: revocation, root-only, SigV4-signed like the Query API.

Routes (JSON in, JSON out)::

    POST /admin/revocations   {"scope": "role", "role_name": "R"}
                              {"scope": "session", "session_id": "S"}
                              {"scope": "subject", "provider": "ARN-or-IdP", "subject": "sub"}
                              {"scope": "provider", "provider": "ARN-or-IdP"}
        → 200 {"revocation": {"scope", "value", "not_before", "change"}}
    GET  /admin/revocations   → 200 {"revocations": [...], "change": N}

Requests are signed with SigV4 for the service name ``broker`` (any region), by the root user's
access key; any other principal gets ``403 AccessDenied``. Errors are
``{"Error": {"Code", "Message"}, "RequestId"}`` with the error's HTTP status. Each call runs in one
store transaction and leaves one audit event, through a :class:`~broker.service.dispatch.Dispatcher`
of its own. After a revocation commits, this node's :class:`RevocationSet` is refreshed at once; other
nodes learn of it through ``NOTIFY`` or their next poll.

Wiring (``create_app``)::

    # build_broker: one set per node, consulted by the ASIA verifier
    revocations = revocation_set_for(store)
    Authenticator(..., revocations=ClaimsRevocations(revocations))
    # create_app: the router, and start/stop with the app's lifespan
    install_admin(app, broker, revocations)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from broker.credentials.sigv4 import SignedRequest
from broker.errors import AccessDenied, BrokerError, RequestEntityTooLarge, ValidationError
from broker.ids import request_id
from broker.principal import CallContext
from broker.service import revocation as rv
from broker.service.audit import build_event
from broker.service.dispatch import Dispatcher
from broker.service.env import OpEnv, OpFunc
from broker.service.ports import Store
from broker.service.revocation_set import REVOCATIONS_CHANNEL, RevocationSet
from broker.store.sqlalchemy.notify import listener_for
from broker.store.sqlalchemy.repositories.security import RevocationRecord

if TYPE_CHECKING:
    from broker.api.app import Broker

__all__ = ["ADMIN_SERVICE", "OPERATIONS", "install_admin", "revocation_set_for", "router"]

ADMIN_SERVICE = "broker"
"""The SigV4 service name admin requests are signed for."""
_MAX_BODY = 16 * 1024

router = APIRouter(prefix="/admin")


def _shape(record: RevocationRecord) -> dict[str, Any]:
    return {
        "scope": record.scope_kind,
        "value": record.scope_value,
        "not_before": record.not_before.isoformat().replace("+00:00", "Z"),
        "change": record.change,
    }


def _text(params: Mapping[str, Any], member: str) -> str:
    value = params.get(member)
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{member} is required and must be a non-empty string.")
    return value


def _revoke(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    scope = params.get("scope")
    if scope == "role":
        record = rv.revoke_role_sessions(env, _text(params, "role_name"))
    elif scope == "session":
        record = rv.revoke_session(env, _text(params, "session_id"))
    elif scope == "subject":
        record = rv.revoke_subject(env, _text(params, "provider"), _text(params, "subject"))
    elif scope == "provider":
        record = rv.revoke_provider(env, _text(params, "provider"))
    else:
        raise ValidationError("scope must be one of role, session, subject, provider.", detail=f"scope={scope!r}")
    return {"revocation": _shape(record)}


def _list(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    records = rv.list_revocations(env)
    return {"revocations": [_shape(r) for r in records], "change": max((r.change for r in records), default=0)}


OPERATIONS: dict[str, OpFunc] = {"RevokeSessions": _revoke, "ListRevocations": _list}


def _dispatcher(broker: Broker) -> Dispatcher:
    inner = broker.dispatcher
    return Dispatcher(
        store=broker.store,
        operations=OPERATIONS,
        authorizer=inner.authorizer,
        arns=broker.arns,
        entropy=broker.entropy,
        envelope=broker.envelope,
        audit=build_event,
    )


def _error(error: BrokerError, rid: str) -> JSONResponse:
    body = {"Error": {"Code": error.code, "Message": error.message}, "RequestId": rid}
    return JSONResponse(body, status_code=error.status, headers={"x-amzn-RequestId": rid})


async def _handle(request: Request, action: str) -> JSONResponse:
    broker: Broker = request.app.state.broker
    admin: Dispatcher = request.app.state.admin_dispatcher
    revocations: RevocationSet = request.app.state.revocations
    rid = request_id(broker.entropy)
    now = broker.clock.now()
    call = CallContext(request_id=rid, now=now, source_ip=request.client.host if request.client else "")
    params: dict[str, Any] = {}
    try:
        body = await request.body()
        if len(body) > _MAX_BODY:
            raise RequestEntityTooLarge(f"Request body must be at most {_MAX_BODY} bytes")
        scope = request.scope
        signed = SignedRequest.build(
            method=request.method,
            path=(scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
            body=body,
        )
        auth = broker.authenticator.parse(signed)
        principal = await run_in_threadpool(
            broker.authenticator.authenticate, signed, auth, service=ADMIN_SERVICE, now=now
        )
        call = CallContext(request_id=rid, now=now, principal=principal, source_ip=call.source_ip, region=auth.region)
        if not principal.is_root:
            raise AccessDenied(
                f"User: {principal.arn} is not authorized to perform: {ADMIN_SERVICE}:{action}: "
                "the admin API is for the root user only"
            )
        if body:
            try:
                loaded = json.loads(body)
            except ValueError as exc:
                raise ValidationError("The request body is not valid JSON.") from exc
            if not isinstance(loaded, dict):
                raise ValidationError("The request body must be a JSON object.")
            params = loaded
    except BrokerError as error:
        admin.record_refusal(call, ADMIN_SERVICE, action, params, error)
        return _error(error, rid)
    try:
        result = await run_in_threadpool(admin.run, call, ADMIN_SERVICE, action, params)
    except BrokerError as error:  # audited by the dispatcher
        return _error(error, rid)
    if action == "RevokeSessions":
        await run_in_threadpool(revocations.refresh)
    return JSONResponse(dict(result), headers={"x-amzn-RequestId": rid})


@router.post("/revocations")
async def revoke(request: Request) -> JSONResponse:
    return await _handle(request, "RevokeSessions")


@router.get("/revocations")
async def list_revocations(request: Request) -> JSONResponse:
    return await _handle(request, "ListRevocations")


def revocation_set_for(store: Store, *, poll_seconds: float = 1.0) -> RevocationSet:
    """A node's revocation set over ``store``: LISTEN/NOTIFY on PostgreSQL, polling every ``poll_seconds``.

    It keeps its own real clock for the poll schedule (a test's fixed clock would stop polling).
    """
    engine = getattr(store, "engine", None)
    listener = listener_for(engine, REVOCATIONS_CHANNEL) if engine is not None else None
    return RevocationSet(store, listener=listener, poll_seconds=poll_seconds)


def install_admin(app: FastAPI, broker: Broker, revocations: RevocationSet) -> None:
    """Mount the admin router and run ``revocations`` for the lifetime of ``app``."""
    app.state.revocations = revocations
    app.state.admin_dispatcher = _dispatcher(broker)
    app.include_router(router)
    previous = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(inner: FastAPI) -> AsyncIterator[Any]:
        await run_in_threadpool(revocations.start)
        try:
            async with previous(inner) as state:
                yield state
        finally:
            await run_in_threadpool(revocations.stop)

    app.router.lifespan_context = lifespan
