"""What one operation gets to work with."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from broker.arn import ArnFactory
from broker.credentials.envelope import Envelope
from broker.ids import Entropy
from broker.principal import CallContext
from broker.service.ports import Authorizer

__all__ = ["OpEnv", "OpFunc"]


@dataclass
class OpEnv:
    """The environment of one operation: its transaction, caller, and injected services."""

    tx: Any  # a UnitOfWork (service/ports.py)
    call: CallContext
    authorizer: Authorizer
    arns: ArnFactory
    entropy: Entropy
    envelope: Envelope
    audit_data: dict[str, Any] = field(default_factory=dict)
    """Facts the operation adds to its audit event's ``additionalEventData`` (e.g. ``trustPolicyWarnings``);
    the dispatcher merges them into the event of a successful call. Never secrets: events are stored."""

    def authorize(self, action: str, resource: str, context: Mapping[str, Sequence[str]] | None = None) -> None:
        """Raise ``AccessDenied`` unless the caller may perform ``action`` on ``resource``."""
        self.authorizer.authorize(self.call, action, resource, context)


OpFunc = Callable[[OpEnv, Mapping[str, Any]], Mapping[str, Any]]
