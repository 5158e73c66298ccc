"""Interactive flows of the fixture OIDC IdP: authorization code with PKCE, and the device authorization grant.

Mounted on ``idp_fixtures.oidc.server.create_app`` through :func:`router_for`. A test-only IdP: it asks for no
password, the "user" types the ``sub`` they want (and optionally a claim profile and an email) into a login form.
It is still strict about the protocol, so broker's relying party is tested against real checks:

- ``GET /authorize`` (OIDC Core 1.0 §3.1.2.1): ``response_type=code``, known ``redirect_uri`` shape, ``openid`` scope,
  PKCE ``S256`` required (RFC 7636 §4.3); renders a login form. ``POST /authorize`` with the form redirects to
  ``redirect_uri?code&state`` (or ``error=access_denied`` when the user presses Deny).
- ``POST /token``:
  ``authorization_code``: the code is single-use and expires after 60 s, ``client_id`` and ``redirect_uri`` must
  match the authorization request, ``code_verifier`` must hash to the challenge (RFC 7636 §4.6); the ID token
  carries ``nonce`` and ``aud = client_id``.
  ``urn:ietf:params:oauth:grant-type:device_code`` (RFC 8628 §3.4): ``authorization_pending`` until approved,
  ``slow_down`` when polled faster than ``interval``, ``access_denied``, ``expired_token``.
- ``POST /device/code`` (RFC 8628 §3.1-3.2) and ``GET``/``POST /device`` (the verification page, §3.3).

Errors follow RFC 6749 §5.2 JSON. Wall-clock time is fine here (a fixture outside ``broker/``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from idp_fixtures.oidc.idp import OidcIdp

__all__ = ["FlowState", "router_for"]

CODE_TTL = 60
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class _Pending:
    client_id: str
    redirect_uri: str
    state: str
    nonce: str | None
    challenge: str
    scope: str


@dataclass
class _Code:
    request: _Pending
    sub: str
    profile: str | None
    email: str | None
    expires: float


@dataclass
class _Device:
    client_id: str
    user_code: str
    expires: float
    interval: int
    status: str = "pending"  # pending | approved | denied | used
    sub: str | None = None
    profile: str | None = None
    email: str | None = None
    last_poll: float = 0.0


@dataclass
class FlowState:
    """In-memory state of the flows (one per IdP); ``device_interval`` is the polling interval handed out."""

    device_interval: int = 1
    lifetime: int = 300
    pending: dict[str, _Pending] = field(default_factory=dict)
    codes: dict[str, _Code] = field(default_factory=dict)
    devices: dict[str, _Device] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _error(code: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status,
                        headers={"Cache-Control": "no-store"})


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>{body}")


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


def router_for(idp: OidcIdp, state: FlowState | None = None) -> APIRouter:
    """The flow endpoints of ``idp`` (state kept in ``state``, or a new :class:`FlowState`)."""
    flows = state or FlowState()
    router = APIRouter()
    base = idp.issuer.rstrip("/")

    def mint(client_id: str, sub: str, profile: str | None, email: str | None, nonce: str | None) -> str:
        claims: dict[str, Any] = {"azp": client_id}
        if nonce is not None:
            claims["nonce"] = nonce
        if email:
            claims["email"] = email
            claims["email_verified"] = True
        return idp.mint(now=int(time.time()), profile=profile or None, sub=sub, audience=client_id,
                        lifetime=flows.lifetime, claims=claims)

    @router.get("/authorize")
    def authorize(request: Request) -> Response:
        q = request.query_params
        client_id, redirect_uri, challenge = q.get("client_id"), q.get("redirect_uri"), q.get("code_challenge")
        if not client_id or not redirect_uri or not redirect_uri.startswith(("http://", "https://")):
            return _page("Bad request", "<p>client_id and an absolute redirect_uri are required</p>")
        refusal = {"error": "invalid_request", "state": q.get("state", "")}
        if q.get("response_type") != "code" or "openid" not in (q.get("scope") or "").split():
            return RedirectResponse(f"{redirect_uri}?{urlencode(refusal)}", status_code=302)
        if not challenge or q.get("code_challenge_method") != "S256":
            refusal["error_description"] = "PKCE S256 required"
            return RedirectResponse(f"{redirect_uri}?{urlencode(refusal)}", status_code=302)
        rid = secrets.token_urlsafe(16)
        with flows.lock:
            flows.pending[rid] = _Pending(client_id, redirect_uri, q.get("state", ""), q.get("nonce"), challenge,
                                          q.get("scope", ""))
        body = (
            f'<form method=post action="{html.escape(base)}/authorize">'
            f'<input type=hidden name=request_id value="{html.escape(rid)}">'
            "<label>Subject <input name=sub value=user-1></label>"
            "<label>Email <input name=email></label>"
            "<label>Profile <input name=profile></label>"
            "<button name=decision value=allow>Sign in</button><button name=decision value=deny>Deny</button></form>"
        )
        return _page("Fixture IdP sign-in", body)

    @router.post("/authorize")
    async def approve(request: Request) -> Response:
        form = await _form(request)
        with flows.lock:
            pending = flows.pending.pop(form.get("request_id", ""), None)
        if pending is None:
            return _page("Bad request", "<p>unknown or used authorization request</p>")
        if form.get("decision") == "deny":
            query = {"error": "access_denied", "state": pending.state}
            return RedirectResponse(f"{pending.redirect_uri}?{urlencode(query)}", status_code=302)
        code = secrets.token_urlsafe(24)
        with flows.lock:
            flows.codes[code] = _Code(pending, form.get("sub") or "user-1", form.get("profile") or None,
                                      form.get("email") or None, time.time() + CODE_TTL)
        query = {"code": code, "state": pending.state}
        return RedirectResponse(f"{pending.redirect_uri}?{urlencode(query)}", status_code=302)

    def code_grant(form: dict[str, str]) -> Response:
        with flows.lock:
            granted = flows.codes.pop(form.get("code", ""), None)  # single use, even when the rest is wrong
        if granted is None or granted.expires < time.time():
            return _error("invalid_grant", "unknown, used or expired code")
        request = granted.request
        if form.get("client_id") != request.client_id or form.get("redirect_uri") != request.redirect_uri:
            return _error("invalid_grant", "client_id or redirect_uri does not match the authorization request")
        verifier = form.get("code_verifier", "")
        if not verifier or not hmac.compare_digest(_s256(verifier), request.challenge):
            return _error("invalid_grant", "code_verifier does not match the code_challenge")
        token = mint(request.client_id, granted.sub, granted.profile, granted.email, request.nonce)
        return JSONResponse({"access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 300,
                             "id_token": token}, headers={"Cache-Control": "no-store"})

    def device_grant(form: dict[str, str]) -> Response:
        now = time.time()
        with flows.lock:
            device = flows.devices.get(form.get("device_code", ""))
            if device is None or device.client_id != form.get("client_id"):
                return _error("invalid_grant", "unknown device_code")
            if device.expires < now:
                return _error("expired_token", "the device code has expired")
            too_fast = now - device.last_poll < device.interval
            device.last_poll = now
            if device.status == "denied":
                return _error("access_denied", "the user denied the request")
            if device.status == "used":
                return _error("invalid_grant", "the device code was already used")
            if device.status == "pending":
                return _error("slow_down" if too_fast else "authorization_pending", "waiting for the user")
            device.status = "used"
            sub, profile, email = device.sub or "user-1", device.profile, device.email
        token = mint(device.client_id, sub, profile, email, None)
        return JSONResponse({"access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 300,
                             "id_token": token}, headers={"Cache-Control": "no-store"})

    @router.post("/token")
    async def token(request: Request) -> Response:
        form = await _form(request)
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return code_grant(form)
        if grant == DEVICE_GRANT:
            return device_grant(form)
        return _error("unsupported_grant_type", f"grant_type {grant!r} is not supported here")

    @router.post("/device/code")
    async def device_code(request: Request) -> Response:
        form = await _form(request)
        client_id = form.get("client_id")
        if not client_id:
            return _error("invalid_request", "client_id is required")
        code = secrets.token_urlsafe(24)
        user_code = "-".join(secrets.token_hex(2).upper() for _ in range(2))
        with flows.lock:
            flows.devices[code] = _Device(client_id, user_code, time.time() + 600, flows.device_interval)
        return JSONResponse({
            "device_code": code, "user_code": user_code, "verification_uri": f"{base}/device",
            "verification_uri_complete": f"{base}/device?{urlencode({'user_code': user_code})}",
            "expires_in": 600, "interval": flows.device_interval,
        }, headers={"Cache-Control": "no-store"})

    @router.get("/device")
    def device_page(request: Request) -> Response:
        user_code = html.escape(request.query_params.get("user_code", ""))
        body = (
            f'<form method=post action="{html.escape(base)}/device">'
            f'<label>Code <input name=user_code value="{user_code}"></label>'
            "<label>Subject <input name=sub value=user-1></label><label>Email <input name=email></label>"
            "<label>Profile <input name=profile></label>"
            "<button name=decision value=allow>Approve</button><button name=decision value=deny>Deny</button></form>"
        )
        return _page("Fixture IdP device sign-in", body)

    @router.post("/device")
    async def device_approve(request: Request) -> Response:
        form = await _form(request)
        with flows.lock:
            device = next((d for d in flows.devices.values() if d.user_code == form.get("user_code")), None)
            if device is None or device.status != "pending":
                return _page("Unknown code", "<p>no pending device login has that code</p>")
            device.status = "denied" if form.get("decision") == "deny" else "approved"
            device.sub, device.profile, device.email = (form.get("sub") or "user-1", form.get("profile") or None,
                                                        form.get("email") or None)
        return _page("Done", f"<p>{html.escape(device.status)}</p>")

    return router
