"""SAML service-provider endpoints (SPEC.md §3.4): metadata, SP-initiated login, the ACS and the role pick.

- ``GET /saml/metadata``: broker's SP metadata (entity id, ACS, signing and encryption certificates).
- ``GET /saml/login?provider=NAME``: a signed AuthnRequest over the HTTP-Redirect binding
  (saml-bindings-2.0-os §3.4) with a random ``RelayState``; the request id, the provider and the RelayState
  travel in a sealed cookie (``cookies.py``), so any node can receive the response (no sticky sessions).
- ``POST /saml/acs``: the HTTP-POST binding (§3.5). With a login cookie the response must answer that request
  (``InResponseTo``) and carry its ``RelayState``; without one it is IdP-initiated (no ``InResponseTo``). The
  response is validated (not consumed) and the role picker is shown; like the AWS console's SAML page, the
  picker form carries the ``SAMLResponse`` back, bound to this login by its SHA-256 in a sealed cookie.
- ``POST /saml/role``: CSRF-checked; assumes the chosen role with the same response (which consumes it:
  replay cache) and shows the credentials page. Durations are clamped to the role's maximum and explained.

Cookies: ``HttpOnly``, ``Secure`` over TLS. The login cookie must come back on the IdP's cross-site POST to
the ACS, which ``SameSite=Lax`` forbids (RFC 6265bis §5.5.7.1), so it is ``SameSite=None`` over TLS (browsers
accept ``None`` only with ``Secure``) and ``Lax`` on plain-HTTP development setups. The pick cookie is
``SameSite=Lax`` (the picker posts to broker itself).

Bad input never reaches a 5xx: missing or garbage ``SAMLResponse`` (400), oversized POST (413), wrong
``RelayState``, forged or moved cookie (400), CSRF failure (403), and every refusal of the SAML seam with its
AWS status. Nothing is minted before the role pick succeeds, and every ACS/role call leaves one audit event.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, cast
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from broker.api.body import read_limited
from broker.api.web.cookies import (
    CookieSealer,
    LoginStateError,
    clear_cookie,
    clear_request_state_cookie,
    set_cookie,
    set_request_state_cookie,
)
from broker.api.web.csrf import CSRF_FIELD, CsrfError, check_csrf, new_csrf_token
from broker.api.web.pages import (
    CredentialsView,
    RoleChoice,
    credentials_page,
    html_response,
    message_page,
    role_picker_page,
)
from broker.errors import BrokerError, InternalFailure, RequestEntityTooLarge
from broker.federation.saml.authn_request import AuthnRequest, redirect_url
from broker.federation.saml.config import SpConfig, sp_config
from broker.federation.saml.sp_metadata import sp_metadata_xml
from broker.ids import request_id
from broker.principal import CallContext
from broker.service.dispatch import Dispatcher
from broker.service.env import OpEnv
from broker.service.saml_login import (
    find_saml_provider,
    login_roles,
    login_session,
    sso_redirect_location,
)
from broker.service.saml_session import SamlSp
from broker.service.saml_sp_keys import StoreSpKeys

__all__ = [
    "LOGIN_COOKIE",
    "MAX_FORM_BYTES",
    "PICK_COOKIE",
    "SpKeySource",
    "install_saml",
    "install_saml_web",
    "saml_sp_for",
    "sp_keys_for",
]

LOGIN_COOKIE = "broker_saml_login"
PICK_COOKIE = "broker_saml_pick"
LOGIN_TTL = 600
MAX_FORM_BYTES = 320 * 1024
"""``SAMLResponse`` is at most 100,000 base64 characters (the STS ``SAMLAssertion`` limit); URL-encoding can
triple ``+``, ``/`` and ``=``; a little room for the other fields."""


class SpKeySource(Protocol):
    """Broker's SP key material (``broker.federation.saml.sp_keys``): PEM private key, DER certificates."""

    def signing_key_pem(self) -> bytes | None: ...

    def signing_certificates(self) -> Sequence[bytes]: ...

    def encryption_certificates(self) -> Sequence[bytes]: ...


class _FormError(Exception):
    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def _page_error(status: int, title: str, message: str) -> Response:
    return html_response(message_page(title, message), status)


async def _form(request: Request) -> dict[str, str]:
    try:
        body = await read_limited(request, MAX_FORM_BYTES)
    except RequestEntityTooLarge:
        raise _FormError(413, "Request too large", f"The form must be at most {MAX_FORM_BYTES} bytes.") from None
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise _FormError(400, "Bad request", "Expected an application/x-www-form-urlencoded form.")
    try:
        parsed = parse_qs(body.decode("ascii"), keep_blank_values=True, max_num_fields=16)
    except (UnicodeDecodeError, ValueError):
        raise _FormError(400, "Bad request", "The form is not valid URL-encoded ASCII.") from None
    if any(len(v) != 1 for v in parsed.values()):
        raise _FormError(400, "Bad request", "Each form field must appear once.")
    return {k: v[0] for k, v in parsed.items()}


def _digest(saml_response: str) -> str:
    return hashlib.sha256(saml_response.encode("ascii")).hexdigest()


def install_saml_web(
    app: FastAPI,
    *,
    broker: Any,
    sp: SamlSp,
    sealer: CookieSealer,
    keys: SpKeySource | None,
) -> None:
    """Mount the SAML SP routes on ``app``. ``broker`` is ``app.state.broker`` (settings, clock, entropy,
    dispatcher); ``sp`` the shared SAML SP (config, validator, token codec); ``keys`` the SP key pair."""
    public = broker.settings.effective_public_url
    secure = public.startswith("https://")

    def call_context(request: Request) -> CallContext:
        return CallContext(
            request_id=request_id(broker.entropy), now=broker.clock.now(),
            source_ip=request.client.host if request.client else "",
            user_agent=request.headers.get("user-agent", ""), secure_transport=request.url.scheme == "https",
        )

    def run(
        call: CallContext, action: str, params: Mapping[str, Any], fn: Callable[[OpEnv], Mapping[str, Any]]
    ) -> None:
        """One audited transaction through a dispatcher sharing the app's store, authorizer and audit sinks."""
        d: Dispatcher = broker.dispatcher
        Dispatcher(
            store=d.store, operations={action: lambda env, _p: fn(env)}, authorizer=d.authorizer, arns=d.arns,
            entropy=d.entropy, envelope=d.envelope, audit=d.audit, sinks=d.sinks,
        ).run(call, "sts", action, params)

    def refused(error: BrokerError) -> Response:
        status = error.status if 400 <= error.status < 500 else 400
        if isinstance(error, InternalFailure):
            return _page_error(503, "Sign-in failed", "An internal error occurred. Please retry.")
        return _page_error(status, "Sign-in refused", f"{error.code}: {error.message}")

    @app.get("/saml/metadata")
    def saml_metadata() -> Response:
        xml = sp_metadata_xml(
            entity_id=sp.config.entity_id, acs_url=sp.config.acs_url,
            signing_certificates=list(keys.signing_certificates()) if keys else [],
            encryption_certificates=list(keys.encryption_certificates()) if keys else [],
            want_assertions_signed=sp.config.want_assertions_signed,
        )
        return Response(xml, media_type="application/samlmetadata+xml")

    @app.get("/saml/login")
    async def saml_login(request: Request) -> Response:
        ref = request.query_params.get("provider", "")
        if not ref:
            return _page_error(400, "Bad request", "Name the identity provider: /saml/login?provider=NAME")
        call = call_context(request)
        target: dict[str, str] = {}

        def find(env: OpEnv) -> Mapping[str, Any]:
            record = find_saml_provider(env, ref)
            target.update(arn=record.arn, sso=sso_redirect_location(env, record))
            return {"PrincipalArn": record.arn}

        try:
            await run_in_threadpool(run, call, "SAMLAuthnRequest", {"Provider": ref[:256]}, find)
        except BrokerError as error:
            return refused(error)
        rid = "_" + broker.entropy.token_bytes(20).hex()
        relay = broker.entropy.token_bytes(16).hex()
        # the key source may re-read the store (another node rotated the key): off the event loop
        signing_pem = await run_in_threadpool(keys.signing_key_pem) if keys else None
        url = redirect_url(
            AuthnRequest(rid, call.now, sp.config.entity_id, sp.config.acs_url, target["sso"]),
            relay_state=relay, signing_key_pem=signing_pem,
        )
        response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
        value = sealer.seal(LOGIN_COOKIE, {"rid": rid, "provider": target["arn"], "relay": relay},
                            now=call.now, ttl=LOGIN_TTL)
        set_request_state_cookie(response, LOGIN_COOKIE, value, max_age=LOGIN_TTL, secure=secure)
        return response

    @app.post("/saml/acs")
    async def saml_acs(request: Request) -> Response:
        call = call_context(request)
        try:
            form = await _form(request)
        except _FormError as error:
            return _page_error(error.status, error.title, error.message)
        saml_response = form.get("SAMLResponse", "")
        if not saml_response.strip():
            return _page_error(400, "Bad request", "The POST carries no SAMLResponse.")
        provider: str | None = None
        expected: str | None = None
        cookie = request.cookies.get(LOGIN_COOKIE)
        if cookie:
            try:
                state = sealer.open(LOGIN_COOKIE, cookie, now=call.now)
            except LoginStateError as error:
                if "expired" not in str(error):
                    return _page_error(400, "Sign-in refused", f"The login state is not valid: {error}.")
                state = None  # a stale login: treat this response as IdP-initiated
            if state is not None:
                relay = form.get("RelayState", "")
                if not hmac.compare_digest(relay.encode(), str(state["relay"]).encode()):
                    return _page_error(400, "Sign-in refused", "RelayState does not match the login in progress.")
                provider, expected = str(state["provider"]), str(state["rid"])
        params = {"PrincipalArn": provider, "SAMLResponse": saml_response,
                  "Initiated": "SP" if expected else "IdP"}
        found: dict[str, Any] = {}

        def validate(env: OpEnv) -> Mapping[str, Any]:
            roles = login_roles(sp, env, saml_response_b64=saml_response, provider_arn=provider,
                                expected_in_response_to=expected)
            found["roles"] = roles
            return {"PrincipalArn": roles.provider_arn, "Subject": roles.subject,
                    "Roles": [r.role_arn for r in roles.roles]}

        try:
            await run_in_threadpool(run, call, "SAMLLogin", params, validate)
        except BrokerError as error:
            return refused(error)
        roles = found["roles"]
        csrf = new_csrf_token(broker.entropy)
        page = role_picker_page(
            who=roles.subject,
            roles=[RoleChoice(r.role_arn, r.role_name, r.max_session_duration) for r in roles.roles],
            action=f"{public}/saml/role", csrf_token=csrf, duration_seconds=roles.session_duration,
            hidden={"SAMLResponse": saml_response},
        )
        response = html_response(page, 200 if roles.roles else 403)
        clear_request_state_cookie(response, LOGIN_COOKIE, secure=secure)
        if roles.roles:
            pick = sealer.seal(PICK_COOKIE, {
                "csrf": csrf, "provider": roles.provider_arn, "rid": expected, "digest": _digest(saml_response),
                "idp_duration": roles.session_duration,
            }, now=call.now, ttl=LOGIN_TTL)
            set_cookie(response, PICK_COOKIE, pick, max_age=LOGIN_TTL, secure=secure)
        return response

    @app.post("/saml/role")
    async def saml_role(request: Request) -> Response:
        call = call_context(request)
        try:
            form = await _form(request)
            state = sealer.open(PICK_COOKIE, request.cookies.get(PICK_COOKIE), now=call.now)
            check_csrf(str(state.get("csrf") or ""), form.get(CSRF_FIELD), request.headers, public)
        except _FormError as error:
            return _page_error(error.status, error.title, error.message)
        except LoginStateError as error:
            return _page_error(400, "Sign-in refused", f"The login state is not valid: {error}.")
        except CsrfError as error:
            return _page_error(403, "Sign-in refused", str(error))
        saml_response = form.get("SAMLResponse", "")
        if not saml_response or not hmac.compare_digest(_digest(saml_response), str(state["digest"])):
            return _page_error(400, "Sign-in refused", "The SAMLResponse does not belong to this login.")
        role_arn = form.get("role_arn", "")
        raw_duration = form.get("duration_seconds", "").strip()
        if raw_duration and (not raw_duration.isdigit() or len(raw_duration) > 6):
            return _page_error(400, "Bad request", "The session duration must be a number of seconds.")
        duration = int(raw_duration) if raw_duration else None
        provider = str(state["provider"])
        expected = state.get("rid")
        params = {"RoleArn": role_arn, "PrincipalArn": provider, "SAMLAssertion": saml_response,
                  "DurationSeconds": duration, "Binding": "browser"}
        out: dict[str, Any] = {}

        def assume(env: OpEnv) -> Mapping[str, Any]:
            result, seconds, note = login_session(
                sp, env, saml_response_b64=saml_response, provider_arn=provider, role_arn=role_arn,
                duration_seconds=duration, idp_duration=state.get("idp_duration"),
                expected_in_response_to=str(expected) if expected else None,
            )
            out.update(result=result, seconds=seconds, note=note)
            return result.output()

        try:
            await run_in_threadpool(run, call, "AssumeRoleWithSAML", params, assume)
        except BrokerError as error:
            return refused(error)
        result = out["result"]
        minted = result.minted
        view = CredentialsView(
            role_arn=result.role_arn, assumed_role_arn=result.assumed_role_arn,
            access_key_id=minted.access_key_id, secret_access_key=minted.secret_access_key,
            session_token=minted.session_token, expiration=minted.expiration, duration_seconds=out["seconds"],
            duration_note=out["note"], endpoint=public,
        )
        response = html_response(credentials_page(view))
        clear_cookie(response, PICK_COOKIE, secure=secure)
        return response


def _sp_config(broker: Any) -> SpConfig:
    settings = broker.settings
    return sp_config(settings.effective_public_url, clock_skew_seconds=settings.clock_skew_seconds)


def sp_keys_for(broker: Any) -> SpKeySource:
    """The app's SP key pair: ``broker.saml_keys`` when ``build_broker`` made one, else the keyring's
    ``saml-sp`` key in ``broker.store`` (created or migrated on first use; one pair for every node)."""
    existing = getattr(broker, "saml_keys", None)
    if existing is not None:
        return cast(SpKeySource, existing)
    return StoreSpKeys(broker.store, broker.envelope, broker.clock, broker.entropy,
                       entity_id=_sp_config(broker).entity_id, legacy_home=broker.settings.home)


def saml_sp_for(broker: Any, keys: SpKeySource) -> SamlSp:
    """The app's SAML SP: the one ``build_broker`` made (``broker.saml_sp``), else one built from settings
    that decrypts with ``keys``."""
    existing = getattr(broker, "saml_sp", None)
    if isinstance(existing, SamlSp):
        return existing
    private: Callable[[], Sequence[bytes]] = lambda: [k for k in (keys.signing_key_pem(),) if k is not None]  # noqa: E731
    return SamlSp.build(_sp_config(broker), broker.keyring.codec, sp_private_keys=private,
                        response_signed_providers=broker.settings.saml_response_signed_provider_names)


def install_saml(app: FastAPI, broker: Any, *, keys: SpKeySource | None = None) -> SamlSp:
    """Mount the SAML SP routes with the app's SP, a cookie sealer over the master key, and the SP keys."""
    keys = keys if keys is not None else sp_keys_for(broker)
    sp = saml_sp_for(broker, keys)
    install_saml_web(app, broker=broker, sp=sp, sealer=CookieSealer(broker.envelope.master_key, broker.entropy),
                     keys=keys)
    return sp
