"""Running one operation: transaction, authorization hook, and its audit event.

The audit event of a successful call is written in the same transaction as the change it records;
a refused call writes its event in a transaction of its own after the operation's was rolled back,
so nothing but the refusal is stored (issue 2, item 8).

:meth:`Dispatcher.run_async` is the Query API's entry: operations in ``fast_path.CACHE_ONLY_ACTIONS``
that change nothing in the store are first run on the event loop from this node's caches, with their
event stored by the group-committing ``AuditWriter`` before the answer (``service/fast_path.py``,
``service/audit_writer.py``); everything else, and those operations when a cache misses, run in the
thread pool through :meth:`Dispatcher.run`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from anyio import to_thread

from broker.arn import ArnFactory
from broker.credentials.envelope import Envelope
from broker.errors import BrokerError, InternalFailure
from broker.ids import Entropy
from broker.principal import CallContext
from broker.service.audit import redact
from broker.service.audit_writer import AuditWriter, DeferredWrite
from broker.service.env import OpEnv, OpFunc
from broker.service.fast_path import CACHE_ONLY_ACTIONS, CacheOnlyUnitOfWork, WouldBlock
from broker.service.ports import Authorizer, Store

__all__ = ["IAM_COUNTER", "Dispatcher"]

#: The change counter bumped, in the same transaction, by every IAM operation that changes something.
IAM_COUNTER = "iam"
_READ_ONLY_PREFIXES = ("Get", "List", "Simulate", "Generate")


def _mutates(action: str) -> bool:
    return not action.startswith(_READ_ONLY_PREFIXES)

_log = logging.getLogger("broker.service")

AuditBuilder = Callable[
    [CallContext, str, str, Mapping[str, Any], Mapping[str, Any] | None, BrokerError | None], dict[str, Any]
]


class Dispatcher:
    """Finds an operation by action name and runs it inside a store transaction."""

    def __init__(
        self,
        *,
        store: Store,
        operations: Mapping[str, OpFunc],
        authorizer: Authorizer,
        arns: ArnFactory,
        entropy: Entropy,
        envelope: Envelope,
        audit: AuditBuilder,
        sinks: Sequence[Callable[[Mapping[str, Any]], None]] = (),
        on_iam_change: Sequence[Callable[[], object]] = (),
        writer: AuditWriter | None = None,
        cache_only_actions: frozenset[str] = CACHE_ONLY_ACTIONS,
    ) -> None:
        self.store = store
        self.operations = dict(operations)
        self.authorizer = authorizer
        self.arns = arns
        self.entropy = entropy
        self.envelope = envelope
        self.audit = audit
        self.sinks = tuple(sinks)
        self.on_iam_change = list(on_iam_change)
        self.writer = writer
        """Group-commits the events of the cache-only path; ``None``: every operation takes :meth:`run`."""
        self.cache_only_actions = cache_only_actions
        self.fallbacks = 0
        """Cache-only attempts that had to take the general path (for tests and benchmarks)."""
        self.refreshes = 0
        """Ahead-of-time cache reads run (:meth:`_refresh_ahead`; for tests and benchmarks)."""
        self._refreshing = False
        self._refresh_generation = 0
        """Bumped when a read-ahead starts and when it ends: a request that looked at the caches' ages under
        another generation asks for nothing (what it saw may have been read again meanwhile)."""
        self._refresh_future: asyncio.Future[None] | None = None

    def supports(self, action: str) -> bool:
        return action in self.operations

    async def run_async(
        self, call: CallContext, service: str, action: str, params: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """:meth:`run` for the event loop: the cache-only path when it applies, else the thread pool."""
        if self.writer is None or action not in self.cache_only_actions:
            return await to_thread.run_sync(partial(self.run, call, service, action, params))
        op = self.operations[action]
        generation = self._refresh_generation
        tx = CacheOnlyUnitOfWork()
        env = OpEnv(tx, call, self.authorizer, self.arns, self.entropy, self.envelope)
        try:
            result = op(env, params)
            event = self._event(env, call, service, action, params, result)
        except WouldBlock:  # a cache missed: the general path, carrying any write deferred so far
            self.fallbacks += 1
            return await to_thread.run_sync(partial(self.run, call, service, action, params, tuple(tx.deferred)))
        except BrokerError as error:
            await self.record_refusal_async(call, service, action, params, error)
            raise
        except Exception as exc:
            _log.exception("operation %s failed (request %s)", action, call.request_id)
            failure = InternalFailure("An internal error occurred. Please retry your request.", detail=repr(exc))
            await self.record_refusal_async(call, service, action, params, failure)
            raise failure from exc
        try:
            await self.writer.write(event, tx.deferred)
        except Exception as exc:  # not stored: the caller gets no credentials
            _log.exception("could not store the audit event of request %s", call.request_id)
            raise InternalFailure(
                "An internal error occurred. Please retry your request.", detail=f"audit write failed: {exc!r}"
            ) from exc
        self._emit(event)
        if tx.refresh and not self._refreshing and generation == self._refresh_generation:
            self._refreshing = True  # one at a time, and not again for ages seen before it; the answer does not wait
            self._refresh_generation += 1
            refresh = tuple(tx.refresh)
            try:
                self._refresh_future = asyncio.get_running_loop().run_in_executor(None, self._refresh_ahead, refresh)
            except RuntimeError:  # the executor is shutting down: the caches expire as before
                self._refreshing = False
        return result

    def _refresh_ahead(self, reads: Sequence[Callable[[Any], object]]) -> None:
        """Run the cache reads a cache-only operation asked for, in one store transaction of their own
        (``CacheOnlyUnitOfWork.refresh``): the counters and keys it used are read again before they expire,
        instead of by a request on the general path. A failure only leaves them to expire as before."""
        try:
            with self.store.transaction() as tx:
                for read in reads:
                    read(tx)
            self.refreshes += 1
        except Exception:
            _log.warning("reading caches ahead of time failed", exc_info=True)
        finally:
            self._refresh_generation += 1  # only this thread writes it while _refreshing is set
            self._refreshing = False

    async def record_refusal_async(
        self, call: CallContext, service: str, action: str, params: Mapping[str, Any], error: BrokerError
    ) -> None:
        """:meth:`record_refusal` for the event loop: through the writer, or in the thread pool without one."""
        if self.writer is None:
            await to_thread.run_sync(partial(self.record_refusal, call, service, action, params, error))
            return
        try:
            event = self.audit(call, service, action, params, None, error)
            await self.writer.write(event)
        except Exception:  # the refusal itself must still reach the caller
            _log.exception("could not record the audit event of request %s", call.request_id)
            return
        self._emit(event)

    def _event(
        self, env: OpEnv, call: CallContext, service: str, action: str, params: Mapping[str, Any],
        result: Mapping[str, Any],
    ) -> dict[str, Any]:
        event = self.audit(call, service, action, params, result, None)
        if env.audit_data:  # what the operation noted (redacted like the rest of the event)
            event["additionalEventData"] = {**event.get("additionalEventData", {}), **redact(env.audit_data)}
        return event

    def run(
        self,
        call: CallContext,
        service: str,
        action: str,
        params: Mapping[str, Any],
        deferred: Sequence[DeferredWrite] = (),
    ) -> Mapping[str, Any]:
        """Run ``action`` in one store transaction with its audit event; ``deferred`` writes (left by a
        cache-only attempt that stopped) are applied first in the same transaction."""
        op = self.operations[action]
        try:
            with self.store.transaction() as tx:
                for write in deferred:
                    write(tx)
                env = OpEnv(tx, call, self.authorizer, self.arns, self.entropy, self.envelope)
                result = op(env, params)
                changed = service == "iam" and _mutates(action)
                if changed:  # other nodes' policy caches follow this counter (the PDP refresher polls it)
                    tx.security.bump(IAM_COUNTER)
                event = self._event(env, call, service, action, params, result)
                tx.audit.record(event)
            if changed:  # this node's policy cache drops what it holds at once
                for hook in self.on_iam_change:
                    hook()
            self._emit(event)
            return result
        except BrokerError as error:
            self.record_refusal(call, service, action, params, error)
            raise
        except Exception as exc:
            _log.exception("operation %s failed (request %s)", action, call.request_id)
            failure = InternalFailure("An internal error occurred. Please retry your request.", detail=repr(exc))
            self.record_refusal(call, service, action, params, failure)
            raise failure from exc

    def record_refusal(
        self, call: CallContext, service: str, action: str, params: Mapping[str, Any], error: BrokerError
    ) -> None:
        """Write the audit event of a refused or failed call in its own transaction."""
        try:
            event = self.audit(call, service, action, params, None, error)
            with self.store.transaction() as tx:
                tx.audit.record(event)
        except Exception:  # the refusal itself must still reach the caller
            _log.exception("could not record the audit event of request %s", call.request_id)
            return
        self._emit(event)

    def _emit(self, event: Mapping[str, Any]) -> None:
        """Hand a committed event to the configured sinks (a failing sink never fails the request)."""
        for sink in self.sinks:
            try:
                sink(event)
            except Exception:
                _log.exception("audit sink %r failed", sink)
