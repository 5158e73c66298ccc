"""A policy decision point that lives inside another service's process, fed from broker's store.

Deployment model (docs/authorize.md): the service is configured like a broker node with the same
``BROKER_DATABASE_URL`` (PostgreSQL, read access is enough apart from access keys' "last used"
timestamps), ``BROKER_MASTER_KEY`` (to open the keyring's sealed keys, so it can open sealed session
tokens) and ``BROKER_ACCOUNT_ID``. It never creates, rotates or purges keys and never writes policies.
What it holds, and how each stays fresh:

============================  ==========================================================================
keyring (session-token and    loaded at start; reloaded when the store's ``keyring`` change counter moves
JWT signing keys)             (polled every ``poll_seconds``) and at once when a token names an unknown key
revocations                   :class:`~broker.service.revocation_set.RevocationSet`: PostgreSQL ``LISTEN``
                              plus polling, so a revocation is enforced within about a second
compiled policies             per principal, loaded on first use; all reloaded on next use when the
                              ``iam`` change counter moves, and in any case every
                              ``policy_refresh_seconds`` (the bound on how stale a policy can be)
============================  ==========================================================================

``open_local_pdp(settings)`` builds it; ``start()``/``stop()`` (or ``with``) run the refresher.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from broker.arn import ArnFactory
from broker.clock import Clock, SystemClock
from broker.config import Settings
from broker.credentials.envelope import Envelope
from broker.ids import Entropy, SystemEntropy
from broker.pdp.bearer import BearerVerifier
from broker.pdp.point import PolicyDecisionPoint
from broker.pdp.policies import CachingAuthorizer
from broker.service.authn import Authenticator
from broker.service.dispatch import IAM_COUNTER
from broker.service.keyring import KeyringService
from broker.service.ports import Store
from broker.service.revocation_set import REVOCATIONS_CHANNEL, ClaimsRevocations, RevocationSet

__all__ = ["IAM_COUNTER", "LocalPdp", "PolicyRefresher", "open_local_pdp"]

_log = logging.getLogger("broker.pdp")

"""The change counter IAM writes bump (policies, attachments, memberships, boundaries)."""


@dataclass
class PolicyRefresher:
    """One polling loop: follow the keyring counter, and start a new policy generation when due."""

    store: Store
    keyring: KeyringService
    authorizer: CachingAuthorizer
    clock: Clock
    poll_seconds: float = 2.0
    policy_refresh_seconds: float = 30.0
    _iam_seen: int | None = None
    _last_policy_refresh: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def tick(self) -> bool:
        """One step; ``True`` when a new policy generation was started."""
        self.keyring.refresh()
        with self.store.transaction() as tx:
            iam = tx.security.counter(IAM_COUNTER)
        now = self.clock.monotonic()
        stale = now - self._last_policy_refresh >= self.policy_refresh_seconds
        moved = self._iam_seen is not None and iam != self._iam_seen
        self._iam_seen = iam
        if stale or moved:
            self._last_policy_refresh = now
            self.authorizer.invalidate()
            return True
        return False

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._last_policy_refresh = self.clock.monotonic()
        self._thread = threading.Thread(target=self._run, name="broker-pdp-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.poll_seconds + 5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.tick()
            except Exception:  # a store hiccup: keep what we hold, retry next tick
                _log.exception("PDP refresh failed")


@dataclass
class LocalPdp:
    """Everything a local PDP holds; ``pdp`` answers, the rest keeps it fresh."""

    pdp: PolicyDecisionPoint
    store: Store
    keyring: KeyringService
    revocations: RevocationSet
    refresher: PolicyRefresher

    def start(self) -> None:
        self.revocations.start()
        self.refresher.start()

    def stop(self) -> None:
        self.refresher.stop()
        self.revocations.stop()

    def __enter__(self) -> LocalPdp:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def open_local_pdp(
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Clock | None = None,
    entropy: Entropy | None = None,
    issuer: str | None = None,
    audiences: Sequence[str] = (),
    poll_seconds: float = 2.0,
    policy_refresh_seconds: float = 30.0,
) -> LocalPdp:
    """A local PDP over broker's store (``settings.database_url``, ``settings.master_key``).

    Bearer tokens are accepted when ``audiences`` is given (the issuer defaults to
    ``settings.effective_public_url``, what broker's token endpoint puts in ``iss``). The store is opened
    without running migrations (broker owns the schema).
    """
    from broker.bootstrap import load_master_key, open_store

    clock = clock or SystemClock()
    entropy = entropy or SystemEntropy()
    store = store or open_store(settings, migrate=False)
    arns = ArnFactory(account=settings.account_id, partition=settings.partition)
    envelope = Envelope(load_master_key(settings, entropy), entropy)
    keyring = KeyringService(store, envelope, clock, entropy, poll_seconds=poll_seconds)
    keyring.load()
    revocations = _revocation_set(store, poll_seconds)
    authenticator = Authenticator(
        store=store, envelope=envelope, arns=arns, skew_seconds=settings.sigv4_skew_seconds, keyring=keyring,
        revocations=ClaimsRevocations(revocations),
    )
    authorizer = CachingAuthorizer(store)
    bearer = None
    if audiences:
        bearer = BearerVerifier(
            lambda: keyring.keyring, issuer=issuer or settings.effective_public_url, audiences=audiences,
            arns=arns, skew_seconds=settings.clock_skew_seconds, revocations=revocations,
        )
    pdp = PolicyDecisionPoint(
        authenticator=authenticator, authorizer=authorizer, clock=clock, bearer=bearer, entropy=entropy
    )
    refresher = PolicyRefresher(
        store, keyring, authorizer, clock, poll_seconds=poll_seconds, policy_refresh_seconds=policy_refresh_seconds
    )
    return LocalPdp(pdp, store, keyring, revocations, refresher)


def _revocation_set(store: Store, poll_seconds: float) -> RevocationSet:
    engine: Any = getattr(store, "engine", None)
    listener = None
    if engine is not None:
        from broker.store.sqlalchemy.notify import listener_for

        listener = listener_for(engine, REVOCATIONS_CHANNEL)
    return RevocationSet(store, listener=listener, poll_seconds=min(poll_seconds, 1.0))
