"""``POST /oauth2/token``: OAuth 2.0 Token Exchange (RFC 8693, SPEC.md §3.2).

Thin router (STYLE.md habit 10): decode the RFC 6749 form, run :func:`broker.service.token_exchange.exchange`
through a dispatcher of its own (one transaction, one audit event per request, refusals included), render JSON.

Protocol rules applied here:

- RFC 6749 §3.2 (https://www.rfc-editor.org/rfc/rfc6749#section-3.2): ``POST`` with
  ``application/x-www-form-urlencoded``; "Parameters sent without a value MUST be treated as if they were
  omitted"; "Request and response parameters MUST NOT be included more than once"; unknown parameters ignored.
  RFC 8693 §2.1 allows ``audience`` and ``resource`` more than once; broker needs exactly one role, so a second
  role is ``invalid_target``.
- RFC 6749 §5.1: success is ``200`` JSON with ``Cache-Control: no-store`` and ``Pragma: no-cache``.
- RFC 6749 §5.2 and RFC 8693 §2.2.2 (https://www.rfc-editor.org/rfc/rfc8693#section-2.2.2): an invalid,
  expired or policy-refused ``subject_token`` is ``invalid_request``; a target the server will not issue for
  (unknown role, trust policy says no) is ``invalid_target``; a wrong ``grant_type`` is
  ``unsupported_grant_type``. Every refusal is a 4xx: the member ``aws_error_code`` carries broker's AWS code
  (``ExpiredTokenException``, ``InvalidIdentityToken``, ``AccessDenied`` …) so a client can tell "fetch a fresh
  token" from "not allowed".

Client authentication is not used (broker registers no OAuth clients; RFC 8693 §2.1 leaves it optional);
``client_id`` is only copied into issued access tokens. Documented in docs/token-exchange.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import regex
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from broker.api.body import read_limited
from broker.api.errors import oauth_error
from broker.errors import (
    AccessDenied,
    BrokerError,
    InvalidParameterValue,
    NoSuchEntity,
    RequestEntityTooLarge,
    ValidationError,
)
from broker.ids import request_id
from broker.principal import CallContext
from broker.service.audit import build_event
from broker.service.dispatch import Dispatcher
from broker.service.env import OpEnv, OpFunc
from broker.service.token_exchange import (
    AWS_CREDENTIALS,
    GRANT_TYPE,
    AccessTokenIssuer,
    ExchangeRequest,
    SubjectTokenType,
    default_subject_types,
    exchange,
)
from broker.service.web_identity import WebIdentityServices

if TYPE_CHECKING:
    from broker.api.app import Broker

__all__ = ["ACTION", "MAX_BODY", "install_oauth", "parse_token_request", "router"]

ACTION = "TokenExchange"
SERVICE = "sts"
MAX_BODY = 256 * 1024
_MULTI = frozenset({"audience", "resource", "scope"})
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_NOT_DESCRIPTION = regex.compile(r"[^\x20\x21\x23-\x5B\x5D-\x7E]")

router = APIRouter()


class OAuthRefusal(ValidationError):
    """A refusal decided by the protocol layer, with its RFC 6749 error code."""

    def __init__(self, oauth_code: str, message: str, *, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.oauth_code = oauth_code


def _single(form: Mapping[str, list[str]], name: str) -> str | None:
    values = form.get(name, [])
    if len(values) > 1:
        raise OAuthRefusal("invalid_request", f"parameter {name} must not be included more than once")
    return values[0] if values else None


def _role_target(form: Mapping[str, list[str]]) -> str:
    audiences = form.get("audience", [])
    scopes = [s for value in form.get("scope", []) for s in value.split(" ") if s]
    role_scopes = [s for s in scopes if s.startswith("arn:")]
    if len(audiences) > 1 or len(role_scopes) > 1:
        raise OAuthRefusal("invalid_target", "exactly one role ARN may be requested")
    if audiences and role_scopes and audiences[0] != role_scopes[0]:
        raise OAuthRefusal("invalid_target", "audience and scope name different roles")
    target = audiences[0] if audiences else role_scopes[0] if role_scopes else None
    if target is None:
        code = "invalid_scope" if scopes else "invalid_request"
        raise OAuthRefusal(code, "audience (or scope) must name the role ARN to assume")
    return target


def parse_token_request(body: bytes, content_type: str | None) -> ExchangeRequest:
    """Decode and check the RFC 6749/8693 form; raise :class:`OAuthRefusal` with the right code."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise OAuthRefusal("invalid_request", "the request must be application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=False, strict_parsing=False,
                          max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        raise OAuthRefusal("invalid_request", "the request body is not a valid UTF-8 form") from None
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    for name, values in form.items():
        if name not in _MULTI and len(values) > 1:
            raise OAuthRefusal("invalid_request", f"parameter {name} must not be included more than once")
    grant_type = _single(form, "grant_type")
    if grant_type is None:
        raise OAuthRefusal("invalid_request", "grant_type is required")
    if grant_type != GRANT_TYPE:
        raise OAuthRefusal("unsupported_grant_type", f"grant_type must be {GRANT_TYPE}")
    token = _single(form, "subject_token")
    token_type = _single(form, "subject_token_type")
    if token is None or token_type is None:
        raise OAuthRefusal("invalid_request", "subject_token and subject_token_type are required")
    if _single(form, "actor_token") is not None:
        raise OAuthRefusal("invalid_request", "actor_token (delegation) is not supported")
    resources = form.get("resource", [])
    if len(resources) > 1:
        raise OAuthRefusal("invalid_target", "at most one resource may be requested")
    duration_text = _single(form, "duration_seconds")
    duration: int | None = None
    if duration_text is not None:
        if not duration_text.isdigit() or len(duration_text) > 6:
            raise OAuthRefusal("invalid_request", "duration_seconds must be a whole number of seconds")
        duration = int(duration_text)
    return ExchangeRequest(
        subject_token=token,
        subject_token_type=token_type,
        role_arn=_role_target(form),
        requested_token_type=_single(form, "requested_token_type") or AWS_CREDENTIALS,
        session_name=_single(form, "role_session_name"),
        duration_seconds=duration,
        resource=resources[0] if resources else None,
        client_id=_single(form, "client_id"),
    )


def _oauth_code(error: BrokerError) -> str:
    if isinstance(error, OAuthRefusal):
        return error.oauth_code
    if isinstance(error, AccessDenied | InvalidParameterValue | NoSuchEntity):
        return "invalid_target"
    return "invalid_request"


def _description(message: str) -> str:
    return _NOT_DESCRIPTION.sub("?", message)[:400]


def _error_response(error: BrokerError, rid: str) -> JSONResponse:
    headers = {**_NO_STORE, "x-amzn-RequestId": rid}
    if not error.sender_fault:  # our fault, not the caller's: say so honestly, without detail
        return JSONResponse({"error": "server_error", "error_description": "internal error; retry later"},
                            status_code=500, headers=headers)
    status, body = oauth_error(_oauth_code(error), _description(error.message))
    payload: dict[str, Any] = dict(body)
    if not isinstance(error, OAuthRefusal):
        payload["aws_error_code"] = error.code
    return JSONResponse(payload, status_code=status, headers=headers)


def _operation(types: Mapping[str, SubjectTokenType], issuer: AccessTokenIssuer) -> OpFunc:
    def token_exchange(env: OpEnv, params: Mapping[str, Any]) -> Mapping[str, Any]:
        request: ExchangeRequest = params["_request"]
        result = exchange(env, request, types=types, issuer=issuer)
        return {"_response": result.response(), **result.audit_shape()}

    return token_exchange


def _audit_params(request: ExchangeRequest | None) -> dict[str, Any]:
    if request is None:
        return {}
    return {
        "subject_token": request.subject_token,  # redacted by the audit builder, like WebIdentityToken
        "subject_token_type": request.subject_token_type,
        "audience": request.role_arn,
        "requested_token_type": request.requested_token_type,
        "role_session_name": request.session_name,
        "duration_seconds": request.duration_seconds,
        "resource": request.resource,
        "client_id": request.client_id,
    }


def _audit(call: CallContext, service: str, action: str, params: Mapping[str, Any],
           result: Mapping[str, Any] | None, error: BrokerError | None) -> dict[str, Any]:
    shown = {k: v for k, v in params.items() if not k.startswith("_")}
    if "_request" in params:
        shown = _audit_params(params["_request"])
    kept = {k: v for k, v in result.items() if not k.startswith("_")} if result else None
    return build_event(call, service, action, shown, kept, error)


@router.post("/oauth2/token")
async def token(request: Request) -> JSONResponse:
    broker: Broker = request.app.state.broker
    dispatcher: Dispatcher = request.app.state.oauth_dispatcher
    rid = request_id(broker.entropy)
    call = CallContext(
        request_id=rid,
        now=broker.clock.now(),
        source_ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
        secure_transport=request.url.scheme == "https",
    )
    parsed: ExchangeRequest | None = None
    try:
        body = await read_limited(request, MAX_BODY)
        parsed = parse_token_request(body, request.headers.get("content-type"))
    except BrokerError as error:
        if isinstance(error, RequestEntityTooLarge):
            error = OAuthRefusal("invalid_request", error.message)
        await run_in_threadpool(dispatcher.record_refusal, call, SERVICE, ACTION, _audit_params(parsed), error)
        broker.requests.labels(ACTION, error.code).inc()
        return _error_response(error, rid)
    try:
        result = await run_in_threadpool(dispatcher.run, call, SERVICE, ACTION, {"_request": parsed})
    except BrokerError as error:  # the dispatcher audited it
        broker.requests.labels(ACTION, error.code).inc()
        return _error_response(error, rid)
    broker.requests.labels(ACTION, "OK").inc()
    return JSONResponse(result["_response"], headers={**_NO_STORE, "x-amzn-RequestId": rid})


def install_oauth(
    app: FastAPI,
    broker: Broker,
    *,
    web_identity: WebIdentityServices | None = None,
    extra_types: Iterable[SubjectTokenType] = (),
    types: Mapping[str, SubjectTokenType] | None = None,
) -> None:
    """Mount ``POST /oauth2/token`` with its own audited dispatcher over ``broker``'s store.

    ``types`` (tests) replaces the table; by default it is :func:`default_subject_types` over ``web_identity``
    (OIDC ID tokens) plus ``extra_types`` (e.g. the SAML 2.0 row). The table is kept as
    ``app.state.oauth_subject_types`` for the discovery document.
    """
    if broker.keyring is None:
        raise RuntimeError("token exchange needs the keyring (JWT signing keys)")
    issuer = AccessTokenIssuer(broker.keyring, broker.settings.effective_public_url)
    table = dict(types) if types is not None else default_subject_types(web_identity, extra_types)
    app.state.oauth_subject_types = table
    app.state.oauth_dispatcher = Dispatcher(
        store=broker.store,
        operations={ACTION: _operation(table, issuer)},
        authorizer=broker.dispatcher.authorizer,
        arns=broker.arns,
        entropy=broker.entropy,
        envelope=broker.envelope,
        audit=_audit,
        sinks=broker.dispatcher.sinks,
    )
    app.include_router(router)
