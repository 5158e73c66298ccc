"""Building the OIDC key cache and the web-identity services for one app, and reporting their health.

``create_app`` calls :func:`build_web_identity` once; the cache's background refresher fetches every
registered issuer (read from the store each pass, so providers created later are picked up), and
:class:`JwksHealthCollector` exposes per-issuer health as Prometheus gauges
(``broker_oidc_jwks_up{issuer}``, ``broker_oidc_jwks_keys{issuer}``, ``broker_oidc_jwks_fetch_failures_total{issuer}``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from broker.clock import Clock
from broker.config import Settings
from broker.federation.oidc.fetch import HttpJwksFetcher
from broker.federation.oidc.jwks import JwksCache, ProviderKeys
from broker.federation.oidc.verify import Rules
from broker.service.ports import Store
from broker.service.web_identity import Keyring, WebIdentityServices

__all__ = ["JwksHealthCollector", "build_web_identity", "registered_issuers"]


def build_web_identity(settings: Settings, clock: Clock, keyring: Keyring) -> tuple[WebIdentityServices, JwksCache]:
    """The services behind AssumeRoleWithWebIdentity, token exchange and OIDC login."""
    fetcher = HttpJwksFetcher(allow_http=settings.allow_http_issuers, ca_bundle=settings.ca_bundle)
    cache = JwksCache(fetcher, clock, min_refetch_seconds=float(getattr(settings, "oidc_min_refetch_seconds", 10)))
    rules = Rules(
        skew_seconds=settings.clock_skew_seconds,
        max_age_seconds=int(getattr(settings, "oidc_max_token_age_seconds", 86_400)),
    )
    return WebIdentityServices(keyring=keyring, keys=cache, rules=rules), cache


def registered_issuers(store: Store) -> list[ProviderKeys]:
    """Every registered OIDC provider, with its thumbprints and pinned JWKS (for the background refresher,
    which fetches under the thumbprints and never fetches a pinned provider)."""
    with store.transaction() as tx:
        return list(tx.providers.list_oidc())


class JwksHealthCollector(Collector):
    """Per-issuer JWKS health as Prometheus metrics."""

    def __init__(self, cache: JwksCache) -> None:
        self.cache = cache

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily(
            "broker_oidc_jwks_up", "1 when the issuer's keys are fresh or pinned", labels=["issuer"]
        )
        keys = GaugeMetricFamily("broker_oidc_jwks_keys", "usable keys held for the issuer", labels=["issuer"])
        failures = CounterMetricFamily(
            "broker_oidc_jwks_fetch_failures", "failed JWKS fetches for the issuer", labels=["issuer"]
        )
        for issuer, health in self.cache.health().items():
            up.add_metric([issuer], 1.0 if health["status"] in ("ok", "pinned") else 0.0)
            keys.add_metric([issuer], float(health["keys"]))
            failures.add_metric([issuer], float(health["failures"]))
        yield up
        yield keys
        yield failures
