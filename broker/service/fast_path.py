"""Running an operation on the event loop, with no transaction, when everything it reads is cached.

The dispatcher (``service/dispatch.py``) first tries the operations listed in :data:`CACHE_ONLY_ACTIONS`
with a :class:`CacheOnlyUnitOfWork` in place of a store transaction: every repository refuses with
:class:`WouldBlock`, so an operation either completes from this node's caches (provider, role and role tags
in ``service/lookup_cache.py``, the issuer's keys, compiled trust policies) or stops at its first store
read, before it has minted or changed anything. A :class:`WouldBlock` sends the request down the general
path (thread pool, store transaction, the same code); the result and the audit event are the same either
way (tests/contract/test_web_identity_fast_path.py).

The one write such an operation makes, ``RoleLastUsed`` (at most once a minute per role and node), is
deferred into the audit writer's batch transaction (``service/audit_writer.py``) with the event, so it
commits before the caller gets an answer, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn

from broker.service.audit_writer import DeferredWrite

__all__ = ["CACHE_ONLY_ACTIONS", "CacheOnlyUnitOfWork", "WouldBlock"]

CACHE_ONLY_ACTIONS = frozenset({"AssumeRoleWithWebIdentity"})
"""Operations that change nothing in the store but ``RoleLastUsed`` and may run from caches alone."""


class WouldBlock(Exception):  # a signal to take the general path, not an error
    """The operation needs the store (or another blocking call): run it on the general path instead."""


def _refuse(what: str) -> NoReturn:
    raise WouldBlock(what)


class _DeferredIam:
    """``tx.iam`` on the cache-only path: ``record_role_use`` is deferred, every read refused."""

    def __init__(self, deferred: list[DeferredWrite]) -> None:
        self._deferred = deferred

    def record_role_use(self, role_name: str, when: datetime, region: str) -> None:
        self._deferred.append(lambda tx: tx.iam.record_role_use(role_name, when, region))

    def __getattr__(self, name: str) -> Any:
        _refuse(f"iam.{name}")


class CacheOnlyUnitOfWork:
    """Stands in for a store transaction on the event-loop path; see the module docstring."""

    cache_only = True

    def __init__(self) -> None:
        self.deferred: list[DeferredWrite] = []
        self.refresh: list[Callable[[Any], object]] = []
        """Cache reads the operation asks for ahead of time (each given a store transaction): run by the
        dispatcher after the answer, off the event loop (``Dispatcher.run_async``)."""
        self._iam = _DeferredIam(self.deferred)

    @property
    def iam(self) -> Any:
        return self._iam

    @property
    def providers(self) -> Any:
        _refuse("providers")

    @property
    def security(self) -> Any:
        _refuse("security")

    @property
    def audit(self) -> Any:
        _refuse("audit")

    def __getattr__(self, name: str) -> Any:  # any other repository a unit of work may grow
        _refuse(name)
