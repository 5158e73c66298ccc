"""Fetching an issuer's discovery document and JWKS over HTTP(S): the network side of the key cache.

OpenID Connect Discovery 1.0 §4 (https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig):
the configuration is at ``ISSUER/.well-known/openid-configuration`` (the issuer's trailing ``/`` removed
first) and its ``issuer`` must equal the issuer exactly (§4.3); ``jwks_uri`` names the JWK Set.

Hardening (issue 5 item 1): TLS verified against the system store plus ``BROKER_CA_BUNDLE``;
``http://`` only with ``BROKER_ALLOW_HTTP_ISSUERS=1``; connect/read timeouts and an overall deadline per
document; a response size limit enforced while streaming; redirects followed only within the same
scheme, host and port (at most :data:`MAX_REDIRECTS`). Every failure is a :class:`FetchError` with a
reason the cache records in the issuer's health.

Thumbprints (``fetch(issuer, thumbprints=…)``, the provider's ``ThumbprintList``): every response, redirect
hops included, must come over a verified TLS connection whose chain holds a listed certificate
(``federation.oidc.thumbprints``); otherwise the fetch fails before its body is read.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from broker.federation.oidc.thumbprints import chain_thumbprints, matching_thumbprint, normalize

__all__ = ["FetchError", "Fetched", "HttpJwksFetcher", "cache_max_age"]

MAX_REDIRECTS = 3
MAX_BYTES = 256 * 1024


class FetchError(Exception):
    """Discovery or JWKS could not be fetched; ``str()`` is the reason (no secrets: URLs only)."""


@dataclass(frozen=True)
class Fetched:
    """A fetched JWK Set document and how long it may be cached (``None``: no ``Cache-Control`` given)."""

    document: Any
    max_age: int | None
    jwks_uri: str
    matched: frozenset[str] = frozenset()
    """The registered thumbprints the discovery and JWKS connections matched (empty: none were registered)."""


_MAX_AGE = re.compile(r"(?:^|,)\s*(s-maxage|max-age)\s*=\s*\"?(\d+)\"?", re.IGNORECASE)


def cache_max_age(header: str | None) -> int | None:
    """Seconds from ``Cache-Control`` (RFC 9111 §5.2.2): ``no-store``/``no-cache`` → 0; else ``max-age``."""
    if not header:
        return None
    lowered = header.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return 0
    found = {m.group(1).lower(): int(m.group(2)) for m in _MAX_AGE.finditer(header)}
    return found.get("s-maxage", found.get("max-age"))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


class HttpJwksFetcher:
    """Discovery, then JWKS, with httpx. ``transport`` lets tests use ``httpx.MockTransport``."""

    def __init__(
        self,
        *,
        allow_http: bool = False,
        ca_bundle: Path | None = None,
        timeout: float = 3.0,
        deadline: float = 8.0,
        max_bytes: int = MAX_BYTES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.allow_http = allow_http
        self.deadline = deadline
        self.max_bytes = max_bytes
        verify: ssl.SSLContext | bool = True
        if ca_bundle is not None:
            context = ssl.create_default_context()
            context.load_verify_locations(cafile=str(ca_bundle))
            verify = context
        self.client = httpx.Client(
            verify=verify,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "broker-oidc/1"},
        )

    def close(self) -> None:
        self.client.close()

    def _check_scheme(self, url: str) -> None:
        scheme = urlsplit(url).scheme
        if scheme == "https" or (scheme == "http" and self.allow_http):
            return
        raise FetchError(f"refusing {scheme or 'schemeless'} URL {url} (http needs BROKER_ALLOW_HTTP_ISSUERS=1)")

    @staticmethod
    def _check_pins(response: httpx.Response, url: str, pins: frozenset[str]) -> str:
        """The listed thumbprint this response's TLS chain holds; ``FetchError`` when none (fail closed)."""
        stream = response.extensions.get("network_stream")
        ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
        if ssl_object is None:
            raise FetchError(f"{url}: the provider has thumbprints but the connection is not TLS")
        seen = chain_thumbprints(ssl_object)
        if not seen:
            raise FetchError(f"{url}: the provider has thumbprints but the certificate chain could not be read")
        matched = matching_thumbprint(seen, pins)
        if matched is None:
            raise FetchError(f"{url}: no certificate of the chain matches the provider's thumbprints "
                             f"(chain: {', '.join(seen)})")
        return matched

    def get_json(self, url: str, pins: frozenset[str] = frozenset()) -> tuple[Any, httpx.Headers, set[str]]:
        """GET ``url`` as JSON within the size limit, the deadline, the redirect rules and, when ``pins`` is
        not empty, the thumbprint rule; also returns the thumbprints matched along the way."""
        started = time.monotonic()
        current = url
        matched: set[str] = set()
        for _ in range(MAX_REDIRECTS + 1):
            self._check_scheme(current)
            try:
                with self.client.stream("GET", current) as response:
                    if pins:
                        matched.add(self._check_pins(response, current, pins))
                    if response.is_redirect:
                        target = urljoin(current, response.headers.get("location", ""))
                        if _origin(target) != _origin(current):
                            raise FetchError(f"{current} redirects to another origin ({_origin(target)[1]})")
                        current = target
                        continue
                    if response.status_code != 200:
                        raise FetchError(f"{current} answered HTTP {response.status_code}")
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > self.max_bytes:
                        raise FetchError(f"{current} is larger than {self.max_bytes} bytes")
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body.extend(chunk)
                        if len(body) > self.max_bytes:
                            raise FetchError(f"{current} is larger than {self.max_bytes} bytes")
                        if time.monotonic() - started > self.deadline:
                            raise FetchError(f"{current} took longer than {self.deadline} s")
                    headers = response.headers
            except httpx.TimeoutException:
                raise FetchError(f"{current} timed out") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"{current} failed: {type(exc).__name__}") from None
            try:
                return json.loads(bytes(body)), headers, matched
            except (ValueError, UnicodeDecodeError):
                raise FetchError(f"{current} did not return JSON") from None
        raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")

    def fetch(self, issuer: str, thumbprints: Collection[str] = ()) -> Fetched:
        """The issuer's JWK Set via its discovery document (both pinned to ``thumbprints`` when given)."""
        pins = normalize(thumbprints)
        discovery, _, matched = self.get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", pins)
        if not isinstance(discovery, dict):
            raise FetchError("the discovery document is not a JSON object")
        if discovery.get("issuer") != issuer:
            raise FetchError(f"the discovery document names issuer {discovery.get('issuer')!r}, not {issuer!r}")
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise FetchError("the discovery document has no jwks_uri")
        document, headers, jwks_matched = self.get_json(jwks_uri, pins)
        return Fetched(document, cache_max_age(headers.get("cache-control")), jwks_uri,
                       frozenset(matched | jwks_matched))
