"""Running one operation: transaction, authorization hook, and its audit event.

The audit event of a successful call is written in the same transaction as the change it records;
a refused call writes its event in a transaction of its own after the operation's was rolled back,
so nothing but the refusal is stored (issue 2, item 8).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from broker.arn import ArnFactory
from broker.credentials.envelope import Envelope
from broker.errors import BrokerError, InternalFailure
from broker.ids import Entropy
from broker.principal import CallContext
from broker.service.audit import redact
from broker.service.env import OpEnv, OpFunc
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

    def supports(self, action: str) -> bool:
        return action in self.operations

    def run(self, call: CallContext, service: str, action: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        op = self.operations[action]
        try:
            with self.store.transaction() as tx:
                env = OpEnv(tx, call, self.authorizer, self.arns, self.entropy, self.envelope)
                result = op(env, params)
                changed = service == "iam" and _mutates(action)
                if changed:  # other nodes' policy caches follow this counter (the PDP refresher polls it)
                    tx.security.bump(IAM_COUNTER)
                event = self.audit(call, service, action, params, result, None)
                if env.audit_data:  # what the operation noted (redacted like the rest of the event)
                    event["additionalEventData"] = {**event.get("additionalEventData", {}), **redact(env.audit_data)}
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
