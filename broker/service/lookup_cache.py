"""A per-node read cache for store lookups, valid while the store's change counters stand still.

Every change to IAM bumps the ``iam`` counter in the changing transaction (``service/dispatch.py``), every
OIDC/SAML provider change bumps ``providers`` (``store/sqlalchemy/repositories/providers.py``). A
transaction that wants cached lookups first reads those counters (one small ``SELECT``): when they moved,
the cache is emptied and refilled from the store. A change therefore takes effect on every node at its
next request, with no poller and no hook: this reuses the counter mechanism the PDP refresher polls
(``pdp/local.py``), read per transaction instead of per interval.

Why this is safe:

- the counters are read *before* the lookups of the same transaction, so a value is never older than
  the stamp it is filed under (a newer value only causes one extra reload);
- a change commits its rows and its counter bump atomically, and bumps of one topic commit in order
  (``repositories/security.py``), so a stamp that did not move means the rows did not change;
- a transaction that sees *older* counters than the cache (a slow reader on PostgreSQL) neither reads
  nor fills the cache; absent values are never cached (a new provider is found at once);
- values are frozen records or tuples, shared read-only between threads.

Bounded staleness (``max_staleness`` seconds, 0 by default): a node may reuse the counters it read less
than ``max_staleness`` ago instead of reading them again, so that a request whose lookups are all cached
touches no store at all (the event-loop path of AssumeRoleWithWebIdentity, ``service/fast_path.py``).
A change made on another node then takes effect here within ``max_staleness`` (AWS IAM itself is
eventually consistent; docs/compatibility.md); a change made through this node's dispatcher calls
:meth:`ChangeGatedCache.expire` (the ``on_iam_change`` hook), so the next request reads the counters.
Such a node reads the counters again ahead of time, off the request path, once they are half that old
(:meth:`ChangeGatedCache.refresh`, run by the dispatcher after an answer; ``service/dispatch.py``), so that
requests do not find them expired and take the general path once a second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["CACHED_TOPICS", "NODE_STALENESS_SECONDS", "ChangeGatedCache", "LookupView"]

T = TypeVar("T")

CACHED_TOPICS = ("iam", "providers")
NODE_STALENESS_SECONDS = 1.0
"""How long a running broker reuses the change counters it read (``create_app`` wiring; docs/compatibility.md)."""


class ChangeGatedCache:
    """Lookups keyed by any hashable, dropped whenever one of ``topics``' change counters moves."""

    def __init__(
        self,
        topics: tuple[str, ...] = CACHED_TOPICS,
        *,
        max_entries: int = 4096,
        max_staleness: float = 0.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topics = topics
        self.max_entries = max_entries
        self.max_staleness = max_staleness
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._stamp: tuple[int, ...] | None = None
        self._read_at: float | None = None
        """When the counters behind ``_stamp`` were read (``monotonic``); ``None``: read them next time."""
        self._expiries = 0
        """Bumped by :meth:`expire`: a read that started before an expiry does not count as fresh."""
        self._entries: dict[Hashable, Any] = {}
        self.loads = 0
        """How many lookups went to the store (for tests and benchmarks)."""
        self.counter_reads = 0
        """How many times the change counters were read (for tests and benchmarks)."""

    def fresh_view(self) -> LookupView | None:
        """A view on the counters read less than ``max_staleness`` ago, or ``None`` when they must be read."""
        if self.max_staleness <= 0:
            return None
        now = self.monotonic()
        with self._lock:
            read_at, stamp = self._read_at, self._stamp
            if stamp is None or read_at is None or not 0 <= now - read_at < self.max_staleness:
                return None
        return LookupView(self, stamp, usable=True)

    def age(self) -> float | None:
        """Seconds since the counters in use were read; ``None`` when they must be read at the next view."""
        with self._lock:
            read_at = self._read_at if self._stamp is not None else None
        return None if read_at is None else self.monotonic() - read_at

    def view(self, tx: Any) -> LookupView:
        """The cache as seen by transaction ``tx``: reads its change counters once (or reuses the ones read
        less than ``max_staleness`` ago)."""
        fresh = self.fresh_view()
        if fresh is not None:
            return fresh
        return self.refresh(tx)

    def refresh(self, tx: Any) -> LookupView:
        """Read the change counters in transaction ``tx`` now, fresh or not (what :meth:`view` does when they
        are too old)."""
        read_at = self.monotonic()  # before the read: the bound runs from when the counters were current
        expiries = self._expiries
        counters = tx.security.counters()
        stamp = tuple(int(counters.get(topic, 0)) for topic in self.topics)
        with self._lock:
            self.counter_reads += 1
            current = self._stamp
            if current != stamp:
                if current is not None and any(s < c for s, c in zip(stamp, current, strict=True)):
                    return LookupView(self, stamp, usable=False)  # an older snapshot: bypass the cache
                self._stamp = stamp
                self._entries = {}
            if expiries == self._expiries:  # no local change committed while we read
                self._read_at = read_at
        return LookupView(self, stamp, usable=True)

    def expire(self) -> None:
        """Read the counters at the next view (a change was just committed through this node)."""
        with self._lock:
            self._read_at = None
            self._expiries += 1

    def clear(self) -> None:
        with self._lock:
            self._stamp = None
            self._read_at = None
            self._entries = {}

    def _get(self, stamp: tuple[int, ...], key: Hashable) -> tuple[bool, Any]:
        with self._lock:
            if self._stamp != stamp or key not in self._entries:
                return False, None
            return True, self._entries[key]

    def _put(self, stamp: tuple[int, ...], key: Hashable, value: Any) -> None:
        with self._lock:
            if self._stamp != stamp:
                return
            if len(self._entries) >= self.max_entries:
                self._entries = {}
            self._entries[key] = value


class LookupView:
    """One transaction's use of a :class:`ChangeGatedCache`."""

    def __init__(self, cache: ChangeGatedCache, stamp: tuple[int, ...], *, usable: bool) -> None:
        self._cache = cache
        self.stamp = stamp
        self.usable = usable

    def get(self, key: Hashable, load: Callable[[], T | None]) -> T | None:
        """The cached value for ``key``, or ``load()`` (cached unless it is ``None``)."""
        if self.usable:
            hit, value = self._cache._get(self.stamp, key)
            if hit:
                return value  # type: ignore[no-any-return]
        self._cache.loads += 1
        loaded = load()
        if loaded is not None and self.usable:
            self._cache._put(self.stamp, key, loaded)
        return loaded
