"""The relying-party client against httpx.MockTransport: discovery rules, the authorization URL, the code grant
and RFC 8628 polling (pending, slow_down, denial, expiry), network limits."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from broker.api.web.oidc_client import MAX_BYTES, DeviceAuthorization, Endpoints, OidcClient, OidcClientError

ISSUER = "https://idp.example/realms/x"
DISCOVERY = {
    "issuer": ISSUER, "authorization_endpoint": ISSUER + "/auth", "token_endpoint": ISSUER + "/token",
    "device_authorization_endpoint": ISSUER + "/device", "jwks_uri": ISSUER + "/jwks",
}


def client(handler: Callable[[httpx.Request], httpx.Response], **kw: object) -> OidcClient:
    return OidcClient(transport=httpx.MockTransport(handler), **kw)  # type: ignore[arg-type]


def test_discovery() -> None:
    c = client(lambda r: httpx.Response(200, json=DISCOVERY))
    endpoints = c.discover(ISSUER)
    assert endpoints == Endpoints(ISSUER, ISSUER + "/auth", ISSUER + "/token", ISSUER + "/device")
    c.close()


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(200, json={**DISCOVERY, "issuer": ISSUER + "/"}), "discovery names issuer"),
        (httpx.Response(200, json={**DISCOVERY, "token_endpoint": None}), "has no token_endpoint"),
        (httpx.Response(404, json={}), "answered HTTP 404"),
        (httpx.Response(200, text="<html>"), "without JSON"),
        (httpx.Response(200, content=b"{" + b" " * MAX_BYTES + b"}"), f"more than {MAX_BYTES} bytes"),
        (httpx.Response(302, headers={"location": "https://evil.test/"}, json={}), "answered HTTP 302"),
    ],
)
def test_discovery_refusals(response: httpx.Response, message: str) -> None:
    with pytest.raises(OidcClientError, match=message):
        client(lambda r: response).discover(ISSUER)


def test_http_issuer_needs_the_opt_in() -> None:
    with pytest.raises(OidcClientError, match="refusing http URL"):
        client(lambda r: httpx.Response(200, json=DISCOVERY)).discover("http://idp.example")
    doc = {**DISCOVERY, "issuer": "http://idp.example"}
    assert client(lambda r: httpx.Response(200, json=doc), allow_http=True).discover("http://idp.example")


def test_authorization_url_has_pkce_state_and_nonce() -> None:
    endpoints = Endpoints(ISSUER, ISSUER + "/auth", ISSUER + "/token", None)
    url = OidcClient.authorization_url(endpoints, client_id="web", redirect_uri="https://b/cb", state="st",
                                       nonce="nn", code_verifier="v" * 43)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert url.startswith(ISSUER + "/auth?")
    assert query == {
        "response_type": "code", "client_id": "web", "redirect_uri": "https://b/cb", "scope": "openid profile email",
        "state": "st", "nonce": "nn", "code_challenge": create_s256_code_challenge("v" * 43),
        "code_challenge_method": "S256",
    }
    with pytest.raises(OidcClientError, match="offers no authorization endpoint"):
        OidcClient.authorization_url(Endpoints(ISSUER, None, ISSUER + "/token", None), client_id="w",
                                     redirect_uri="r", state="s", nonce="n", code_verifier="v")


def test_code_exchange_sends_the_verifier_and_returns_the_id_token() -> None:
    seen: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(parse_qs(request.content.decode()))
        return httpx.Response(200, json={"access_token": "a", "token_type": "Bearer", "id_token": "eyJ.x.y"})

    endpoints = Endpoints(ISSUER, None, ISSUER + "/token", None)
    token = client(handler).exchange_code(endpoints, client_id="web", code="c1", redirect_uri="https://b/cb",
                                          code_verifier="ver")
    assert token == "eyJ.x.y"
    assert seen == [{"grant_type": ["authorization_code"], "code": ["c1"], "redirect_uri": ["https://b/cb"],
                     "client_id": ["web"], "code_verifier": ["ver"]}]


def test_code_exchange_refusals() -> None:
    endpoints = Endpoints(ISSUER, None, ISSUER + "/token", None)
    refused = client(lambda r: httpx.Response(400, json={"error": "invalid_grant"}))
    with pytest.raises(OidcClientError, match="refused: invalid_grant") as info:
        refused.exchange_code(endpoints, client_id="w", code="c", redirect_uri="r", code_verifier="v")
    assert info.value.oauth_error == "invalid_grant"
    no_id = client(lambda r: httpx.Response(200, json={"access_token": "a"}))
    with pytest.raises(OidcClientError, match="returned no id_token"):
        no_id.exchange_code(endpoints, client_id="w", code="c", redirect_uri="r", code_verifier="v")


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def device(expires_in: int = 600) -> DeviceAuthorization:
    return DeviceAuthorization("dev-code", "ABCD-EFGH", ISSUER + "/device", None, expires_in, 2)


def test_device_polling_follows_pending_and_slow_down() -> None:
    answers = [
        httpx.Response(400, json={"error": "authorization_pending"}),
        httpx.Response(400, json={"error": "slow_down"}),
        httpx.Response(400, json={"error": "authorization_pending"}),
        httpx.Response(200, json={"id_token": "eyJ.ok.sig"}),
    ]
    bodies: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content.decode())
        return answers.pop(0)

    clock = FakeTime()
    endpoints = Endpoints(ISSUER, None, ISSUER + "/token", ISSUER + "/device")
    token = client(handler).poll_device(endpoints, device(), client_id="cli", sleep=clock.sleep,
                                        monotonic=clock.monotonic)
    assert token == "eyJ.ok.sig"
    assert clock.sleeps == [2, 7, 7]  # RFC 8628 §3.5: slow_down adds 5 seconds for this and later requests
    assert parse_qs(bodies[0]) == {"grant_type": ["urn:ietf:params:oauth:grant-type:device_code"],
                                   "device_code": ["dev-code"], "client_id": ["cli"]}


@pytest.mark.parametrize("error", ["access_denied", "expired_token", "invalid_grant"])
def test_device_polling_stops_on_refusal(error: str) -> None:
    clock = FakeTime()
    endpoints = Endpoints(ISSUER, None, ISSUER + "/token", ISSUER + "/device")
    with pytest.raises(OidcClientError) as info:
        client(lambda r: httpx.Response(400, json={"error": error})).poll_device(
            endpoints, device(), client_id="cli", sleep=clock.sleep, monotonic=clock.monotonic)
    assert info.value.oauth_error == error and clock.sleeps == []


def test_device_polling_gives_up_when_the_code_expires() -> None:
    clock = FakeTime()
    endpoints = Endpoints(ISSUER, None, ISSUER + "/token", ISSUER + "/device")
    with pytest.raises(OidcClientError, match="expired before the login was approved"):
        client(lambda r: httpx.Response(400, json={"error": "authorization_pending"})).poll_device(
            endpoints, device(expires_in=5), client_id="cli", sleep=clock.sleep, monotonic=clock.monotonic)
    assert clock.sleeps == [2, 2, 2]


def test_start_device() -> None:
    doc = {"device_code": "SECRETCODE", "user_code": "U-1", "verification_uri": ISSUER + "/device", "expires_in": 600}
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content.decode())
        return httpx.Response(200, json=doc)

    endpoints = Endpoints(ISSUER, None, ISSUER + "/token", ISSUER + "/device")
    started = client(handler).start_device(endpoints, client_id="cli")
    assert (started.user_code, started.interval, started.expires_in) == ("U-1", 5, 600)
    assert "SECRETCODE" not in repr(started) and started.device_code == "SECRETCODE"
    assert parse_qs(seen[0]) == {"client_id": ["cli"], "scope": ["openid profile email"]}
    bad = client(lambda r: httpx.Response(200, json={"user_code": "x"}))
    with pytest.raises(OidcClientError, match="lacks RFC 8628"):
        bad.start_device(endpoints, client_id="cli")
    with pytest.raises(OidcClientError, match="offers no device authorization endpoint"):
        bad.start_device(Endpoints(ISSUER, None, ISSUER + "/token", None), client_id="cli")

