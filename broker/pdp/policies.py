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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from broker import policy
from broker.policy.model import normalize_context
from broker.principal import CallContext, Principal
from broker.service.authorize import PolicyAuthorizer, _merge_tags, request_context
from broker.service.ports import Store

__all__ = ["PER_CALL_KEYS", "CachingAuthorizer", "Prepared", "policy_key"]

_Entry = tuple[int, policy.PolicySet, Mapping[str, str]]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

PER_CALL_KEYS = frozenset({
    "aws:CurrentTime", "aws:EpochTime", "aws:SourceIp", "aws:SecureTransport", "aws:RequestedRegion",
    "aws:UserAgent", "aws:MultiFactorAuthAge",
})
"""The keys of :func:`broker.service.authorize.request_context` that depend on the call, not the principal."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A principal's policy set and the principal-only part of its request context, already normalized.

    Valid while ``generation`` is the authorizer's generation (:meth:`CachingAuthorizer.prepare`).
    """

    generation: int
    policies: policy.PolicySet
    static_context: dict[str, tuple[str, ...] | str]


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

    def prepare(self, principal: Principal) -> Prepared:
        """The policy set and the principal's own condition keys, for :meth:`decide_prepared`."""
        generation = self._generation
        pset, tags = self._policy_set(principal)
        full = request_context(CallContext(request_id="", now=_EPOCH), principal, _merge_tags(tags, principal.tags))
        static = normalize_context({k: v for k, v in full.items() if k not in PER_CALL_KEYS})
        return Prepared(generation, pset, static)

    def decide_prepared(
        self,
        prepared: Prepared,
        call: CallContext,
        principal: Principal,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None = None,
    ) -> policy.Decision:
        """The same decision as :meth:`decide`, from a :class:`Prepared` principal (the hot path).

        Builds only the per-call keys of ``request_context`` (``PER_CALL_KEYS``); a unit test keeps the
        two in step.
        """
        now = call.now
        ctx: dict[str, Any] = dict(prepared.static_context)
        ctx["aws:currenttime"] = now
        ctx["aws:epochtime"] = str(int(now.timestamp()))
        ctx["aws:sourceip"] = call.source_ip
        ctx["aws:securetransport"] = call.secure_transport
        ctx["aws:requestedregion"] = call.region
        if call.user_agent:
            ctx["aws:useragent"] = call.user_agent
        if principal.mfa_authenticated_at is not None:
            age = max(0, int((now - principal.mfa_authenticated_at).total_seconds()))
            ctx["aws:multifactorauthage"] = str(age)
        if context:
            ctx.update(context)
        return policy.evaluate(policy.Request(action, resource, ctx), prepared.policies)

    def decide(
        self,
        call: CallContext,
        principal: Principal,
        action: str,
        resource: str,
        context: Mapping[str, Sequence[str]] | None = None,
    ) -> policy.Decision:
        return self.decide_prepared(self.prepare(principal), call, principal, action, resource, context)

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
