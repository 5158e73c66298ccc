"""The revocations a node holds in memory, so verifiers decide without the store (DESIGN.md §4).

Revocation is an epoch, not a lease: "sessions of SCOPE issued before T are void", with SCOPE a role
ARN, a session id, a federated subject (provider and subject) or a provider. :meth:`RevocationSet.
is_revoked` answers from four dictionaries (no I/O, no lock). A background thread refreshes them:

- it asks the store only for revocations written after the change counter it has seen
  (``SecurityRepository.revocations_since``), so a refresh with nothing new is one small query;
- on PostgreSQL it blocks on ``LISTEN`` and refreshes as soon as another node's revocation commits;
- it polls every ``poll_seconds`` anyway (the fallback on SQLite, and if the LISTEN link breaks).

If the store cannot be reached, the set keeps what it had and says so (``healthy``); it never forgets
a revocation it has seen. Revocations older than the longest possible session (36 hours, the
``GetSessionToken`` maximum of 129,600 s; STS API Reference, GetSessionToken, "DurationSeconds",
https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html) can void nothing alive;
the store may purge them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from broker.clock import Clock, SystemClock
from broker.service.ports import Store
from broker.store.sqlalchemy.repositories.security import RevocationRecord

if TYPE_CHECKING:
    from broker.credentials.session_token import SessionClaims

__all__ = [
    "MAX_SESSION_LIFETIME",
    "REVOCATIONS_CHANNEL",
    "ClaimsRevocations",
    "Listener",
    "RevocationSet",
    "subject_key",
]

REVOCATIONS_CHANNEL = "broker_revocations"
MAX_SESSION_LIFETIME = timedelta(seconds=129_600)

_log = logging.getLogger("broker.revocation")
_SLICE_SECONDS = 0.25


def subject_key(provider: str, subject: str) -> str:
    """The stored scope value of one federated subject: provider ARN, a space, the subject.

    Provider ARNs contain no space, so the split is unambiguous whatever the subject holds.
    """
    return f"{provider} {subject}"


class Listener(Protocol):
    """A wake-up source (PostgreSQL ``LISTEN``): ``wait`` returns ``True`` when something changed."""

    def connect(self) -> None: ...

    def wait(self, timeout: float) -> bool: ...

    def close(self) -> None: ...


class RevocationSet:
    """Revocation epochs by scope, refreshed from the store; safe to read from any thread."""

    def __init__(
        self,
        store: Store,
        *,
        listener: Listener | None = None,
        poll_seconds: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.listener = listener
        self.poll_seconds = poll_seconds
        self.clock = clock or SystemClock()
        self._scopes: dict[str, dict[str, datetime]] = {"role": {}, "session": {}, "subject": {}, "provider": {}}
        self._roles = self._scopes["role"]
        self._sessions = self._scopes["session"]
        self._subjects = self._scopes["subject"]
        self._providers = self._scopes["provider"]
        self._seen = 0
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.healthy = False
        self.last_refresh: float | None = None
        """``clock.monotonic()`` of the last successful refresh."""

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self._scopes.items())
        return f"RevocationSet(change={self._seen}, {sizes})"

    # --- the hot path ------------------------------------------------------------------------------

    def is_revoked(
        self,
        role_arn: str | None,
        session_id: str | None,
        provider: str | None,
        subject: str | None,
        issued_at: datetime,
    ) -> bool:
        """``True`` when a revocation of any scope the session belongs to is later than its issue time."""
        if role_arn is not None:
            t = self._roles.get(role_arn)
            if t is not None and issued_at < t:
                return True
        if session_id is not None:
            t = self._sessions.get(session_id)
            if t is not None and issued_at < t:
                return True
        if provider is not None:
            t = self._providers.get(provider)
            if t is not None and issued_at < t:
                return True
            if subject is not None:
                t = self._subjects.get(subject_key(provider, subject))
                if t is not None and issued_at < t:
                    return True
        return False

    # --- refreshing --------------------------------------------------------------------------------

    @property
    def change(self) -> int:
        """The store's revocations change counter as of the last refresh."""
        return self._seen

    def apply(self, records: Iterable[RevocationRecord]) -> int:
        """Merge ``records`` (a later epoch wins; an earlier one never narrows). Returns how many changed."""
        changed = 0
        for rec in records:
            scope = self._scopes[rec.scope_kind]
            current = scope.get(rec.scope_value)
            if current is None or rec.not_before > current:
                scope[rec.scope_value] = rec.not_before
                changed += 1
        return changed

    def refresh(self) -> int:
        """Fetch revocations written since the last refresh; returns how many entries changed."""
        with self._refresh_lock:
            with self.store.transaction() as tx:
                records, seen = tx.security.revocations_since(self._seen)
            changed = self.apply(records)
            self._seen = max(self._seen, seen)
            self.healthy = True
            self.last_refresh = self.clock.monotonic()
            return changed

    def forget_older_than(self, now: datetime) -> int:
        """Drop epochs older than any live session could be (``now`` - 36 h); returns how many."""
        horizon = now - MAX_SESSION_LIFETIME
        dropped = 0
        with self._refresh_lock:
            for scope in self._scopes.values():
                for key in [k for k, t in scope.items() if t < horizon]:
                    del scope[key]
                    dropped += 1
        return dropped

    def _safe_refresh(self) -> None:
        try:
            self.refresh()
        except Exception:  # keep every revocation already held; report, and try again next round
            if self.healthy:
                _log.warning("revocation refresh failed; keeping the %d known epochs", self.size, exc_info=True)
            self.healthy = False

    @property
    def size(self) -> int:
        return sum(len(v) for v in self._scopes.values())

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Load every revocation now, then keep refreshing in a daemon thread until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._safe_refresh()
        self._thread = threading.Thread(target=self._run, name="broker-revocations", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(timeout=self.poll_seconds + 5)
        if self.listener is not None:
            self.listener.close()

    def _run(self) -> None:
        listening = False
        rounds = 0
        next_poll = self.clock.monotonic() + self.poll_seconds
        while not self._stop.is_set():
            notified = False
            # Wait in short slices so stop() is prompt even with a long poll interval.
            slice_seconds = max(0.0, min(_SLICE_SECONDS, next_poll - self.clock.monotonic()))
            if self.listener is not None:
                try:
                    if not listening:
                        self.listener.connect()
                        listening = True
                        self._safe_refresh()  # anything committed before LISTEN started
                    notified = self.listener.wait(slice_seconds)
                except Exception:
                    if listening:
                        _log.warning("revocation LISTEN connection lost; polling until it is back", exc_info=True)
                    listening = False
                    self._stop.wait(slice_seconds)
            else:
                self._stop.wait(slice_seconds)
            if self._stop.is_set():
                break
            if not notified and self.clock.monotonic() < next_poll:
                continue
            self._safe_refresh()
            next_poll = self.clock.monotonic() + self.poll_seconds
            rounds += 1
            if rounds % 3600 == 0:
                self.forget_older_than(self.clock.now())


class ClaimsRevocations:
    """The authenticator's view (``broker.service.authn.Revocations``): is this sealed session void?

    ``principal_arn`` is the role ARN for role sessions (the role scope); the session scope matches
    either the sealed ``session_id`` or the session's ``ASIA…`` access key id (what audit events show as
    ``sessionId``, so an operator can revoke what they see); ``federated_provider``/``federated_subject``
    are the provider and subject scopes.
    """

    def __init__(self, revocations: RevocationSet) -> None:
        self.revocations = revocations

    def is_revoked(self, claims: SessionClaims, now: datetime) -> bool:
        return self.revocations.is_revoked(
            claims.principal_arn,
            claims.session_id,
            claims.federated_provider,
            claims.federated_subject,
            claims.issued_at,
        ) or self.revocations.is_revoked(None, claims.access_key_id, None, None, claims.issued_at)
