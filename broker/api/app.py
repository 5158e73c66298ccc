"""The FastAPI application: one ``create_app`` wires every part; no module-level singletons.

Routes are thin (STYLE.md habit 10): decode the protocol, call one service function, render.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.types import ASGIApp, Receive, Scope, Send

from broker.api.admin import install_admin, revocation_set_for
from broker.api.authorize import AUTHORIZE_PATH, AuthorizeEndpoint, install_authorize
from broker.api.body import read_limited
from broker.api.errors import render_error
from broker.api.oauth import install_oauth
from broker.api.query.codec import service_for
from broker.api.query.decode import decode_input
from broker.api.query.encode import encode_output
from broker.api.query.form import parse_form
from broker.api.query.model import Operation, lookup
from broker.api.web.oidc import install_oidc_login
from broker.api.web.saml import install_saml
from broker.api.wellknown import install_wellknown
from broker.arn import ArnFactory
from broker.bootstrap import load_master_key, open_store
from broker.clock import Clock, SystemClock
from broker.config import Settings
from broker.credentials.envelope import Envelope
from broker.credentials.sigv4 import SignedRequest
from broker.errors import BrokerError, InternalFailure
from broker.federation.oidc.jwks import JwksCache
from broker.federation.saml.config import sp_config
from broker.ids import Entropy, SystemEntropy, request_id
from broker.pdp.policies import CachingAuthorizer
from broker.principal import CallContext, Principal
from broker.service.audit import LoggingAuditSink, build_event
from broker.service.audit_writer import AuditWriter
from broker.service.authn import Authenticator
from broker.service.dispatch import Dispatcher
from broker.service.keyring import KeyringService
from broker.service.lookup_cache import NODE_STALENESS_SECONDS
from broker.service.oidc_keys import JwksHealthCollector, build_web_identity, registered_issuers
from broker.service.operations import all_operations
from broker.service.ports import Authorizer, Store
from broker.service.revocation_set import ClaimsRevocations, RevocationSet
from broker.service.saml_exchange import saml_subject_type
from broker.service.saml_session import SamlSp
from broker.service.saml_sp_keys import StoreSpKeys
from broker.service.token_exchange import SAML2, default_subject_types
from broker.service.web_identity import WebIdentityServices

__all__ = ["Broker", "BrokerApp", "create_app"]

_log = logging.getLogger("broker.api")


@dataclass
class Broker:
    """Everything one running broker holds; reachable as ``app.state.broker``."""

    settings: Settings
    clock: Clock
    entropy: Entropy
    store: Store
    arns: ArnFactory
    envelope: Envelope
    authenticator: Authenticator
    dispatcher: Dispatcher
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    keyring: KeyringService | None = None
    web_identity: WebIdentityServices | None = None
    jwks: JwksCache | None = None
    revocations: RevocationSet | None = None
    saml_sp: SamlSp | None = None
    saml_keys: StoreSpKeys | None = None


def build_broker(
    settings: Settings,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    entropy: Entropy | None = None,
    authorizer: Authorizer | None = None,
) -> Broker:
    clock = clock or SystemClock()
    entropy = entropy or SystemEntropy()
    store = store or open_store(settings)
    arns = ArnFactory(account=settings.account_id, partition=settings.partition)
    envelope = Envelope(load_master_key(settings, entropy), entropy)
    keyring = KeyringService(store, envelope, clock, entropy)
    keyring.ensure()  # first start creates the keys; later starts load them
    web_identity, jwks = build_web_identity(settings, clock, keyring)
    # a running node reuses the change counters it read for up to a second, so AssumeRoleWithWebIdentity can
    # answer from its caches without a transaction (docs/compatibility.md); this node's own changes expire
    # them at once (the on_iam_change hook below)
    web_identity.lookups.max_staleness = NODE_STALENESS_SECONDS
    revocations = revocation_set_for(store)
    saml_config = sp_config(settings.effective_public_url, clock_skew_seconds=settings.clock_skew_seconds)
    # the SP key pair lives in the store's keyring (one for every node), created or migrated from an older
    # node's file on first use
    saml_keys = StoreSpKeys(store, envelope, clock, entropy, entity_id=saml_config.entity_id,
                            legacy_home=settings.home)
    saml_sp = SamlSp.build(saml_config, keyring.codec, saml_keys,
                           response_signed_providers=settings.saml_response_signed_provider_names)
    registry = CollectorRegistry()
    registry.register(JwksHealthCollector(jwks))
    return Broker(
        settings=settings,
        clock=clock,
        entropy=entropy,
        store=store,
        arns=arns,
        envelope=envelope,
        authenticator=Authenticator(
            store=store, envelope=envelope, arns=arns, skew_seconds=settings.sigv4_skew_seconds, keyring=keyring,
            revocations=ClaimsRevocations(revocations),
        ),
        dispatcher=Dispatcher(
            store=store,
            operations=all_operations(
                allow_http_issuers=settings.allow_http_issuers, keyring=keyring, web_identity=web_identity,
                saml=saml_sp, refuse_unpinned_trust=settings.refuse_unpinned_trust,
            ),
            authorizer=authorizer or CachingAuthorizer(store),
            arns=arns,
            entropy=entropy,
            envelope=envelope,
            audit=build_event,
            sinks=(LoggingAuditSink(),),
            on_iam_change=(web_identity.lookups.expire,),
            writer=AuditWriter(store),
        ),
        registry=registry,
        requests=Counter(
            "broker_requests", "API requests by action and result code", ["action", "code"], registry=registry
        ),
        latency=Histogram("broker_request_seconds", "API request latency", ["service"], registry=registry),
        keyring=keyring,
        revocations=revocations,
        saml_sp=saml_sp,
        saml_keys=saml_keys,
        web_identity=web_identity,
        jwks=jwks,
    )


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    entropy: Entropy | None = None,
    authorizer: Authorizer | None = None,
) -> FastAPI:
    broker = build_broker(settings, clock=clock, store=store, entropy=entropy, authorizer=authorizer)
    app = BrokerApp(title="broker", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.broker = broker
    if broker.dispatcher.writer is not None:  # queued audit events are stored before the process ends
        app.router.on_shutdown.append(broker.dispatcher.writer.close)
    if broker.keyring is not None:  # the keyring refresher follows rotations made by other nodes
        app.router.on_startup.append(broker.keyring.start)
        app.router.on_shutdown.append(broker.keyring.stop)
    if broker.jwks is not None:  # issuers down at start-up are retried in the background
        jwks = broker.jwks
        app.router.on_startup.append(lambda: jwks.start(lambda: registered_issuers(broker.store)))
        app.router.on_shutdown.append(jwks.stop)
    if broker.revocations is not None:  # revocations made on any node reach this one within about a second
        install_admin(app, broker, broker.revocations)
    install_authorize(app, broker)  # POST /v1/authorize (SPEC.md §3.3)
    install_wellknown(app)  # the broker's own discovery document and JWKS (SPEC.md §3.2)
    # GET /saml/metadata, /saml/login, POST /saml/acs, /saml/role (SPEC.md §3.4). SP keys: the keyring's
    # saml-sp key (broker/service/saml_sp_keys.py): metadata certificates, AuthnRequest signing, decryption.
    saml_sp = install_saml(app, broker, keys=broker.saml_keys)
    exchange_types = {**default_subject_types(broker.web_identity), SAML2: saml_subject_type(saml_sp)}
    install_oauth(app, broker, types=exchange_types)  # POST /oauth2/token (RFC 8693): OIDC and SAML subjects
    if broker.web_identity is not None:  # GET /oidc/login, /oidc/callback, POST /oidc/session (SPEC.md §3.4)
        install_oidc_login(app, broker, broker.web_identity)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> JSONResponse:
        try:
            with broker.store.transaction() as tx:
                tx.iam.counts()
        except Exception as exc:  # the store is down: not ready, and say which part
            return JSONResponse({"status": "unavailable", "store": type(exc).__name__}, status_code=503)
        detail: dict[str, Any] = {"status": "ok", "store": "ok"}
        if broker.jwks is not None:  # per-issuer key health; a degraded IdP does not make the node unready
            detail["oidc"] = broker.jwks.health()
        return JSONResponse(detail)

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(broker.registry), media_type=CONTENT_TYPE_LATEST)

    @app.api_route("/", methods=["GET", "POST"])
    async def query_api(request: Request) -> Response:
        return await _query(broker, request)

    app.add_middleware(QueryEndpoint, broker=broker)  # outermost: the Query API skips the router (issue 5)
    return app


class BrokerApp(FastAPI):
    """broker's FastAPI application: ``POST /v1/authorize`` is answered before the app's own middleware.

    FastAPI puts three layers in front of every route (``ServerErrorMiddleware``, exception telemetry, a body
    limit) and checks per request whether OpenTelemetry is configured; the authorization hot path gets
    what they give it without running them (issue 4, docs/performance.md): its errors are JSON answers
    (:meth:`AuthorizeEndpoint.answer_first` keeps the 500 of ``ServerErrorMiddleware``), its 64 KiB
    limit is its own, and it takes the whole stack as before whenever a layer would act: OpenTelemetry
    configured (FastAPI's native telemetry then traces it), a body limit on the app or from a parent
    app, an installed 500 handler, debug mode, or any middleware other than broker's two.
    """

    _authorize_first: AuthorizeEndpoint | None = None
    _telemetry_seen: tuple[object, ...] | None = None
    _telemetry_on = True

    def _telemetry_enabled(self) -> bool:
        """``self._native_telemetry.enabled()``, asked again only when something it reads has changed.

        It reads the app's telemetry settings, OpenTelemetry's three global providers and, while a provider
        is unset, the ``OTEL_PYTHON_*_PROVIDER`` variable naming one; asking costs three failed
        ``os.environ`` lookups per request (a ``KeyError`` each, ~30,000 instructions), comparing them a
        few dictionary reads. Without the hooks (another OpenTelemetry or Python) it is asked every time.
        """
        if _telemetry_inputs is None:
            return self._native_telemetry.enabled()
        seen = _telemetry_inputs(self._native_telemetry.config)
        if seen != self._telemetry_seen:
            self._telemetry_on = self._native_telemetry.enabled()
            self._telemetry_seen = _telemetry_inputs(self._native_telemetry.config)  # enabled() may set a provider
        return self._telemetry_on

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        self._authorize_first = None
        classes: list[Any] = [m.cls for m in self.user_middleware]
        if (
            classes.count(AuthorizeEndpoint) == 1 and all(c in (QueryEndpoint, AuthorizeEndpoint) for c in classes)
            and not self.debug and self.max_body_size is None
            and 500 not in self.exception_handlers and Exception not in self.exception_handlers
        ):
            layer = self.user_middleware[classes.index(AuthorizeEndpoint)]
            options: dict[str, Any] = dict(layer.kwargs)
            self._authorize_first = AuthorizeEndpoint(self.router, *layer.args, **options)
        return stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == AUTHORIZE_PATH and scope["method"] == "POST":
            if self.middleware_stack is None:
                self.middleware_stack = self.build_middleware_stack()
            first = self._authorize_first
            if (
                first is not None and MAX_BODY_SIZE_SCOPE_KEY not in scope and "fastapi.telemetry" not in scope
                and not self._telemetry_enabled()
            ):
                if self.root_path:
                    scope["root_path"] = self.root_path
                scope["app"] = self
                await first.answer_first(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _otel_hooks() -> Callable[[Mapping[str, Any]], tuple[object, ...]] | None:
    """What ``NativeTelemetry.enabled()`` reads, as one tuple (``None`` where the hooks are not there)."""
    try:
        import opentelemetry._logs._internal as logs
        import opentelemetry.metrics._internal as metrics
        import opentelemetry.trace as trace

        t, m, lg = vars(trace), vars(metrics), vars(logs)  # the modules' live globals
        environ: dict[Any, Any] = vars(os.environ)["_data"]  # what ``name in os.environ`` looks up
        encode: Callable[[str], Any] = vars(os.environ)["encodekey"]
        k1, k2, k3 = (encode(t["OTEL_PYTHON_TRACER_PROVIDER"]), encode(m["OTEL_PYTHON_METER_PROVIDER"]),
                      encode(lg["_OTEL_PYTHON_LOGGER_PROVIDER"]))
        for module, name in ((t, "_TRACER_PROVIDER"), (m, "_METER_PROVIDER"), (lg, "_LOGGER_PROVIDER")):
            module[name]  # a KeyError: another OpenTelemetry
    except (ImportError, KeyError):  # pragma: no cover - another OpenTelemetry or Python
        return None
    get = environ.get

    def inputs(config: Mapping[str, Any]) -> tuple[object, ...]:
        return (t["_TRACER_PROVIDER"], m["_METER_PROVIDER"], lg["_LOGGER_PROVIDER"], get(k1), get(k2), get(k3),
                config["tracing"], config["metrics"], config["logs"], config["tracer_provider"],
                config["meter_provider"], config["logger_provider"])

    return inputs


_telemetry_inputs = _otel_hooks()


class QueryEndpoint:
    """ASGI layer answering the Query API (``GET``/``POST /``) itself; every other request goes to ``app``.

    The same :func:`_query` the mounted route runs, without route matching over every other route and the
    exception and exit-stack layers in front of it (``_query`` turns every exception into an AWS error
    itself). The route stays mounted and answers identically (``405`` for other methods comes from it).
    """

    def __init__(self, app: ASGIApp, *, broker: Broker) -> None:
        self.app = app
        self.broker = broker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/" or scope["method"] not in ("GET", "POST"):
            await self.app(scope, receive, send)
            return
        response = await _query(self.broker, Request(scope, receive))
        await response(scope, receive, send)


def _signed_request(request: Request, body: bytes) -> SignedRequest:
    scope = request.scope
    raw_path = scope.get("raw_path") or scope["path"].encode()
    return SignedRequest.build(
        method=request.method,
        path=raw_path.decode("latin-1"),
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]],
        body=body,
    )


async def _query(broker: Broker, request: Request) -> Response:
    started = time.perf_counter()
    rid = request_id(broker.entropy)
    now = broker.clock.now()
    call = CallContext(
        request_id=rid,
        now=now,
        source_ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
        secure_transport=request.scope.get("scheme") == "https",
    )
    op: Operation | None = None
    params: dict[str, Any] = {}
    form: dict[str, str] = {}
    dispatched = False  # once the dispatcher runs, it audits its own refusals
    try:
        body = await read_limited(request, broker.settings.max_body_bytes)
        form = parse_form(
            body, request.scope.get("query_string", b""), request.headers.get("content-type"),
            max_bytes=broker.settings.max_body_bytes,
        )
        op = lookup(form.get("Action"), form.get("Version"))
        principal: Principal | None = None
        region = "us-east-1"
        if not op.unsigned:
            signed = _signed_request(request, body)
            auth = broker.authenticator.parse(signed)
            region = auth.region
            principal = await run_in_threadpool(
                broker.authenticator.authenticate, signed, auth, service=op.service, now=now
            )
        call = CallContext(
            request_id=rid, now=now, principal=principal, source_ip=call.source_ip, user_agent=call.user_agent,
            secure_transport=call.secure_transport, region=region,
        )
        params = decode_input(op, form)
        if not broker.dispatcher.supports(op.name):
            raise _unsupported(op)
        dispatched = True
        result = await broker.dispatcher.run_async(call, op.service, op.name, params)
        dispatched = False
        payload = encode_output(op, result, rid)
        broker.requests.labels(op.name, "OK").inc()
        return Response(payload, media_type="text/xml", headers={"x-amzn-RequestId": rid})
    except BrokerError as error:
        return await _refuse(broker, call, op, params, error, audited=dispatched, form=form)
    except Exception as exc:
        _log.exception("request %s failed", rid)
        failure = InternalFailure("An internal error occurred. Please retry your request.", detail=repr(exc))
        return await _refuse(broker, call, op, params, failure, audited=dispatched, form=form)
    finally:
        broker.latency.labels(op.service if op else "unknown").observe(time.perf_counter() - started)


def _unsupported(op: Operation) -> BrokerError:
    from broker.errors import InvalidAction

    return InvalidAction(f"Could not find operation {op.name} for version {op.version}: broker does not implement it")


async def _refuse(
    broker: Broker,
    call: CallContext,
    op: Operation | None,
    params: dict[str, Any],
    error: BrokerError,
    *,
    audited: bool,
    form: dict[str, str],
) -> Response:
    # The dispatcher already audited errors raised inside an operation; everything refused before
    # (authentication, decoding, validation) is audited here, so every request leaves one event (through
    # the audit writer or the thread pool: the event loop never waits on the store).
    service = op.service if op else service_for(form or {})
    if not audited:
        action = op.name if op else "Unknown"
        await broker.dispatcher.record_refusal_async(call, service, action, params, error)
    broker.requests.labels(op.name if op else "Unknown", error.code).inc()
    status, body = render_error(error, call.request_id, service=service)
    return Response(body, status_code=status, media_type="text/xml", headers={"x-amzn-RequestId": call.request_id})
