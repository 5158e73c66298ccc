"""Ports the service layer depends on; adapters (``store/``, ``credentials/``) implement them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from broker.principal import CallContext

__all__ = ["Authorizer", "Operation", "RootOnlyAuthorizer"]


class Operation(Protocol):
    """One Query-API operation: decoded, validated parameters in, an output-shape dict out.

    Parameter and result keys are the AWS member names of the botocore model (``RoleName``,
    ``Tags`` as a list of ``{"Key", "Value"}`` dicts, timestamps as aware datetimes, policy documents
    as JSON text; the codec URL-encodes them on the way out).
    """

    def __call__(self, call: CallContext, params: Mapping[str, Any]) -> Mapping[str, Any]: ...


class Authorizer(Protocol):
    """Decides whether ``call.principal`` may perform ``action`` on ``resource``.

    Raises :class:`broker.errors.AccessDenied` (AWS's message shape) when it may not.
    ``context`` adds request-specific condition keys (``aws:RequestTag/k``, ``aws:TagKeys`` …),
    each a list of string values.
    """

    def authorize(
        self,
        call: CallContext,
        action: str,
        resource: str,
        context: Mapping[str, Sequence[str]] | None = None,
    ) -> None: ...


class RootOnlyAuthorizer:
    """Foundation authorizer: root may do anything, everyone else is denied.

    Replaced by the policy-engine authorizer (``service/authorize.py``) when it is wired in.
    """

    def authorize(
        self,
        call: CallContext,
        action: str,
        resource: str,
        context: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        from broker.errors import AccessDenied

        principal = call.principal
        if principal is not None and principal.is_root:
            return
        who = principal.arn if principal is not None else "anonymous"
        raise AccessDenied(
            f"User: {who} is not authorized to perform: {action} on resource: {resource} "
            "because no identity-based policy allows the {action} action".replace("{action}", action)
        )


# --- Store ports -----------------------------------------------------------------------------------
# Each repository protocol lives beside the service code that uses it (``service/iam/ports.py``,
# ``service/providers_ports.py`` …); a unit of work exposes one attribute per repository.


class UnitOfWork(Protocol):
    """One store transaction. Repositories hang off it as attributes (``tx.iam``, ``tx.audit`` …).

    Committed by :meth:`Store.transaction` when the block exits normally, rolled back otherwise.
    """

    @property
    def iam(self) -> Any: ...

    @property
    def providers(self) -> Any: ...

    @property
    def security(self) -> Any: ...

    @property
    def audit(self) -> Any: ...


class Store(Protocol):
    def transaction(self) -> Any:
        """A context manager yielding a :class:`UnitOfWork`."""
        ...
