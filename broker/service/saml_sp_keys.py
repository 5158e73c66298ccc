"""Broker's SAML SP key pair in the store-backed keyring: one key for every node that shares the store.

Issue 6: ``GET /saml/metadata`` publishes "signing and encryption certificates from the keyring". The key
pair (RSA-3072 and its self-signed certificate, :func:`~broker.federation.saml.sp_keys.generate_sp_key_pair`)
is a keyring row of purpose ``saml-sp``: the PKCS#8 private key sealed by the master key with the keyring's
associated data ``keyring:KID``, the certificate (public) beside it. Every node reads the same rows, so
all of them publish the same certificate and decrypt what an IdP encrypted to it.

- **Created once, race-safe** (:meth:`StoreSpKeys.ensure`, run by the first reader of each process): the key
  is generated outside any transaction (RSA-3072 takes a moment), then inserted in a transaction that first
  bumps the ``keyring`` change counter. The bump holds the counter row's lock until commit (PostgreSQL:
  ``INSERT … ON CONFLICT DO UPDATE``; SQLite: the write lock), so of two nodes starting together the second
  re-reads after the first committed, finds the active key and discards its own.
- **Migrated**: a node that still has the sealed file of earlier versions (``BROKER_HOME/saml-sp-key.sealed``)
  inserts that pair as the first active key, so IdPs configured with its certificate keep working. If the
  store already has an active key, a different file key is kept as *retired*: it still decrypts assertions
  IdPs encrypted to it, and is no longer published. Once its pair is in the store the file is renamed
  ``saml-sp-key.sealed.migrated`` (kept, not deleted: it is key material the operator may want to destroy).
- **Followed**: readers re-check the ``keyring`` counter at most every ``poll_seconds`` and reload when it
  moved (another node prepared or rotated a key).
- **Rotation-ready**: :meth:`StoreSpKeys.prepare_next` adds a standby key that the metadata lists as a second
  encryption certificate, and that already decrypts; :meth:`StoreSpKeys.promote` makes it the active one
  (signing AuthnRequests, first in the metadata) and retires the old key, which keeps decrypting for
  :data:`RETIRED_GRACE` and is then purged (:meth:`StoreSpKeys.rotate` does both steps at once).
  ``broker keys rotate saml-sp [--promote]`` runs the two steps; ``broker keys list`` shows
  :meth:`StoreSpKeys.listing` (ids, states, times, certificate fingerprints; never key material).

A key whose seal does not open, or whose certificate does not match its private key, is skipped and logged
(fail closed for that key). Key material is never logged or repr'd.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from broker.clock import Clock
from broker.credentials.envelope import Envelope, EnvelopeError
from broker.federation.saml.sp_keys import FILE_NAME, SpKeyPair, generate_sp_key_pair, open_sp_key_pair
from broker.ids import Entropy
from broker.service.ports import Store

__all__ = ["ALGORITHM", "CLOCK_TOLERANCE", "PURPOSE", "RETIRED_GRACE", "SpKey", "SpKeyInfo", "StoreSpKeys",
           "certificate_fingerprint"]

_log = logging.getLogger("broker.saml.keys")

ALGORITHM = "RSA-3072"
PURPOSE = "saml-sp"
RETIRED_GRACE = timedelta(days=2)
"""How long a retired SP key keeps decrypting: IdPs re-read SP metadata at least daily in practice."""
CLOCK_TOLERANCE = timedelta(minutes=5)
"""A key activated by a node whose clock runs ahead is active here too (no node ever sees "no active key")."""


def _active(activated_at: datetime | None, retired_at: datetime | None, now: datetime) -> bool:
    return activated_at is not None and activated_at <= now + CLOCK_TOLERANCE and (
        retired_at is None or retired_at > now
    )


def _next(activated_at: datetime | None, retired_at: datetime | None, now: datetime) -> bool:
    """Prepared for the next rotation: not active yet (not even within the clock tolerance), not retired."""
    return retired_at is None and (activated_at is None or activated_at > now + CLOCK_TOLERANCE)


def _aad(kid: str) -> bytes:
    return f"keyring:{kid}".encode()  # the keyring's associated data (broker/service/keyring.py)


def _spki(public: Any) -> bytes:
    return bytes(public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


@dataclass(frozen=True)
class SpKey:
    """One ``saml-sp`` keyring key, opened."""

    key_id: str
    pair: SpKeyPair = field(repr=False)
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None

    def is_active(self, now: datetime) -> bool:
        return _active(self.activated_at, self.retired_at, now)

    def is_next(self, now: datetime) -> bool:
        """Prepared for the next rotation: not active yet, not retired."""
        return _next(self.activated_at, self.retired_at, now)


@dataclass(frozen=True)
class SpKeyInfo:
    """What ``broker keys list`` shows about a ``saml-sp`` key: public facts only, never key material.

    ``state``: ``active`` (signs AuthnRequests, first encryption certificate), ``next`` (prepared: published as
    a second encryption certificate, decrypts), ``retired`` (decrypts until ``decrypts_until``, not published),
    ``standby`` (active by its times but another active key is the current one), ``unusable`` (the seal does
    not open with this master key, or the certificate is not the private key's: skipped by every reader)."""

    key_id: str
    algorithm: str
    state: str
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None
    fingerprint: str
    """SHA-256 of the DER certificate, as ``openssl x509 -noout -fingerprint -sha256`` prints it."""
    not_after: datetime | None
    decrypts_until: datetime | None
    purpose: str = PURPOSE


def certificate_fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate in ``AB:CD:…`` form (what IdP consoles and openssl show)."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def _not_after(der: bytes) -> datetime | None:
    try:
        return x509.load_der_x509_certificate(der).not_valid_after_utc
    except ValueError:
        return None


def _current_of(snapshot: Sequence[SpKey], now: datetime) -> SpKey:
    active = [k for k in snapshot if k.is_active(now)]
    if not active:
        raise LookupError("no active SAML SP key")
    # a key another node already retired (its clock runs ahead) loses to one nobody retired
    return max(active, key=lambda k: (k.retired_at is None, k.activated_at, k.created_at, k.key_id))


class StoreSpKeys:
    """The SP key pair from the store; implements the web layer's ``SpKeySource`` and the validator's
    ``sp_private_keys`` callable."""

    def __init__(
        self,
        store: Store,
        envelope: Envelope,
        clock: Clock,
        entropy: Entropy,
        *,
        entity_id: str,
        legacy_home: Path | None = None,
        poll_seconds: float = 5.0,
    ) -> None:
        self.store = store
        self.envelope = envelope
        self.clock = clock
        self.entropy = entropy
        self.entity_id = entity_id
        self.legacy_home = legacy_home
        self.poll_seconds = poll_seconds
        self._keys: tuple[SpKey, ...] = ()
        self._counter = -1
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._ensured = False
        self._ensure_lock = threading.Lock()  # one first-use ensure per process

    def __repr__(self) -> str:
        return f"StoreSpKeys({[k.key_id for k in self._keys]})"

    # --- loading ---------------------------------------------------------------------------------

    def load(self) -> tuple[SpKey, ...]:
        """Read every ``saml-sp`` key from the store and replace the snapshot."""
        with self.store.transaction() as tx:
            counter = tx.security.counter("keyring")
            records = tx.security.list_saml_sp_keys()
        keys = tuple(k for k in (self._open(r) for r in records) if k is not None)
        with self._lock:
            self._keys, self._counter, self._checked = keys, counter, self.clock.monotonic()
        return keys

    def _open(self, record: Any) -> SpKey | None:
        try:
            der = self.envelope.open(record.sealed_key, _aad(record.key_id))
            private = serialization.load_der_private_key(der, password=None)
            cert = x509.load_der_x509_certificate(record.certificate)
        except (EnvelopeError, ValueError) as exc:
            _log.error("SAML SP key %s cannot be opened: %s", record.key_id, type(exc).__name__)
            return None
        if _spki(cert.public_key()) != _spki(private.public_key()):
            _log.error("SAML SP key %s: the stored certificate is not the private key's; key skipped", record.key_id)
            return None
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return SpKey(record.key_id, SpKeyPair(pem, record.certificate), record.created_at, record.activated_at,
                     record.retired_at)

    def _follow(self) -> tuple[SpKey, ...]:
        """The snapshot, reloaded first when ``poll_seconds`` passed and the ``keyring`` counter moved.

        The first reader of the process runs :meth:`ensure` (creation or migration happens on first use, not
        at start-up: generating an RSA-3072 key takes a moment and most processes never need it)."""
        if not self._ensured:
            with self._ensure_lock:
                if not self._ensured:
                    self._ensure()
        if self.clock.monotonic() - self._checked < self.poll_seconds:
            return self._keys
        with self.store.transaction() as tx:
            counter = tx.security.counter("keyring")
        if counter != self._counter:
            return self.load()
        self._checked = self.clock.monotonic()
        return self._keys

    # --- creation --------------------------------------------------------------------------------

    def _new_id(self, now: datetime) -> str:
        return f"sp-{now:%Y%m%d%H%M%S}-{self.entropy.token_bytes(4).hex()}"

    def _legacy_pair(self) -> SpKeyPair | None:
        if self.legacy_home is None:
            return None
        path = self.legacy_home / FILE_NAME
        if not path.exists():
            return None
        try:
            return open_sp_key_pair(path.read_bytes(), self.envelope)
        except (EnvelopeError, ValueError, KeyError) as exc:
            _log.error("the SAML SP key file %s cannot be opened (%s); not migrated", path, type(exc).__name__)
            return None

    def _insert(self, tx: Any, pair: SpKeyPair, now: datetime, *, activated_at: datetime | None,
                retired_at: datetime | None = None) -> str:
        kid = self._new_id(now)
        private = serialization.load_pem_private_key(pair.private_key_pem, password=None)
        der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        sealed = self.envelope.seal(der, _aad(kid))
        tx.security.add_saml_sp_key(kid, ALGORITHM, sealed, pair.certificate_der, now, activated_at=activated_at)
        if retired_at is not None:
            tx.security.retire_key(kid, retired_at)
        return kid

    def ensure(self) -> SpKey:
        """Load; if the store has no active key yet create it (or migrate this node's file key).

        Readers call it on their first use; calling it at start-up surfaces a problem (wrong master key) early."""
        with self._ensure_lock:
            self._ensure()
        return self.current()

    def _ensure(self) -> None:
        keys = self.load()
        now = self.clock.now()
        legacy = self._legacy_pair()
        known = {k.pair.certificate_der for k in keys}
        if not any(k.is_active(now) for k in keys) or (legacy is not None and legacy.certificate_der not in known):
            candidate = legacy or generate_sp_key_pair(self.entity_id, now)
            with self.store.transaction() as tx:
                tx.security.bump("keyring")  # serializes creators: the counter row stays locked until commit
                records = tx.security.list_saml_sp_keys()
                active = [r for r in records if _active(r.activated_at, r.retired_at, now)]
                stored = {r.certificate for r in records}
                if not active:
                    kid = self._insert(tx, candidate, now, activated_at=now)
                    _log.info("SAML SP key %s created (%s)", kid, "migrated from " + FILE_NAME if legacy else "new")
                elif legacy is not None and legacy.certificate_der not in stored:
                    kid = self._insert(tx, legacy, now, activated_at=now, retired_at=now)
                    _log.warning("SAML SP key file %s differs from the store's key: kept as retired key %s "
                                 "(decrypts for %s, not published)", FILE_NAME, kid, RETIRED_GRACE)
            self.load()
        if legacy is not None:
            self._retire_file()
        self._ensured = True

    def _retire_file(self) -> None:
        """The file's pair is in the store now: rename the file so later starts do not import it again."""
        assert self.legacy_home is not None
        path = self.legacy_home / FILE_NAME
        try:
            path.replace(path.with_name(FILE_NAME + ".migrated"))
        except OSError as exc:
            _log.warning("could not rename %s after migrating it into the store: %s", path, exc)

    # --- reading ---------------------------------------------------------------------------------

    def current(self) -> SpKey:
        """The newest active key; ``LookupError`` when there is none (``ensure`` was not run)."""
        snapshot = self._follow()  # first: it may create the key
        return _current_of(snapshot, self.clock.now())

    def next_key(self) -> SpKey | None:
        """The key prepared for the next rotation, if any (newest)."""
        snapshot = self._follow()  # first: it may create the key
        now = self.clock.now()
        ready = [k for k in snapshot if k.is_next(now)]
        return max(ready, key=lambda k: (k.created_at, k.key_id)) if ready else None

    def signing_key_pem(self) -> bytes | None:
        return self.current().pair.private_key_pem

    def signing_certificates(self) -> Sequence[bytes]:
        return (self.current().pair.certificate_der,)

    def encryption_certificates(self) -> Sequence[bytes]:
        """The active certificate, then the next one (IdPs that read it early encrypt to it; it decrypts)."""
        following = self.next_key()
        current = self.current().pair.certificate_der
        return (current,) if following is None else (current, following.pair.certificate_der)

    def __call__(self) -> Sequence[bytes]:
        """Private keys (PEM) that may decrypt an assertion: active, next, then retired ones, newest first."""
        snapshot = self._follow()  # first: it may create the key
        now = self.clock.now()
        keys = [k for k in snapshot if k.retired_at is None or now - k.retired_at < RETIRED_GRACE]
        keys.sort(key=lambda k: (k.is_active(now), k.is_next(now), k.created_at, k.key_id), reverse=True)
        return tuple(k.pair.private_key_pem for k in keys)

    # --- rotation --------------------------------------------------------------------------------

    def prepare_next(self) -> SpKey:
        """Add a standby key (published as the next encryption certificate, decrypting already)."""
        existing = self.next_key()
        if existing is not None:
            return existing
        now = self.clock.now()
        pair = generate_sp_key_pair(self.entity_id, now)
        with self.store.transaction() as tx:
            tx.security.bump("keyring")
            if not any(_next(r.activated_at, r.retired_at, now) for r in tx.security.list_saml_sp_keys()):
                self._insert(tx, pair, now, activated_at=None)
        self.load()
        following = self.next_key()
        assert following is not None
        return following

    def promote(self) -> SpKey:
        """Activate the prepared next key, retire the current one, purge retired keys past the grace period.

        ``LookupError`` when no next key is prepared (then nothing changes). The transaction bumps the
        ``keyring`` counter first, so two promotions (two operators, two nodes) run one after the other and
        the second finds no next key instead of promoting the same key twice."""
        now = self.clock.now()
        with self.store.transaction() as tx:
            tx.security.bump("keyring")  # serializes promoters: the counter row stays locked until commit
            records = tx.security.list_saml_sp_keys()
            ready = [r for r in records if _next(r.activated_at, r.retired_at, now)]
            if not ready:
                raise LookupError("no next SAML SP key is prepared")
            following = max(ready, key=lambda r: (r.created_at, r.key_id))
            for record in records:
                if record.key_id == following.key_id:
                    tx.security.activate_key(record.key_id, now)
                elif record.retired_at is None:
                    tx.security.retire_key(record.key_id, now)
                elif now - record.retired_at >= RETIRED_GRACE:
                    tx.security.delete_key(record.key_id)
        self.load()
        _log.info("rotated the SAML SP key: %s is now active", following.key_id)
        return self.current()

    def rotate(self) -> SpKey:
        """Both steps at once: prepare a next key (unless one is prepared) and promote it."""
        self.prepare_next()
        return self.promote()

    # --- listing ---------------------------------------------------------------------------------

    def listing(self) -> list[SpKeyInfo]:
        """Every ``saml-sp`` key in the store, oldest first, with its state; reads the store only (creates
        nothing, migrates nothing). Keys that do not open are listed as ``unusable``."""
        with self.store.transaction() as tx:
            records = tx.security.list_saml_sp_keys()
        now = self.clock.now()
        opened = {r.key_id: self._open(r) for r in records}
        usable = [k for k in opened.values() if k is not None]
        try:
            current: str | None = _current_of(usable, now).key_id
        except LookupError:
            current = None
        out: list[SpKeyInfo] = []
        for r in records:
            key = opened[r.key_id]
            if key is None:
                state = "unusable"
            elif r.key_id == current:
                state = "active"
            elif key.is_next(now):
                state = "next"
            elif r.retired_at is not None:
                state = "retired"
            else:
                state = "standby"
            out.append(SpKeyInfo(
                key_id=r.key_id, algorithm=r.algorithm, state=state, created_at=r.created_at,
                activated_at=r.activated_at, retired_at=r.retired_at,
                fingerprint=certificate_fingerprint(r.certificate), not_after=_not_after(r.certificate),
                decrypts_until=r.retired_at + RETIRED_GRACE if r.retired_at is not None else None,
            ))
        return out
