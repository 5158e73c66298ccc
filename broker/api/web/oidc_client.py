"""broker as an OpenID Connect relying party: discovery, the authorization request with PKCE, the code and device
grants. Used by the browser login (``oidc.py``) and by ``broker login`` (``broker/cli/login.py``).

- Discovery: OpenID Connect Discovery 1.0 §4 (the document's ``issuer`` must equal the issuer exactly, §4.3).
- Authorization request: OpenID Connect Core 1.0 §3.1.2.1 (``response_type=code``, ``scope=openid``, ``state``,
  ``nonce``) with PKCE S256 (RFC 7636 §4.1-4.3), URIs built with authlib's RFC 6749/7636 helpers.
- Token request: RFC 6749 §4.1.3 plus ``code_verifier`` (RFC 7636 §4.5), public client (``client_id`` in the body).
- Device authorization grant: RFC 8628 §3.1 (request), §3.4 (polling with ``urn:ietf:params:oauth:grant-type:
  device_code``), §3.5 (``authorization_pending``, ``slow_down`` adds 5 s, ``access_denied``, ``expired_token``).

Network rules, as for JWKS fetching: ``https://`` only unless ``allow_http``; TLS verified (``verify`` may name a
CA bundle); no redirects; timeouts; responses larger than :data:`MAX_BYTES` refused. Every failure is an
:class:`OidcClientError` whose text names URLs and OAuth error codes only, never a token.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

__all__ = [
    "DEVICE_GRANT",
    "MAX_BYTES",
    "DeviceAuthorization",
    "Endpoints",
    "OidcClient",
    "OidcClientError",
]

MAX_BYTES = 256 * 1024
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class OidcClientError(Exception):
    """The IdP could not be used or refused; ``oauth_error`` is its RFC 6749 error code when it sent one."""

    def __init__(self, message: str, oauth_error: str | None = None) -> None:
        super().__init__(message)
        self.oauth_error = oauth_error


@dataclass(frozen=True)
class Endpoints:
    issuer: str
    authorization_endpoint: str | None
    token_endpoint: str
    device_authorization_endpoint: str | None


@dataclass(frozen=True)
class DeviceAuthorization:
    """RFC 8628 §3.2 response (``device_code`` is a secret: never repr'd)."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int

    def __repr__(self) -> str:
        return f"DeviceAuthorization(user_code={self.user_code!r}, verification_uri={self.verification_uri!r})"


class OidcClient:
    """A public OIDC client over ``httpx`` (``transport`` lets tests use ``httpx.MockTransport``)."""

    def __init__(
        self,
        *,
        allow_http: bool = False,
        verify: Any = True,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.allow_http = allow_http
        self.client = httpx.Client(
            verify=verify, timeout=httpx.Timeout(timeout), follow_redirects=False, transport=transport,
            headers={"Accept": "application/json", "User-Agent": "broker-oidc-client/1"},
        )

    def close(self) -> None:
        self.client.close()

    def _check(self, url: str) -> None:
        scheme = urlsplit(url).scheme
        if scheme != "https" and not (scheme == "http" and self.allow_http):
            what = scheme or "schemeless"
            raise OidcClientError(f"refusing {what} URL {url} (http needs BROKER_ALLOW_HTTP_ISSUERS=1)")

    def _json(self, method: str, url: str, form: str | None = None) -> tuple[int, Any]:
        self._check(url)
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else None
        try:
            with self.client.stream(method, url, content=form, headers=headers) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_BYTES:
                        raise OidcClientError(f"{url} answered more than {MAX_BYTES} bytes")
                status = response.status_code
        except httpx.HTTPError as exc:
            raise OidcClientError(f"{url} failed: {type(exc).__name__}") from None
        try:
            return status, json.loads(bytes(body))
        except (ValueError, UnicodeDecodeError):
            raise OidcClientError(f"{url} answered HTTP {status} without JSON") from None

    def discover(self, issuer: str) -> Endpoints:
        status, doc = self._json("GET", issuer.rstrip("/") + "/.well-known/openid-configuration")
        if status != 200 or not isinstance(doc, dict):
            raise OidcClientError(f"discovery for {issuer} answered HTTP {status}")
        if doc.get("issuer") != issuer:
            raise OidcClientError(f"discovery names issuer {doc.get('issuer')!r}, not {issuer!r}")
        token = doc.get("token_endpoint")
        if not isinstance(token, str):
            raise OidcClientError(f"discovery for {issuer} has no token_endpoint")

        def optional(name: str) -> str | None:
            value = doc.get(name)
            return value if isinstance(value, str) and value else None

        return Endpoints(issuer, optional("authorization_endpoint"), token,
                         optional("device_authorization_endpoint"))

    @staticmethod
    def authorization_url(
        endpoints: Endpoints, *, client_id: str, redirect_uri: str, state: str, nonce: str, code_verifier: str,
        scope: str = "openid profile email",
    ) -> str:
        """The authorization request URI (OIDC Core §3.1.2.1 + PKCE S256)."""
        if endpoints.authorization_endpoint is None:
            raise OidcClientError(f"{endpoints.issuer} offers no authorization endpoint")
        uri: str = prepare_grant_uri(
            endpoints.authorization_endpoint, client_id=client_id, response_type="code", redirect_uri=redirect_uri,
            scope=scope, state=state, nonce=nonce, code_challenge=create_s256_code_challenge(code_verifier),
            code_challenge_method="S256",
        )
        return uri

    def _token(self, endpoints: Endpoints, body: str) -> dict[str, Any]:
        status, doc = self._json("POST", endpoints.token_endpoint, body)
        if not isinstance(doc, dict):
            raise OidcClientError(f"{endpoints.token_endpoint} answered HTTP {status} without a JSON object")
        if status != 200:
            error = doc.get("error")
            code = error if isinstance(error, str) else None
            raise OidcClientError(f"{endpoints.token_endpoint} refused: {code or status}", code)
        return doc

    @staticmethod
    def _id_token(doc: Mapping[str, Any], where: str) -> str:
        token = doc.get("id_token")
        if not isinstance(token, str) or not token:
            raise OidcClientError(f"{where} returned no id_token (is the openid scope allowed?)")
        return token

    def exchange_code(
        self, endpoints: Endpoints, *, client_id: str, code: str, redirect_uri: str, code_verifier: str
    ) -> str:
        """The ID token for an authorization code (RFC 6749 §4.1.3 with PKCE)."""
        body: str = prepare_token_request(
            "authorization_code", code=code, redirect_uri=redirect_uri, client_id=client_id,
            code_verifier=code_verifier,
        )
        return self._id_token(self._token(endpoints, body), endpoints.token_endpoint)

    def start_device(
        self, endpoints: Endpoints, *, client_id: str, scope: str = "openid profile email"
    ) -> DeviceAuthorization:
        """RFC 8628 §3.1: ask for a device code and user code."""
        if endpoints.device_authorization_endpoint is None:
            raise OidcClientError(f"{endpoints.issuer} offers no device authorization endpoint")
        body: str = prepare_token_request("device_code", client_id=client_id, scope=scope)
        body = "&".join(p for p in body.split("&") if not p.startswith("grant_type="))
        status, doc = self._json("POST", endpoints.device_authorization_endpoint, body)
        if status != 200 or not isinstance(doc, dict):
            raise OidcClientError(f"device authorization answered HTTP {status}")
        try:
            return DeviceAuthorization(
                device_code=str(doc["device_code"]), user_code=str(doc["user_code"]),
                verification_uri=str(doc["verification_uri"]),
                verification_uri_complete=doc.get("verification_uri_complete"),
                expires_in=int(doc["expires_in"]), interval=int(doc.get("interval", 5)),
            )
        except (KeyError, TypeError, ValueError):
            raise OidcClientError("device authorization response lacks RFC 8628 §3.2 members") from None

    def poll_device(
        self, endpoints: Endpoints, device: DeviceAuthorization, *, client_id: str,
        sleep: Callable[[float], None], monotonic: Callable[[], float],
    ) -> str:
        """RFC 8628 §3.4-3.5: poll until the user approves; the ID token."""
        interval = max(1, device.interval)
        deadline = monotonic() + device.expires_in
        body: str = prepare_token_request(DEVICE_GRANT, device_code=device.device_code, client_id=client_id)
        while monotonic() < deadline:
            try:
                return self._id_token(self._token(endpoints, body), endpoints.token_endpoint)
            except OidcClientError as error:
                if error.oauth_error == "authorization_pending":
                    pass
                elif error.oauth_error == "slow_down":
                    interval += 5
                else:
                    raise
            sleep(interval)
        raise OidcClientError("the device code expired before the login was approved", "expired_token")
