"""Browser login with an OpenID Connect provider (SPEC.md §3.4): ``GET /oidc/login`` → the IdP →
``GET /oidc/callback`` → role picker → ``POST /oidc/session`` → credentials page.

1. ``/oidc/login?provider=ARN-or-name[&duration_seconds=N][&client_id=ID]``: the provider is one registered in IAM
   (ARN, issuer URL or ``HOST/PATH``); broker is a *public* client of it (``client_id`` is the provider's first
   client id unless one of the others is named) with PKCE S256, a fresh ``state`` and ``nonce`` (OpenID Connect
   Core 1.0 §3.1.2.1, §15.5.2; RFC 7636), redirect URI ``BROKER_PUBLIC_URL/oidc/callback``. The state, nonce and
   verifier travel in a sealed cookie (``cookies.py``) valid for 10 minutes.
2. ``/oidc/callback``: ``state`` must match (constant time, RFC 6749 §10.12), the code is exchanged with the
   verifier, the ID token goes through the same verification as AssumeRoleWithWebIdentity, its ``nonce`` must match
   (OIDC Core §3.1.3.7 step 11) and its ``aud`` must be the client id used. The page lists the roles whose trust
   policies admit the identity (``service/web_login.py``). The ID token and a CSRF token move into a second sealed
   cookie that lives no longer than the token.
3. ``POST /oidc/session``: CSRF checked (``csrf.py``); the chosen role's session is minted through the web-identity
   seam with the requested duration clamped to the role's maximum (the page says so), audited as
   ``AssumeRoleWithWebIdentity``.
4. ``POST /oidc/roles`` (for ``broker login``): ``subject_token`` → JSON list of the roles it may assume.

Refusals render an HTML page with a 4xx status (502 only when the IdP itself cannot be used); nothing is minted on
any of them.
"""

from __future__ import annotations

import hmac
import ssl
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from broker.api.body import read_limited
from broker.api.web.cookies import CookieSealer, LoginStateError, clear_cookie, set_cookie
from broker.api.web.csrf import CSRF_FIELD, CsrfError, check_csrf, new_csrf_token
from broker.api.web.oidc_client import OidcClient, OidcClientError
from broker.api.web.pages import (
    CredentialsView,
    RoleChoice,
    credentials_page,
    html_response,
    message_page,
    role_picker_page,
)
from broker.errors import BrokerError, InvalidParameterValue, RequestEntityTooLarge
from broker.ids import request_id
from broker.principal import CallContext
from broker.service.audit import build_event
from broker.service.dispatch import Dispatcher
from broker.service.env import OpEnv
from broker.service.web_identity import WebIdentityServices, verify_web_identity
from broker.service.web_login import admitted_roles, find_oidc_provider, login_session, session_name_for

if TYPE_CHECKING:
    from broker.api.app import Broker

__all__ = ["AUTH_COOKIE", "LOGIN_ACTION", "SESSION_COOKIE", "WebLogin", "install_oidc_login", "router"]

AUTH_COOKIE = "broker_oidc_auth"
SESSION_COOKIE = "broker_oidc_session"
AUTH_TTL = 600
SESSION_TTL = 900
MAX_FORM = 16 * 1024
LOGIN_ACTION = "AssumeRoleWithWebIdentity"

router = APIRouter()
T = TypeVar("T")


class WebLogin:
    """What the login routes share: the broker, the web-identity services, the cookie sealer and the IdP client."""

    def __init__(self, broker: Broker, services: WebIdentityServices, client: OidcClient) -> None:
        self.broker = broker
        self.services = services
        self.client = client
        self.sealer = CookieSealer(broker.envelope.master_key, broker.entropy)
        self.public_url = broker.settings.effective_public_url
        self.secure = self.public_url.startswith("https://")
        self.dispatcher = Dispatcher(
            store=broker.store,
            operations={LOGIN_ACTION: self._mint},
            authorizer=broker.dispatcher.authorizer,
            arns=broker.arns,
            entropy=broker.entropy,
            envelope=broker.envelope,
            audit=build_event,
            sinks=broker.dispatcher.sinks,
        )

    @property
    def redirect_uri(self) -> str:
        return self.public_url + "/oidc/callback"

    def call(self, request: Request) -> CallContext:
        return CallContext(
            request_id=request_id(self.broker.entropy),
            now=self.broker.clock.now(),
            source_ip=request.client.host if request.client else "",
            user_agent=request.headers.get("user-agent", ""),
            secure_transport=self.secure,
        )

    def read(self, call: CallContext, fn: Callable[[OpEnv], T]) -> T:
        """Run ``fn`` in a store transaction that writes nothing (provider lookup, role listing)."""
        with self.broker.store.transaction() as tx:
            env = OpEnv(tx, call, self.broker.dispatcher.authorizer, self.broker.arns, self.broker.entropy,
                        self.broker.envelope)
            return fn(env)

    def _mint(self, env: OpEnv, params: Mapping[str, Any]) -> Mapping[str, Any]:
        duration = params.get("DurationSeconds")
        result = login_session(
            env, self.services, token=str(params["WebIdentityToken"]), role_arn=str(params["RoleArn"]),
            session_name=str(params["RoleSessionName"]), duration_seconds=int(duration) if duration else None,
        )
        out: dict[str, Any] = {
            "Credentials": result.minted.credentials_shape(),
            "SubjectFromWebIdentityToken": result.identity.subject,
            "AssumedRoleUser": dict(result.assumed_role_user),
            "Provider": result.identity.issuer,
            "Audience": result.identity.audience,
            "DurationSeconds": result.duration_seconds,
        }
        if result.duration_reason:
            out["DurationNote"] = result.duration_reason
        return out


def _login(request: Request) -> WebLogin:
    login: WebLogin = request.app.state.oidc_login
    return login


def _refuse(title: str, message: str, status: int, *, clear: str | None = None, secure: bool = False) -> Response:
    response = html_response(message_page(title, message), status)
    if clear:
        clear_cookie(response, clear, secure=secure)
    return response


def _duration(text: str | None) -> int | None:
    if text is None or text.strip() == "":
        return None
    if not text.strip().isdigit() or len(text.strip()) > 6:
        raise InvalidParameterValue("duration_seconds must be a whole number of seconds")
    return int(text.strip())


@router.get("/oidc/login")
async def oidc_login(request: Request) -> Response:
    login = _login(request)
    call = login.call(request)
    query = request.query_params
    try:
        ref = query.get("provider")
        if not ref:
            raise InvalidParameterValue("provider is required (an OIDC provider ARN, issuer URL or HOST/PATH)")
        duration = _duration(query.get("duration_seconds"))
        provider = await run_in_threadpool(login.read, call, lambda env: find_oidc_provider(env, ref))
        client_id = query.get("client_id") or (provider.client_ids[0] if provider.client_ids else None)
        if client_id is None or client_id not in provider.client_ids:
            raise InvalidParameterValue("client_id must be one of the provider's registered client ids")
        endpoints = await run_in_threadpool(login.client.discover, provider.url)
    except BrokerError as error:
        return _refuse("Cannot start the login", error.message, error.status)
    except OidcClientError as error:
        return _refuse("The identity provider cannot be used", str(error), 502)
    entropy = login.broker.entropy
    state, nonce, verifier = (entropy.token_bytes(32).hex() for _ in range(3))
    try:
        location = OidcClient.authorization_url(
            endpoints, client_id=client_id, redirect_uri=login.redirect_uri, state=state, nonce=nonce,
            code_verifier=verifier,
        )
    except OidcClientError as error:
        return _refuse("The identity provider cannot be used", str(error), 502)
    sealed = login.sealer.seal(
        AUTH_COOKIE,
        {"p": provider.arn, "i": provider.url, "c": client_id, "s": state, "n": nonce, "v": verifier, "t":
         endpoints.token_endpoint, "d": duration},
        now=call.now, ttl=AUTH_TTL,
    )
    response = RedirectResponse(location, status_code=302, headers={"Cache-Control": "no-store"})
    set_cookie(response, AUTH_COOKIE, sealed, max_age=AUTH_TTL, secure=login.secure)
    return response


@router.get("/oidc/callback")
async def oidc_callback(request: Request) -> Response:
    login = _login(request)
    call = login.call(request)
    query = request.query_params
    try:
        auth = login.sealer.open(AUTH_COOKIE, request.cookies.get(AUTH_COOKIE), now=call.now)
    except LoginStateError as error:
        return _refuse("Login failed", str(error), 400, clear=AUTH_COOKIE, secure=login.secure)
    state = query.get("state") or ""
    if not hmac.compare_digest(state.encode(), str(auth["s"]).encode()):
        return _refuse("Login failed", "the state parameter does not match this login", 400)
    if query.get("error"):
        error_code = query.get("error", "")[:64]
        return _refuse("Login refused", f"the identity provider refused the login: {error_code}", 400,
                       clear=AUTH_COOKIE, secure=login.secure)
    code = query.get("code")
    if not code:
        return _refuse("Login failed", "the identity provider sent no authorization code", 400)
    from broker.api.web.oidc_client import Endpoints

    endpoints = Endpoints(str(auth["i"]), None, str(auth["t"]), None)
    try:
        id_token = await run_in_threadpool(
            login.client.exchange_code, endpoints, client_id=str(auth["c"]), code=code,
            redirect_uri=login.redirect_uri, code_verifier=str(auth["v"]),
        )
    except OidcClientError as error:
        status = 400 if error.oauth_error else 502
        return _refuse("Login failed", f"the code could not be redeemed: {error}", status)

    def inspect(env: OpEnv) -> tuple[str, str, list[RoleChoice], int]:
        identity = verify_web_identity(env, login.services, id_token)
        if identity.provider_arn != auth["p"] or identity.audience != auth["c"]:
            raise InvalidParameterValue("the ID token was not issued for this login",
                                        detail=f"provider {identity.provider_arn} aud {identity.audience}")
        nonce = identity.claims.get("nonce")
        if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), str(auth["n"]).encode()):
            raise InvalidParameterValue("the ID token's nonce does not match this login")
        name = session_name_for(identity)
        roles = [RoleChoice(r.role_arn, r.role_name, r.max_session_duration)
                 for r in admitted_roles(env, identity, name)]
        lifetime = int((identity.expires_at - env.call.now).total_seconds())
        return name, identity.subject, roles, lifetime

    try:
        name, subject, roles, lifetime = await run_in_threadpool(login.read, call, inspect)
    except BrokerError as error:  # a token that fails verification is audited like a refused assume call
        await run_in_threadpool(login.dispatcher.record_refusal, call, "sts", "WebLoginCallback",
                                {"provider": auth["p"], "client_id": auth["c"], "WebIdentityToken": id_token}, error)
        return _refuse("Login failed", error.message, error.status, clear=AUTH_COOKIE, secure=login.secure)
    csrf = new_csrf_token(login.broker.entropy)
    ttl = max(1, min(SESSION_TTL, lifetime))
    duration = auth.get("d")
    try:
        sealed = login.sealer.seal(
            SESSION_COOKIE, {"t": id_token, "x": csrf, "n": name, "w": subject, "d": duration}, now=call.now, ttl=ttl,
        )
    except LoginStateError as error:
        return _refuse("Login failed", str(error), 400, clear=AUTH_COOKIE, secure=login.secure)
    page = role_picker_page(who=subject, roles=roles, action="/oidc/session", csrf_token=csrf,
                            duration_seconds=duration if isinstance(duration, int) else None)
    response = html_response(page)
    clear_cookie(response, AUTH_COOKIE, secure=login.secure)
    set_cookie(response, SESSION_COOKIE, sealed, max_age=ttl, secure=login.secure)
    return response


async def _form(request: Request) -> dict[str, str]:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise CsrfError("the form must be posted as application/x-www-form-urlencoded")
    try:
        body = await read_limited(request, MAX_FORM)
    except RequestEntityTooLarge:
        raise CsrfError("the form is too large") from None
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=16)
    except (UnicodeDecodeError, ValueError):
        raise CsrfError("the form is not valid UTF-8 form data") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise CsrfError(f"the form field {key} appears more than once")
        form[key] = value
    return form


@router.post("/oidc/session")
async def oidc_session(request: Request) -> Response:
    login = _login(request)
    call = login.call(request)
    try:
        state = login.sealer.open(SESSION_COOKIE, request.cookies.get(SESSION_COOKIE), now=call.now)
        form = await _form(request)
        check_csrf(str(state.get("x", "")), form.get(CSRF_FIELD), request.headers, login.public_url)
    except (LoginStateError, CsrfError) as error:
        return _refuse("Request refused", str(error), 400)
    try:
        role_arn = form.get("role_arn", "").strip()
        if not role_arn:
            raise InvalidParameterValue("choose a role")
        duration = _duration(form.get("duration_seconds"))
    except BrokerError as error:
        return _refuse("Request refused", error.message, error.status)
    params: dict[str, Any] = {
        "RoleArn": role_arn, "RoleSessionName": str(state["n"]), "WebIdentityToken": str(state["t"]),
    }
    if duration is not None:
        params["DurationSeconds"] = duration
    try:
        result = await run_in_threadpool(login.dispatcher.run, call, "sts", LOGIN_ACTION, params)
    except BrokerError as error:  # audited by the dispatcher
        status = error.status if error.sender_fault else 500
        return _refuse("No credentials issued", error.message, status)
    creds = result["Credentials"]
    view = CredentialsView(
        role_arn=role_arn,
        assumed_role_arn=str(result["AssumedRoleUser"]["Arn"]),
        access_key_id=str(creds["AccessKeyId"]),
        secret_access_key=str(creds["SecretAccessKey"]),
        session_token=str(creds["SessionToken"]),
        expiration=creds["Expiration"],
        duration_seconds=int(result["DurationSeconds"]),
        duration_note=result.get("DurationNote"),
        endpoint=login.public_url,
    )
    return html_response(credentials_page(view))


@router.post("/oidc/roles")
async def oidc_roles(request: Request) -> Response:
    """The role picker for programs (``broker login``): ``subject_token=ID token`` → the roles it may assume.

    The token is the credential (no cookie, so no CSRF concern); it is verified exactly as for the browser.
    """
    login = _login(request)
    call = login.call(request)
    try:
        form = await _form(request)
    except CsrfError as error:
        return JSONResponse({"error": "invalid_request", "error_description": str(error)}, status_code=400)
    token = form.get("subject_token", "")
    if not token:
        return JSONResponse({"error": "invalid_request", "error_description": "subject_token is required"},
                            status_code=400)

    def listing(env: OpEnv) -> list[dict[str, Any]]:
        identity = verify_web_identity(env, login.services, token)
        return [{"RoleArn": r.role_arn, "RoleName": r.role_name, "MaxSessionDuration": r.max_session_duration}
                for r in admitted_roles(env, identity, session_name_for(identity))]

    try:
        roles = await run_in_threadpool(login.read, call, listing)
    except BrokerError as error:
        await run_in_threadpool(login.dispatcher.record_refusal, call, "sts", "ListLoginRoles",
                                {"WebIdentityToken": token}, error)
        status = 400 if error.sender_fault else 500
        return JSONResponse({"error": "invalid_request", "error_description": error.message,
                             "aws_error_code": error.code}, status_code=status, headers={"Cache-Control": "no-store"})
    return JSONResponse({"roles": roles}, headers={"Cache-Control": "no-store"})


def install_oidc_login(
    app: FastAPI, broker: Broker, services: WebIdentityServices, client: OidcClient | None = None
) -> WebLogin:
    """Mount the OIDC login routes; ``client`` defaults to one honouring ``BROKER_ALLOW_HTTP_ISSUERS`` and
    ``BROKER_CA_BUNDLE``."""
    settings = broker.settings
    if client is None:
        verify: Any = True
        if settings.ca_bundle is not None:
            verify = ssl.create_default_context()
            verify.load_verify_locations(cafile=str(settings.ca_bundle))
        client = OidcClient(allow_http=settings.allow_http_issuers, verify=verify)
    login = WebLogin(broker, services, client)
    app.state.oidc_login = login
    app.include_router(router)
    return login
