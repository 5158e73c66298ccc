"""Compiled policies held in memory per principal, refreshed by generation.

:class:`CachingAuthorizer` is broker's :class:`~broker.service.authorize.PolicyAuthorizer` (the same
evaluation, context keys, session-policy intersection and denial wording) with one difference: the
policy set of a principal is read from the store once and kept, so a decision touches no store. The
key is everything that selects the set: the principal's kind and IAM identity (user or role ARN), the
inline session policy and the session's ``PolicyArns``.

Freshness: every entry carries the *generation* it was loaded in. :meth:`CachingAuthorizer.invalidate`
starts a new generation; an entry of an older generation is reloaded on its next use (one store
transaction for that principal, then in memory again). The refresher (``broker.pdp.refresh``) calls
``invalidate`` when the store's ``iam`` change counter moves and, as a floor, every
``policy_refresh_seconds``, so a policy edit reaches every PDP within that bound.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from broker import policy
from broker.principal import Principal
from broker.service.authorize import PolicyAuthorizer
from broker.service.ports import Store

__all__ = ["CachingAuthorizer", "policy_key"]

_Entry = tuple[int, policy.PolicySet, Mapping[str, str]]


def policy_key(principal: Principal) -> tuple[Any, ...]:
    """What selects a principal's policy set (never the secret or the per-request facts)."""
    return (
        principal.kind,
        principal.identity_arn,
        principal.name if principal.kind == "user" else None,
        principal.session_policy,
        principal.session_policy_arns,
    )


class CachingAuthorizer(PolicyAuthorizer):
    """A :class:`PolicyAuthorizer` whose per-principal policy sets live in memory (bounded LRU)."""

    def __init__(self, store: Store, *, maxsize: int = 10_000) -> None:
        super().__init__(store)
        self._maxsize = maxsize
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._entries_lock = threading.Lock()
        self._generation = 0
        self.loads = 0

    def __repr__(self) -> str:
        return f"CachingAuthorizer(entries={len(self._entries)}, generation={self._generation})"

    @property
    def generation(self) -> int:
        return self._generation

    def invalidate(self) -> int:
        """Start a new generation: every held set is reloaded on its next use. Returns the generation."""
        with self._entries_lock:
            self._generation += 1
            return self._generation

    def _policy_set(self, principal: Principal) -> tuple[policy.PolicySet, Mapping[str, str]]:
        key = policy_key(principal)
        generation = self._generation
        entry = self._entries.get(key)  # dict reads are atomic; the lock guards writes and LRU order
        if entry is not None and entry[0] == generation:
            return entry[1], entry[2]
        pset, tags = super()._policy_set(principal)
        with self._entries_lock:
            self.loads += 1
            self._entries[key] = (generation, pset, tags)
            self._entries.move_to_end(key)
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
        return pset, tags
