"""Thumbprint pinning over a real TLS server on loopback, and pinned JWKS with no network at all."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from broker.errors import IDPCommunicationError, InvalidIdentityToken
from broker.federation.oidc.fetch import MAX_BYTES, Fetched, FetchError, HttpJwksFetcher
from broker.federation.oidc.jwks import JwksCache
from broker.federation.oidc.keys import check_pinned_jwks
from idp_fixtures.oidc.idp import OidcIdp
from idp_fixtures.oidc.tls import Pki, TlsIdpServer, make_pki


class StepClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    def monotonic(self) -> float:
        return self.t


@dataclass(frozen=True)
class Provider:
    url: str
    thumbprints: tuple[str, ...] = ()
    pinned_jwks: str | None = None


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls(pki: Pki) -> Iterator[TlsIdpServer]:
    with TlsIdpServer(pki) as server:
        yield server


def _kid(server: TlsIdpServer) -> str:
    return server.idp.keyring.keys[-1].kid


# --- the fetcher -------------------------------------------------------------------------------------------

def test_top_intermediate_thumbprint_matches(tls: TlsIdpServer, pki: Pki) -> None:
    fetched = HttpJwksFetcher(ca_bundle=pki.ca_bundle).fetch(tls.issuer, [pki.thumbprints["intermediate"].upper()])
    assert fetched.matched == {pki.thumbprints["intermediate"]}
    assert fetched.document == tls.idp.jwks()


@pytest.mark.parametrize("which", ["root", "leaf"])
def test_any_certificate_of_the_verified_chain_may_be_pinned(tls: TlsIdpServer, pki: Pki, which: str) -> None:
    fetched = HttpJwksFetcher(ca_bundle=pki.ca_bundle).fetch(tls.issuer, [pki.thumbprints[which]])
    assert fetched.matched == {pki.thumbprints[which]}


def test_mismatching_thumbprint_fails_before_the_body_is_used(tls: TlsIdpServer, pki: Pki) -> None:
    with pytest.raises(FetchError, match="no certificate of the chain matches"):
        HttpJwksFetcher(ca_bundle=pki.ca_bundle).fetch(tls.issuer, ["0" * 40, "a" * 40])
    assert tls.jwks_calls == 0  # refused at discovery already


def test_without_thumbprints_tls_is_verified_as_usual(tls: TlsIdpServer, pki: Pki, tmp_path: Path) -> None:
    assert HttpJwksFetcher(ca_bundle=pki.ca_bundle).fetch(tls.issuer).matched == frozenset()
    other = make_pki(tmp_path / "other", label="other")
    with pytest.raises(FetchError, match="ConnectError"):  # an untrusted chain fails whatever the thumbprints
        HttpJwksFetcher(ca_bundle=other.ca_bundle).fetch(tls.issuer, [pki.thumbprints["intermediate"]])


def test_thumbprints_over_plain_http_fail_closed() -> None:
    idp = OidcIdp(issuer="http://idp.local")

    def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("openid-configuration"):
            return httpx.Response(200, json={"issuer": idp.issuer, "jwks_uri": f"{idp.issuer}/jwks"})
        return httpx.Response(200, json=idp.jwks())

    fetcher = HttpJwksFetcher(allow_http=True, transport=httpx.MockTransport(upstream))
    assert fetcher.fetch(idp.issuer).document == idp.jwks()
    with pytest.raises(FetchError, match="not TLS"):
        fetcher.fetch(idp.issuer, ["0" * 40])


def test_ca_bundle_from_settings_reaches_the_fetcher(tls: TlsIdpServer, pki: Pki,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from broker.clock import SystemClock
    from broker.config import Settings
    from broker.service.oidc_keys import build_web_identity

    monkeypatch.setenv("BROKER_CA_BUNDLE", str(pki.ca_bundle))
    _, cache = build_web_identity(Settings(), SystemClock(), keyring=None)  # type: ignore[arg-type]
    keys = cache.keys(tls.issuer, _kid(tls), Provider(tls.issuer, (pki.thumbprints["intermediate"],)))
    assert _kid(tls) in keys
    assert cache.health()[tls.issuer]["status"] == "ok"


# --- the cache ---------------------------------------------------------------------------------------------

def _cache(pki: Pki, clock: StepClock | None = None) -> JwksCache:
    return JwksCache(HttpJwksFetcher(ca_bundle=pki.ca_bundle), clock or StepClock(), min_refetch_seconds=10)


def test_cache_refuses_keys_behind_an_unlisted_certificate(tls: TlsIdpServer, pki: Pki) -> None:
    cache = _cache(pki)
    with pytest.raises(IDPCommunicationError) as info:
        cache.keys(tls.issuer, _kid(tls), Provider(tls.issuer, ("0" * 40,)))
    assert "no certificate of the chain matches" in info.value.detail
    assert cache.health()[tls.issuer]["status"] == "down"


def test_keys_fetched_without_pins_are_not_used_once_pins_are_set(tls: TlsIdpServer, pki: Pki) -> None:
    clock = StepClock()
    cache = _cache(pki, clock)
    kid = _kid(tls)
    assert kid in cache.keys(tls.issuer, kid, Provider(tls.issuer))
    with pytest.raises(IDPCommunicationError):  # refetch under the new list: mismatch, and no fallback
        cache.keys(tls.issuer, kid, Provider(tls.issuer, ("0" * 40,)))
    clock.t += 11
    good = Provider(tls.issuer, (pki.thumbprints["intermediate"],))
    assert kid in cache.keys(tls.issuer, kid, good)


def test_last_known_good_keys_under_a_listed_thumbprint(tls: TlsIdpServer, pki: Pki) -> None:
    clock = StepClock()
    cache = _cache(pki, clock)
    kid = _kid(tls)
    pinned = Provider(tls.issuer, (pki.thumbprints["intermediate"],))
    assert kid in cache.keys(tls.issuer, kid, pinned)
    tls.down = True
    clock.t += 10_000  # expired: the refresh fails, the keys fetched under the listed thumbprint stay usable
    assert kid in cache.keys(tls.issuer, kid, pinned)
    assert cache.health()[tls.issuer]["status"] == "stale"
    also = Provider(tls.issuer, ("1" * 40, pki.thumbprints["intermediate"]))  # a list that still holds it
    assert kid in cache.keys(tls.issuer, kid, also)
    gone = Provider(tls.issuer, ("1" * 40,))  # the thumbprint the keys came through was removed
    clock.t += 11
    with pytest.raises(IDPCommunicationError):
        cache.keys(tls.issuer, kid, gone)


def test_background_prefetch_uses_the_pins(tls: TlsIdpServer, pki: Pki) -> None:
    cache = _cache(pki)
    cache.prefetch([Provider(tls.issuer, ("0" * 40,))])
    assert cache.health()[tls.issuer]["status"] == "down"
    cache.prefetch([Provider(tls.issuer, (pki.thumbprints["intermediate"],))])
    assert cache.health()[tls.issuer]["status"] == "ok"


# --- pinned JWKS: never fetched --------------------------------------------------------------------------

class NoNetwork:
    calls = 0

    def fetch(self, issuer: str, thumbprints: Collection[str] = ()) -> Fetched:
        self.calls += 1
        raise AssertionError("a pinned provider must never be fetched")


def test_pinned_jwks_is_used_without_any_fetch() -> None:
    idp = OidcIdp(issuer="https://kubernetes.default.svc")
    fetcher = NoNetwork()
    cache = JwksCache(fetcher, StepClock())
    provider = Provider(idp.issuer, pinned_jwks=json.dumps(idp.jwks()))
    kid = idp.keyring.keys[-1].kid
    keys = cache.keys(idp.issuer, kid, provider)
    assert kid in keys
    assert cache.keys(idp.issuer, kid, provider) is keys  # parsed once per document
    with pytest.raises(InvalidIdentityToken):  # an unknown kid is refused, never refetched
        cache.keys(idp.issuer, "other-kid", provider).key_for("other-kid", "RS256")
    cache.prefetch([provider])
    assert fetcher.calls == 0
    assert cache.health()[idp.issuer]["status"] == "pinned"


def test_a_new_pinned_document_replaces_the_old_keys() -> None:
    idp = OidcIdp(issuer="https://air-gapped.example")
    cache = JwksCache(NoNetwork(), StepClock())
    first = idp.keyring.keys[-1].kid
    assert first in cache.keys(idp.issuer, first, Provider(idp.issuer, pinned_jwks=json.dumps(idp.jwks())))
    second = idp.rotate(None, retire_previous=True).kid
    keys = cache.keys(idp.issuer, second, Provider(idp.issuer, pinned_jwks=json.dumps(idp.jwks())))
    assert second in keys and first not in keys


def test_damaged_pinned_document_fails_closed() -> None:
    cache = JwksCache(NoNetwork(), StepClock())
    with pytest.raises(IDPCommunicationError):
        cache.keys("https://x.example", "k", Provider("https://x.example", pinned_jwks="{not json"))


# --- what may be pinned ------------------------------------------------------------------------------------

def test_check_pinned_jwks_accepts_a_public_jwk_set() -> None:
    jwks = OidcIdp(issuer="https://x.example", alg="ES256").jwks()
    assert json.loads(check_pinned_jwks(json.dumps(jwks), max_bytes=MAX_BYTES)) == jwks


@pytest.mark.parametrize(("doc", "reason"), [
    ("{nope", "not valid JSON"),
    ('{"keys": [], "keys": []}', "duplicate member"),
    ("[]", "not a JWK Set"),
    ('{"keys": []}', "no keys"),
    ('{"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}', "not usable"),
    ('{"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}', "no kid"),
    ('{"keys": [{"kty": "RSA", "kid": "a", "n": "xx", "e": "AQAB", "d": "xx"}]}', "private key material"),
    ('{"keys": [{"kty": "EC", "kid": "a", "crv": "P-256", "x": "AA", "y": "AA"}]}', "unusable key"),
])
def test_check_pinned_jwks_refuses(doc: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_pinned_jwks(doc, max_bytes=MAX_BYTES)


def test_check_pinned_jwks_refuses_duplicate_kids_and_oversize() -> None:
    key = OidcIdp(issuer="https://x.example").jwks()["keys"][0]
    with pytest.raises(ValueError, match="duplicate kid"):
        check_pinned_jwks(json.dumps({"keys": [key, key]}), max_bytes=MAX_BYTES)
    with pytest.raises(ValueError, match="larger than"):
        check_pinned_jwks(json.dumps({"keys": [key]}), max_bytes=100)


def test_a_fetcher_that_ignores_thumbprints_is_not_trusted() -> None:
    idp = OidcIdp(issuer="https://careless.example")

    class Careless:
        def fetch(self, issuer: str, thumbprints: Collection[str] = ()) -> Fetched:
            return Fetched(idp.jwks(), 300, f"{issuer}/jwks")  # matched nothing, yet claims success

    clock = StepClock()
    cache = JwksCache(Careless(), clock)
    kid = idp.keyring.keys[-1].kid
    with pytest.raises(IDPCommunicationError):
        cache.keys(idp.issuer, kid, Provider(idp.issuer, ("0" * 40,)))
    clock.t += 11  # past the refetch rate limit
    assert kid in cache.keys(idp.issuer, kid, Provider(idp.issuer))  # without thumbprints it is fine


def test_discovery_and_jwks_on_different_hosts_need_a_thumbprint_each(pki: Pki, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "jwks-host", label="jwks host")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki.ca_bundle.read_bytes() + other.ca_bundle.read_bytes())
    with TlsIdpServer(pki) as discovery, TlsIdpServer(other) as keys_host:
        keys_host.idp = discovery.idp  # the JWKS host publishes the issuer's keys
        discovery.jwks_uri = f"{keys_host.issuer}/jwks"
        fetcher = HttpJwksFetcher(ca_bundle=bundle)
        with pytest.raises(FetchError, match="no certificate of the chain matches"):
            fetcher.fetch(discovery.issuer, [pki.thumbprints["intermediate"]])
        assert keys_host.jwks_calls == 1  # discovery passed; the JWKS host's chain did not
        both = [pki.thumbprints["intermediate"], other.thumbprints["intermediate"]]
        fetched = fetcher.fetch(discovery.issuer, both)
        assert fetched.matched == set(both)
        assert fetched.document == discovery.idp.jwks()
