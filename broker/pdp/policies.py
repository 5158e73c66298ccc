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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from broker import policy
from broker.policy.model import normalize_context
from broker.principal import CallContext, Principal
from broker.service.authorize import PolicyAuthorizer, _merge_tags, request_context
from broker.service.ports import Store

__all__ = ["PER_CALL_KEYS", "CachingAuthorizer", "Prepared", "policy_key", "time_keys"]

_Entry = tuple[int, policy.PolicySet, Mapping[str, str]]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

PER_CALL_KEYS = frozenset({
    "aws:CurrentTime", "aws:EpochTime", "aws:SourceIp", "aws:SecureTransport", "aws:RequestedRegion",
    "aws:UserAgent", "aws:MultiFactorAuthAge",
})
"""The keys of :func:`broker.service.authorize.request_context` that depend on the call, not the principal."""


_PER_CALL_NAMES = frozenset(key.lower() for key in PER_CALL_KEYS)
_SECONDS: dict[int, tuple[str, str]] = {}


def time_keys(now: datetime) -> tuple[str, str]:
    """``aws:CurrentTime`` and ``aws:EpochTime`` for ``now``, as ``normalize_context(request_context(…))`` has them.

    The whole second's text is memoised (a few recent seconds: calls arriving in the same second share
    it); the microseconds are formatted per call. Other time zones and instants before 1970 format in full.
    """
    epoch = int(now.timestamp())
    if now.tzinfo is not UTC or epoch <= 0:
        return now.isoformat().replace("+00:00", "Z"), str(epoch)
    second = _SECONDS.get(epoch)
    if second is None:
        if len(_SECONDS) >= 64:
            _SECONDS.clear()
        second = (now.replace(microsecond=0).isoformat()[:-6], str(epoch))  # minus "+00:00"
        _SECONDS[epoch] = second
    micro = now.microsecond
    return (f"{second[0]}.{micro:06d}Z" if micro else f"{second[0]}Z"), second[1]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A principal's policy set and the principal-only part of its request context, already normalized.

    Valid while ``generation`` is the authorizer's generation (:meth:`CachingAuthorizer.prepare`).
    ``tags`` are the principal's tags (entity tags overridden by session tags) for the general merge;
    ``exact`` says the static keys stay distinct once lower-cased and none is a per-call key, which is
    what lets :meth:`CachingAuthorizer.decide_normalized` merge already-normalised parts.
    """

    generation: int
    policies: policy.PolicySet
    static_context: dict[str, tuple[str, ...] | str]
    tags: Mapping[str, str] = field(default_factory=dict)
    exact: bool = False


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
        pset, entity_tags = self._policy_set(principal)
        tags = _merge_tags(entity_tags, principal.tags)
        full = request_context(CallContext(request_id="", now=_EPOCH), principal, tags)
        raw = {k: v for k, v in full.items() if k not in PER_CALL_KEYS}
        static = normalize_context(raw)
        # A carried key spelled like a per-call key would overwrite it in request_context: general merge then.
        exact = len(static) == len(raw) and not (static.keys() & _PER_CALL_NAMES) and not any(
            key.lower() in _PER_CALL_NAMES for key in principal.federated_keys)
        return Prepared(generation, pset, static, tags, exact)

    def decide_prepared(
        self,
        prepared: Prepared,
        call: CallContext,
        principal: Principal,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None = None,
    ) -> policy.Decision:
        """The same decision as :meth:`decide`, from a :class:`Prepared` principal."""
        return self.decide_normalized(prepared, principal, action, resource, context, call.now, call.source_ip,
                                      call.user_agent, call.secure_transport, call.region)

    def decide_normalized(
        self,
        prepared: Prepared,
        principal: Principal,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None,
        now: datetime,
        source_ip: str,
        user_agent: str,
        secure_transport: bool,
        region: str,
    ) -> policy.Decision:
        """:meth:`decide` from a :class:`Prepared` principal and the call's facts (the hot path).

        The context is the prepared static part (normalised once per session) plus only the per-call keys
        of ``request_context`` (``PER_CALL_KEYS``), written in normalised form, plus ``context`` normalised
        on its own; the request is built with :meth:`broker.policy.Request.from_normalized`, so no key is
        normalised twice. Merging normalised parts gives what normalising the merged context gives unless
        a key is spelled twice or set to ``None`` (``context`` shrinks when normalised) or the prepared
        keys collide (``Prepared.exact``); those take the general merge. Unit tests hold the two equal.
        """
        if not prepared.exact or secure_transport.__class__ is not bool:
            return self._decide_merged(prepared, principal, action, resource, context, now, source_ip, user_agent,
                                       secure_transport, region)
        ctx = prepared.static_context.copy()
        ctx["aws:currenttime"], ctx["aws:epochtime"] = time_keys(now)
        ctx["aws:sourceip"] = source_ip
        ctx["aws:securetransport"] = "true" if secure_transport else "false"
        ctx["aws:requestedregion"] = region
        if user_agent:
            ctx["aws:useragent"] = user_agent
        if principal.mfa_authenticated_at is not None:
            ctx["aws:multifactorauthage"] = str(max(0, int((now - principal.mfa_authenticated_at).total_seconds())))
        if context:
            extra = normalize_context(context)
            if len(extra) != len(context):
                return self._decide_merged(prepared, principal, action, resource, context, now, source_ip,
                                           user_agent, secure_transport, region)
            ctx.update(extra)
        return policy.evaluate(policy.Request.from_normalized(action, resource, ctx), prepared.policies)

    def _decide_merged(
        self,
        prepared: Prepared,
        principal: Principal,
        action: str,
        resource: str,
        context: Mapping[str, Any] | None,
        now: datetime,
        source_ip: str,
        user_agent: str,
        secure_transport: bool,
        region: str,
    ) -> policy.Decision:
        """The general merge: ``request_context`` updated with ``context``, normalised as a whole."""
        call = CallContext(request_id="", now=now, principal=principal, source_ip=source_ip, user_agent=user_agent,
                           secure_transport=secure_transport, region=region)
        merged = request_context(call, principal, prepared.tags)
        if context:
            merged.update(context)
        return policy.evaluate(policy.Request(action, resource, merged), prepared.policies)

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
