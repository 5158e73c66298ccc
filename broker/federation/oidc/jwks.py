"""Per-issuer JWKS cache: fresh keys when possible, last-known-good keys when the IdP is down.

Rules (issue 5 item 2; OpenID Connect Core 1.0 §10.1.1 "Rotation of Asymmetric Signing Keys": a verifier
refetches the JWK Set when it meets an unknown ``kid``):

- an entry lives for the JWKS response's ``Cache-Control`` ``max-age`` clamped to
  [``min_ttl``, ``max_ttl``], or ``default_ttl`` without one;
- an unknown ``kid`` triggers a refetch, **rate-limited** (at most one attempt per issuer every
  ``min_refetch_seconds``) and **single-flight** (one fetch per issuer however many requests wait: the
  waiters reuse its result). A flood of tokens with invented ``kid`` values costs one fetch;
- an expired entry is refreshed on use; if the refresh fails the **last-known-good** keys are served and
  the issuer's health says ``stale``; a garbage answer never replaces good keys;
- ``IDPCommunicationError`` (which SDKs retry) is raised only when no usable key exists: nothing was ever
  fetched for the issuer, or the token's ``kid`` is unknown and the latest attempt failed;
- :meth:`JwksCache.start` runs a background refresher that fetches every registered issuer, retrying
  failures with backoff, so an IdP that is down at start-up does not disable its provider;
- :meth:`JwksCache.health` is the per-issuer state for ``/readyz`` and metrics.

Pinning (the provider record, passed by the caller as ``provider``; SPEC.md §2 "optional thumbprints or pinned
JWKS"):

- a provider with a **pinned JWKS** (``pinned_jwks``, set by an administrator) is never fetched: its keys are
  that document, parsed once per distinct document; a ``kid`` outside it is refused, never refetched;
- a provider with **thumbprints** is fetched only over TLS whose chain holds a listed certificate
  (``fetch.py``); keys fetched before the list was set, or through a thumbprint no longer listed, are not
  used (a refetch under the current list is needed; until it succeeds, ``IDPCommunicationError``).
  Last-known-good keys fetched under a thumbprint still listed are served as above when a refetch fails.

Time comes from the injected clock (``Clock.monotonic`` for ages, ``Clock.now`` for reports).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from broker.clock import Clock
from broker.errors import IDPCommunicationError
from broker.federation.oidc.fetch import Fetched, FetchError
from broker.federation.oidc.keys import KeySet, parse_jwks
from broker.federation.oidc.thumbprints import normalize

__all__ = ["IssuerHealth", "JwksCache", "JwksFetcher", "ProviderKeys"]

_log = logging.getLogger("broker.oidc")
UNREACHABLE = "Couldn't retrieve verification key from your identity provider"
Status = Literal["unknown", "ok", "stale", "down", "pinned"]


class JwksFetcher(Protocol):
    def fetch(self, issuer: str, thumbprints: Collection[str] = ()) -> Fetched: ...


class ProviderKeys(Protocol):
    """What the cache reads from a registered OIDC provider (``OidcProviderRecord`` in production)."""

    @property
    def url(self) -> str: ...

    @property
    def thumbprints(self) -> Sequence[str]: ...

    @property
    def pinned_jwks(self) -> str | None: ...


@dataclass
class IssuerHealth:
    """What the cache knows about one issuer."""

    status: Status = "unknown"
    keys: int = 0
    last_success: datetime | None = None
    last_error: str | None = None
    fetches: int = 0
    failures: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "keys": self.keys,
            "last_success": self.last_success.isoformat() if self.last_success else None,
            "last_error": self.last_error,
            "fetches": self.fetches,
            "failures": self.failures,
        }


@dataclass
class _Entry:
    keyset: KeySet | None = None
    expires: float = 0.0
    last_attempt: float | None = None
    last_failed: bool = False
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    health: IssuerHealth = field(default_factory=IssuerHealth)
    pins: tuple[str, ...] = ()
    """The thumbprint list :attr:`keyset` was last found valid for (``()``: none registered)."""
    matched: frozenset[str] = frozenset()
    """The thumbprints the fetch of :attr:`keyset` matched."""
    pinned: tuple[str, KeySet] | None = None
    """The last pinned JWKS document seen for the issuer and its parsed keys."""


class JwksCache:
    """The :class:`~broker.service.web_identity.KeySource` used in production."""

    def __init__(
        self,
        fetcher: JwksFetcher,
        clock: Clock,
        *,
        default_ttl: int = 300,
        min_ttl: int = 60,
        max_ttl: int = 86_400,
        min_refetch_seconds: float = 10.0,
    ) -> None:
        self.fetcher = fetcher
        self.clock = clock
        self.default_ttl = default_ttl
        self.min_ttl = min_ttl
        self.max_ttl = max_ttl
        self.min_refetch_seconds = min_refetch_seconds
        self._entries: dict[str, _Entry] = {}
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _entry(self, issuer: str) -> _Entry:
        with self._guard:
            entry = self._entries.get(issuer)
            if entry is None:
                entry = self._entries[issuer] = _Entry()
            return entry

    def _ttl(self, max_age: int | None) -> int:
        if max_age is None:
            return self.default_ttl
        return max(self.min_ttl, min(self.max_ttl, max_age))

    def refresh(self, issuer: str, *, rate_limited: bool = True, thumbprints: Sequence[str] = ()) -> bool:
        """Fetch ``issuer``'s keys (pinned to ``thumbprints`` when given) unless another thread just did, or
        the rate limit says wait.

        Returns whether the cache now holds keys from a successful fetch made for this call or a
        concurrent one.
        """
        entry = self._entry(issuer)
        seen = entry.attempts
        with entry.lock:
            if entry.attempts != seen:  # single flight: a concurrent caller fetched while we waited
                return not entry.last_failed
            now = self.clock.monotonic()
            if rate_limited and entry.last_attempt is not None and now - entry.last_attempt < self.min_refetch_seconds:
                return False
            entry.last_attempt = now
            entry.attempts += 1
            entry.health.fetches += 1
            try:
                fetched = (self.fetcher.fetch(issuer, thumbprints=tuple(thumbprints)) if thumbprints
                           else self.fetcher.fetch(issuer))
                if thumbprints and not fetched.matched:  # a fetcher that did not check them: fail closed
                    raise FetchError(f"{issuer}: the fetch did not check the provider's thumbprints")
                keyset = parse_jwks(fetched.document)
            except (FetchError, ValueError) as exc:
                entry.last_failed = True
                entry.health.failures += 1
                entry.health.last_error = str(exc)
                entry.health.status = "stale" if entry.keyset is not None else "down"
                _log.warning("JWKS fetch for %s failed: %s", issuer, exc)
                return False
            entry.keyset = keyset
            entry.pins, entry.matched = tuple(thumbprints), fetched.matched
            entry.expires = now + self._ttl(fetched.max_age)
            entry.last_failed = False
            entry.health.status = "ok"
            entry.health.keys = len(keyset.keys)
            entry.health.last_success = self.clock.now()
            entry.health.last_error = "; ".join(keyset.skipped) or None
            return True

    @staticmethod
    def _pins_hold(entry: _Entry, thumbprints: tuple[str, ...]) -> bool:
        """Whether the entry's fetched keys may be used under the provider's current thumbprint list."""
        if entry.pins == thumbprints:
            return True
        if thumbprints and not (entry.matched and entry.matched <= normalize(thumbprints)):
            return False
        entry.pins = thumbprints  # the keys came through a thumbprint that is still listed (or none is needed)
        return True

    def _pinned(self, issuer: str, document: str) -> KeySet:
        """The keys of an administrator-pinned JWKS (parsed once per distinct document); never fetched."""
        entry = self._entry(issuer)
        pinned = entry.pinned
        if pinned is not None and (pinned[0] is document or pinned[0] == document):
            return pinned[1]
        try:
            keyset = parse_jwks(json.loads(document))
        except ValueError as exc:  # validated when pinned; a damaged row fails closed
            entry.health.status, entry.health.last_error = "down", f"pinned JWKS unusable: {exc}"
            raise IDPCommunicationError(UNREACHABLE, detail=f"pinned JWKS of {issuer} unusable: {exc}") from None
        entry.pinned = (document, keyset)
        entry.health.status, entry.health.keys = "pinned", len(keyset.keys)
        entry.health.last_error = "; ".join(keyset.skipped) or None
        return keyset

    def keys(self, issuer: str, kid: str, provider: ProviderKeys | None = None) -> KeySet:
        """The issuer's key set, refreshed if stale or if ``kid`` is unknown (see module rules).

        ``provider``: the registered provider, whose pinned JWKS or thumbprints apply; callers that have it
        must pass it (without it, neither can be enforced).
        """
        thumbprints: tuple[str, ...] = ()
        if provider is not None:
            if provider.pinned_jwks is not None:
                return self._pinned(issuer, provider.pinned_jwks)
            thumbprints = tuple(provider.thumbprints)
        entry = self._entry(issuer)
        keyset = entry.keyset
        if (keyset is not None and kid in keyset and self.clock.monotonic() < entry.expires
                and self._pins_hold(entry, thumbprints)):
            return keyset
        self.refresh(issuer, thumbprints=thumbprints)
        keyset = entry.keyset
        if keyset is None:
            raise IDPCommunicationError(
                UNREACHABLE, detail=f"no keys for {issuer}: {entry.health.last_error or 'never fetched'}"
            )
        if not self._pins_hold(entry, thumbprints):
            raise IDPCommunicationError(
                UNREACHABLE, detail=f"no keys for {issuer} fetched under its current thumbprints: "
                f"{entry.health.last_error or 'refetch rate-limited'}"
            )
        if kid not in keyset and entry.last_failed:
            raise IDPCommunicationError(
                UNREACHABLE, detail=f"kid {kid!r} unknown and the latest fetch failed: {entry.health.last_error}"
            )
        return keyset

    def health(self) -> dict[str, dict[str, Any]]:
        with self._guard:
            items = list(self._entries.items())
        return {issuer: entry.health.as_dict() for issuer, entry in items}

    def prefetch(self, issuers: Iterable[str | ProviderKeys]) -> None:
        """Fetch every issuer that has no fresh keys (the background refresher's one pass).

        Providers (not bare URLs) carry their pins: a pinned-JWKS provider is skipped (never fetched), a
        provider with thumbprints is fetched under them.
        """
        for item in issuers:
            issuer: str
            thumbprints: tuple[str, ...]
            if isinstance(item, str):
                issuer, thumbprints = item, ()
            elif item.pinned_jwks is not None:
                self._pinned(item.url, item.pinned_jwks)
                continue
            else:
                issuer, thumbprints = item.url, tuple(item.thumbprints)
            entry = self._entry(issuer)
            if (entry.keyset is None or entry.last_failed or self.clock.monotonic() >= entry.expires
                    or not self._pins_hold(entry, thumbprints)):
                self.refresh(issuer, rate_limited=False, thumbprints=thumbprints)

    def start(self, issuers: Callable[[], Iterable[str | ProviderKeys]], *, interval: float = 5.0) -> None:
        """Run :meth:`prefetch` over ``issuers()`` in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.prefetch(issuers())
                except Exception:  # the refresher must survive a store hiccup
                    _log.exception("JWKS background refresh failed")
                self._stop.wait(interval)

        self._thread = threading.Thread(target=loop, name="broker-jwks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
