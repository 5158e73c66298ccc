"""The keyring through the store: load at start, create the first keys, rotate, purge, follow other nodes.

Keys are stored sealed by the master key (:class:`~broker.credentials.envelope.Envelope`, associated data
``keyring:KID``) in ``tx.security`` (DESIGN.md §4). Every change bumps the ``keyring`` change counter,
so other nodes notice by polling it (:meth:`KeyringService.refresh`, run by the background refresher)
and a node that meets an unknown key id in a token reloads at once (rate-limited).

Rotation (:meth:`KeyringService.rotate`): a new key becomes active for new tokens and the keys it
replaces are retired at the same instant; retired keys keep verifying and are purged once
:data:`~broker.credentials.keyring.MAX_TOKEN_LIFETIME` has passed since their retirement. The automatic
schedule (:meth:`KeyringService.maybe_rotate`) rotates a purpose whose active key is older than
``rotate_after``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from broker.clock import Clock
from broker.credentials.envelope import Envelope, EnvelopeError
from broker.credentials.keyring import KeyMaterial, KeyPurpose, Keyring, generate_key
from broker.credentials.session_token import SessionTokenCodec
from broker.ids import Entropy
from broker.service.ports import Store

__all__ = ["PURPOSES", "KeyInfo", "KeyringService", "KeyringUnavailable"]

_log = logging.getLogger("broker.keyring")


class KeyringUnavailable(RuntimeError):
    """The store holds keyring keys this node's ``BROKER_MASTER_KEY`` cannot open.

    Such a node must not mint, create or rotate anything: creating keys would give the shared store active keys
    the other nodes cannot open, and rotating would retire theirs. It refuses to start instead (fail closed).
    """

PURPOSES: tuple[KeyPurpose, ...] = ("session-token", "jwt-signing")
_UNKNOWN_KID_INTERVAL = 1.0


def _active(record: Any, now: datetime) -> bool:
    probe = KeyMaterial(record.key_id, record.purpose, record.algorithm, b"", record.created_at,
                        record.activated_at, record.retired_at)
    return probe.is_active(now)


def _aad(kid: str) -> bytes:
    return f"keyring:{kid}".encode()


@dataclass(frozen=True)
class KeyInfo:
    """What ``broker keys list`` shows about a key (never its material)."""

    key_id: str
    purpose: str
    algorithm: str
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None
    state: str
    fingerprint: str


class KeyringService:
    """Holds the current :class:`Keyring` snapshot and keeps it in step with the store."""

    def __init__(
        self,
        store: Store,
        envelope: Envelope,
        clock: Clock,
        entropy: Entropy,
        *,
        rotate_after: timedelta = timedelta(days=30),
        jwt_algorithm: str = "ES256",
        poll_seconds: float = 5.0,
    ) -> None:
        if rotate_after <= timedelta(0):
            raise ValueError("rotate_after must be positive")
        self.store = store
        self.envelope = envelope
        self.clock = clock
        self.entropy = entropy
        self.rotate_after = rotate_after
        self.jwt_algorithm = jwt_algorithm
        self.poll_seconds = poll_seconds
        self._keyring = Keyring()
        self._counter = -1
        self._unopenable: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self._last_forced = float("-inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.codec = SessionTokenCodec(lambda: self._keyring)

    def __repr__(self) -> str:
        return f"KeyringService({self._keyring!r})"

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    # --- loading ---------------------------------------------------------------------------------

    def load(self) -> Keyring:
        """Read every key from the store and replace the snapshot."""
        with self.store.transaction() as tx:
            counter = tx.security.counter("keyring")
            records = tx.security.list_keys()
        keys: list[KeyMaterial] = []
        unopenable: list[str] = []
        for r in records:
            try:
                secret = self.envelope.open(r.sealed_key, _aad(r.key_id))
            except EnvelopeError as exc:  # fail closed for that key only, and say so loudly
                _log.error("keyring key %s cannot be opened with this master key: %s", r.key_id, exc)
                unopenable.append(r.key_id)
                continue
            keys.append(
                KeyMaterial(r.key_id, r.purpose, r.algorithm, secret, r.created_at, r.activated_at, r.retired_at)
            )
        with self._lock:
            self._keyring = Keyring(keys)
            self._counter = counter
            self._unopenable = tuple(unopenable)
        return self._keyring

    def _require_openable(self) -> None:
        if self._unopenable:
            raise KeyringUnavailable(
                f"{len(self._unopenable)} keyring key(s) in the store ({', '.join(self._unopenable)}) cannot be "
                "opened with this BROKER_MASTER_KEY; every node sharing a store must use the same master key. "
                "Refusing to create or rotate keys."
            )

    def ensure(self) -> Keyring:
        """Load, creating an active key for every purpose that has none (first start).

        Fails closed with :class:`KeyringUnavailable` when the store holds keys this master key cannot open.
        Creation takes the ``keyring`` counter's row lock first and re-reads, so nodes starting together end
        with one active key per purpose.
        """
        keyring = self.load()
        self._require_openable()
        now = self.clock.now()
        missing = [p for p in PURPOSES if not any(k.is_active(now) for k in keyring.of(p))]
        if missing:
            with self.store.transaction() as tx:
                tx.security.bump("keyring")  # serialises concurrent first starts (row lock until commit)
                for purpose in missing:
                    if not any(_active(r, now) for r in tx.security.list_keys(purpose)):
                        self._add(tx, self._new(purpose, now))
            keyring = self.load()
            self._require_openable()
        return keyring

    def refresh(self) -> bool:
        """Reload when the store's ``keyring`` counter moved (another node rotated); ``True`` if reloaded."""
        with self.store.transaction() as tx:
            counter = tx.security.counter("keyring")
        if counter == self._counter:
            return False
        self.load()
        return True

    def reload_for_unknown(self, kid: str) -> bool:
        """A token names a key we do not hold: reload now (at most once a second). ``True`` if now known."""
        if self._keyring.by_kid(kid) is not None:
            return True
        now = self.clock.monotonic()
        with self._lock:
            if now - self._last_forced < _UNKNOWN_KID_INTERVAL:
                return False
            self._last_forced = now
        self.load()
        return self._keyring.by_kid(kid) is not None

    # --- changes ---------------------------------------------------------------------------------

    def _new(self, purpose: KeyPurpose, now: datetime, algorithm: str | None = None) -> KeyMaterial:
        alg = algorithm or (self.jwt_algorithm if purpose == "jwt-signing" else None)
        return generate_key(purpose, now=now, entropy=self.entropy, algorithm=alg)

    def _add(self, tx: Any, key: KeyMaterial) -> None:
        sealed = self.envelope.seal(key.secret, _aad(key.key_id))
        tx.security.add_key(key.key_id, key.purpose, key.algorithm, sealed, key.created_at, key.activated_at)

    def rotate(self, purpose: KeyPurpose, *, algorithm: str | None = None) -> KeyMaterial:
        """Make a new key the active one for ``purpose``; retire the keys it replaces; purge expired ones."""
        if purpose not in PURPOSES:
            raise ValueError(f"unknown key purpose {purpose!r}")
        self.load()
        self._require_openable()
        now = self.clock.now()
        key = self._new(purpose, now, algorithm)
        with self.store.transaction() as tx:
            for record in tx.security.list_keys(purpose):
                if record.retired_at is None:
                    tx.security.retire_key(record.key_id, now)
            self._add(tx, key)
            self._purge(tx, now)
        self.load()
        _log.info("rotated %s key: %s is now active", purpose, key.key_id)
        return key

    def _purge(self, tx: Any, now: datetime) -> list[str]:
        gone: list[str] = []
        for record in tx.security.list_keys():
            probe = KeyMaterial(record.key_id, record.purpose, record.algorithm, b"", record.created_at,
                                record.activated_at, record.retired_at)
            if probe.purgeable(now) and tx.security.delete_key(record.key_id):
                gone.append(record.key_id)
        return gone

    def purge(self) -> list[str]:
        """Delete retired keys whose every token has expired; the ids deleted."""
        with self.store.transaction() as tx:
            gone = self._purge(tx, self.clock.now())
        if gone:
            self.load()
        return gone

    def maybe_rotate(self) -> list[KeyMaterial]:
        """The automatic schedule: rotate each purpose whose active key is older than ``rotate_after``.

        Never runs on a node holding keys it cannot open (it would retire the other nodes' keys)."""
        if self._unopenable:
            _log.error("keyring: %d key(s) cannot be opened with this master key; not rotating",
                       len(self._unopenable))
            return []
        now = self.clock.now()
        rotated: list[KeyMaterial] = []
        for purpose in PURPOSES:
            try:
                current = self._keyring.current(purpose, now)
            except LookupError:
                rotated.append(self.rotate(purpose))
                continue
            assert current.activated_at is not None
            if now - current.activated_at >= self.rotate_after:
                rotated.append(self.rotate(purpose))
        if not rotated:
            self.purge()
        return rotated

    def listing(self) -> list[KeyInfo]:
        now = self.clock.now()
        out: list[KeyInfo] = []
        current = {}
        for purpose in PURPOSES:
            try:
                current[purpose] = self._keyring.current(purpose, now).key_id
            except LookupError:
                pass
        for k in self._keyring.keys:
            if current.get(k.purpose) == k.key_id:
                state = "active"
            elif k.retired_at is not None:
                state = "retired (verifies)"
            else:
                state = "standby"
            out.append(KeyInfo(k.key_id, k.purpose, k.algorithm, k.created_at, k.activated_at, k.retired_at, state,
                               k.fingerprint))
        return out

    # --- background refresher ----------------------------------------------------------------------

    def tick(self) -> None:
        """One refresher step: follow other nodes, then apply the rotation schedule."""
        self.refresh()
        self.maybe_rotate()

    def start(self) -> None:
        """Run :meth:`tick` every ``poll_seconds`` on a daemon thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="broker-keyring", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.tick()
            except Exception:  # the refresher must survive a store hiccup; the next tick retries
                _log.exception("keyring refresh failed")
