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
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["CACHED_TOPICS", "ChangeGatedCache", "LookupView"]

T = TypeVar("T")

CACHED_TOPICS = ("iam", "providers")


class ChangeGatedCache:
    """Lookups keyed by any hashable, dropped whenever one of ``topics``' change counters moves."""

    def __init__(self, topics: tuple[str, ...] = CACHED_TOPICS, *, max_entries: int = 4096) -> None:
        self.topics = topics
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._stamp: tuple[int, ...] | None = None
        self._entries: dict[Hashable, Any] = {}
        self.loads = 0
        """How many lookups went to the store (for tests and benchmarks)."""

    def view(self, tx: Any) -> LookupView:
        """The cache as seen by transaction ``tx``: reads its change counters once."""
        counters = tx.security.counters()
        stamp = tuple(int(counters.get(topic, 0)) for topic in self.topics)
        with self._lock:
            current = self._stamp
            if current != stamp:
                if current is not None and any(s < c for s, c in zip(stamp, current, strict=True)):
                    return LookupView(self, stamp, usable=False)  # an older snapshot: bypass the cache
                self._stamp = stamp
                self._entries = {}
        return LookupView(self, stamp, usable=True)

    def clear(self) -> None:
        with self._lock:
            self._stamp = None
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
