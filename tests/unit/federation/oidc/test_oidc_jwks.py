"""The JWKS cache over a mock transport: TTLs, rotation, single flight, rate limit, last-known-good, faults."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from oidc_test_helpers import ISSUER, idp

from broker.errors import IDPCommunicationError
from broker.federation.oidc.fetch import FetchError, HttpJwksFetcher, cache_max_age
from broker.federation.oidc.jwks import JwksCache
from idp_fixtures.oidc.idp import OidcIdp


class StepClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    def monotonic(self) -> float:
        return self.t


class Upstream:
    """A mock IdP behind httpx.MockTransport, counting JWKS fetches."""

    def __init__(self, provider: OidcIdp) -> None:
        self.idp = provider
        self.mode = "ok"
        self.cache_control: str | None = "max-age=600"
        self.jwks_calls = 0
        self.gate: threading.Event | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json={"issuer": self.idp.issuer, "jwks_uri": f"{self.idp.issuer}/jwks"})
        self.jwks_calls += 1
        if self.gate is not None:
            self.gate.wait(5)
        if self.mode == "down":
            return httpx.Response(503)
        if self.mode == "garbage":
            return httpx.Response(200, content=b"<html>")
        if self.mode == "huge":
            return httpx.Response(200, content=b"{" + b" " * 400_000 + b"}")
        if self.mode == "redirect-away":
            return httpx.Response(302, headers={"location": "https://evil.example/jwks"})
        if self.mode == "slow":
            raise httpx.ReadTimeout("slow", request=request)
        headers = {"cache-control": self.cache_control} if self.cache_control else {}
        return httpx.Response(200, content=json.dumps(self.idp.jwks()).encode(), headers=headers)


def _cache(upstream: Upstream, clock: StepClock, **kw: Any) -> JwksCache:
    fetcher = HttpJwksFetcher(transport=httpx.MockTransport(upstream))
    return JwksCache(fetcher, clock, **kw)


@pytest.fixture
def world() -> tuple[Upstream, StepClock, JwksCache]:
    upstream, clock = Upstream(idp()), StepClock()
    return upstream, clock, _cache(upstream, clock)


def test_fetches_once_then_serves_from_cache(world: tuple[Upstream, StepClock, JwksCache]) -> None:
    upstream, _clock, cache = world
    kid = upstream.idp.keyring.active.kid
    for _ in range(5):
        assert kid in cache.keys(ISSUER, kid)
    assert upstream.jwks_calls == 1
    assert cache.health()[ISSUER]["status"] == "ok"


def test_cache_control_sets_the_lifetime(world: tuple[Upstream, StepClock, JwksCache]) -> None:
    upstream, clock, cache = world
    kid = upstream.idp.keyring.active.kid
    cache.keys(ISSUER, kid)
    clock.t += 599
    cache.keys(ISSUER, kid)
    assert upstream.jwks_calls == 1
    clock.t += 2
    cache.keys(ISSUER, kid)
    assert upstream.jwks_calls == 2


def test_cache_control_parsing() -> None:
    assert cache_max_age("public, max-age=120") == 120
    assert cache_max_age("max-age=10, s-maxage=900") == 900
    assert cache_max_age("no-store") == 0
    assert cache_max_age(None) is None


def test_rotation_is_followed_on_unknown_kid(world: tuple[Upstream, StepClock, JwksCache]) -> None:
    upstream, clock, cache = world
    cache.keys(ISSUER, upstream.idp.keyring.active.kid)
    clock.t += 11
    new = upstream.idp.rotate()
    assert new.kid in cache.keys(ISSUER, new.kid)
    assert upstream.jwks_calls == 2


def test_unknown_kid_flood_costs_one_fetch(world: tuple[Upstream, StepClock, JwksCache]) -> None:
    upstream, clock, cache = world
    cache.keys(ISSUER, upstream.idp.keyring.active.kid)
    clock.t += 11
    for i in range(1000):
        keys = cache.keys(ISSUER, f"invented-{i}")
        assert f"invented-{i}" not in keys
    assert upstream.jwks_calls == 2


def test_concurrent_unknown_kid_requests_share_one_fetch() -> None:
    upstream, clock = Upstream(idp()), StepClock()
    cache = _cache(upstream, clock)
    upstream.gate = threading.Event()
    results: list[bool] = []
    kid = upstream.idp.keyring.active.kid

    def ask() -> None:
        results.append(kid in cache.keys(ISSUER, kid))

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for t in threads:
        t.start()
    upstream.gate.set()
    for t in threads:
        t.join()
    assert results == [True] * 20
    assert upstream.jwks_calls == 1


@pytest.mark.parametrize("mode", ["down", "garbage", "huge", "redirect-away", "slow"])
def test_last_known_good_survives_faults(world: tuple[Upstream, StepClock, JwksCache], mode: str) -> None:
    upstream, clock, cache = world
    kid = upstream.idp.keyring.active.kid
    cache.keys(ISSUER, kid)
    upstream.mode = mode
    clock.t += 700  # expired: refresh attempted, fails, last-known-good served
    assert kid in cache.keys(ISSUER, kid)
    health = cache.health()[ISSUER]
    assert health["status"] == "stale"
    assert health["failures"] == 1


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("down", "answered HTTP 503"),
        ("garbage", "did not return JSON"),
        ("huge", "is larger than 262144 bytes"),
        ("redirect-away", "redirects to another origin (evil.example)"),
        ("slow", "timed out"),
    ],
)
def test_no_keys_at_all_is_idp_communication_error(mode: str, reason: str) -> None:
    upstream, clock = Upstream(idp()), StepClock()
    upstream.mode = mode
    cache = _cache(upstream, clock)
    with pytest.raises(IDPCommunicationError) as info:
        cache.keys(ISSUER, "k")
    assert info.value.code == "IDPCommunicationError"
    assert reason in str(info.value.detail)
    assert cache.health()[ISSUER]["status"] == "down"


def test_unknown_kid_while_idp_is_down_is_idp_communication_error(world: tuple[Upstream, StepClock, JwksCache]) -> None:
    upstream, clock, cache = world
    cache.keys(ISSUER, upstream.idp.keyring.active.kid)
    upstream.mode = "down"
    clock.t += 11
    with pytest.raises(IDPCommunicationError):
        cache.keys(ISSUER, "rotated-while-down")


def test_garbage_jwks_never_replaces_good_keys(world: tuple[Upstream, StepClock, JwksCache]) -> None:
    upstream, clock, cache = world
    kid = upstream.idp.keyring.active.kid
    cache.keys(ISSUER, kid)
    upstream.mode = "garbage"
    clock.t += 11
    cache.refresh(ISSUER)
    assert kid in cache.keys(ISSUER, kid)


def test_idp_down_at_start_is_retried_by_prefetch() -> None:
    upstream, clock = Upstream(idp()), StepClock()
    upstream.mode = "down"
    cache = _cache(upstream, clock)
    cache.prefetch([ISSUER])
    assert cache.health()[ISSUER]["status"] == "down"
    upstream.mode = "ok"
    cache.prefetch([ISSUER])  # the background pass is not rate-limited
    assert cache.health()[ISSUER]["status"] == "ok"
    kid = upstream.idp.keyring.active.kid
    assert kid in cache.keys(ISSUER, kid)


def test_background_refresher_starts_and_stops() -> None:
    upstream, clock = Upstream(idp()), StepClock()
    cache = _cache(upstream, clock)
    cache.start(lambda: [ISSUER], interval=0.01)
    try:
        for _ in range(200):
            if cache.health().get(ISSUER, {}).get("status") == "ok":
                break
            threading.Event().wait(0.01)
    finally:
        cache.stop()
    assert cache.health()[ISSUER]["status"] == "ok"


def test_fetcher_refuses_http_without_opt_in_and_wrong_discovery_issuer() -> None:
    upstream = Upstream(idp(issuer="http://127.0.0.1:9"))
    fetcher = HttpJwksFetcher(transport=httpx.MockTransport(upstream))
    with pytest.raises(FetchError, match="BROKER_ALLOW_HTTP_ISSUERS"):
        fetcher.fetch("http://127.0.0.1:9")
    allowed = HttpJwksFetcher(allow_http=True, transport=httpx.MockTransport(upstream))
    assert allowed.fetch("http://127.0.0.1:9").max_age == 600
    with pytest.raises(FetchError, match="names issuer"):
        allowed.fetch("http://127.0.0.1:9/")  # trailing-slash variant: discovery says otherwise
