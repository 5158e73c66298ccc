"""Security repository: keyring keys, revocations, replay cache, MFA devices and change counters.

Cross-node guarantees (several nodes share one PostgreSQL, DESIGN.md §4):

- ``bump`` is ``INSERT … ON CONFLICT DO UPDATE … RETURNING``: the counter row stays locked until the
  bumping transaction ends, so bumps of one topic commit in counter order. A reader that has seen value
  ``n`` and later reads ``change > n`` therefore never skips a row that commits late.
- ``remember_once`` is ``INSERT … ON CONFLICT DO NOTHING RETURNING`` under a unique constraint: of two
  nodes remembering the same id, exactly one gets ``True`` (the second waits for the first to commit).
- ``use_mfa_step`` is a conditional ``UPDATE`` (``last_used_step < step``): a TOTP code is accepted once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from broker.store.sqlalchemy.models.security import (
    ChangeCounterRow,
    KeyringKeyRow,
    MfaDeviceRow,
    ReplayRow,
    RevocationRow,
)

__all__ = [
    "KeyPurpose",
    "KeyringKeyRecord",
    "MfaDeviceRecord",
    "RevocationRecord",
    "SamlSpKeyRecord",
    "ScopeKind",
    "SecurityRepository",
    "bump_counter",
]

KeyPurpose = Literal["session-token", "jwt-signing"]
ScopeKind = Literal["role", "session", "subject", "provider"]
_PURPOSES = ("session-token", "jwt-signing")
SAML_SP = "saml-sp"
"""The SAML SP key pair's purpose. Kept apart from :data:`KeyPurpose`: the token keyring never sees it."""
_SCOPES = ("role", "session", "subject", "provider")


@dataclass(frozen=True, slots=True)
class KeyringKeyRecord:
    key_id: str
    purpose: KeyPurpose
    algorithm: str
    sealed_key: bytes
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None

    def __repr__(self) -> str:
        return f"KeyringKeyRecord(key_id={self.key_id!r}, purpose={self.purpose!r}, sealed_key=**********)"


@dataclass(frozen=True, slots=True)
class SamlSpKeyRecord:
    """A ``saml-sp`` keyring row: the sealed PKCS#8 private key and its public certificate (DER)."""

    key_id: str
    algorithm: str
    sealed_key: bytes
    certificate: bytes
    created_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None

    def __repr__(self) -> str:
        return f"SamlSpKeyRecord(key_id={self.key_id!r}, sealed_key=**********, certificate=<{len(self.certificate)}>)"


@dataclass(frozen=True, slots=True)
class RevocationRecord:
    scope_kind: ScopeKind
    scope_value: str
    not_before: datetime
    created_at: datetime
    change: int


@dataclass(frozen=True, slots=True)
class MfaDeviceRecord:
    serial_number: str
    user_name: str | None
    sealed_seed: bytes
    created_at: datetime
    enabled_at: datetime | None
    last_used_step: int | None

    def __repr__(self) -> str:
        return f"MfaDeviceRecord(serial_number={self.serial_number!r}, user_name={self.user_name!r}, sealed_seed=**)"


def _insert(session: Session, table: Any) -> Any:
    """A dialect ``INSERT`` that supports ``ON CONFLICT`` (PostgreSQL and SQLite ≥ 3.35)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def bump_counter(session: Session, topic: str) -> int:
    """Increment ``topic``'s change counter in the current transaction and return the new value."""
    stmt = (
        _insert(session, ChangeCounterRow)
        .values(topic=topic, value=1)
        .on_conflict_do_update(index_elements=["topic"], set_={"value": ChangeCounterRow.value + 1})
        .returning(ChangeCounterRow.value)
    )
    return int(session.execute(stmt).scalar_one())


def _key(row: KeyringKeyRow) -> KeyringKeyRecord:
    purpose: KeyPurpose = "session-token" if row.purpose == "session-token" else "jwt-signing"
    return KeyringKeyRecord(
        row.key_id, purpose, row.algorithm, row.sealed_key, row.created_at, row.activated_at, row.retired_at
    )


def _sp_key(row: KeyringKeyRow) -> SamlSpKeyRecord:
    return SamlSpKeyRecord(
        row.key_id, row.algorithm, row.sealed_key, row.certificate or b"", row.created_at, row.activated_at,
        row.retired_at,
    )


def _revocation(row: RevocationRow) -> RevocationRecord:
    kind: ScopeKind = row.scope_kind  # type: ignore[assignment]  # guarded by the CHECK constraint
    return RevocationRecord(kind, row.scope_value, row.not_before, row.created_at, row.change)


def _mfa(row: MfaDeviceRow) -> MfaDeviceRecord:
    return MfaDeviceRecord(
        row.serial_number, row.user_name, row.sealed_seed, row.created_at, row.enabled_at, row.last_used_step
    )


class SecurityRepository:
    """Security state for one transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # --- change counters ------------------------------------------------------------------------

    def bump(self, topic: str) -> int:
        return bump_counter(self.session, topic)

    def counter(self, topic: str) -> int:
        """The current value of ``topic`` (0 when it was never bumped)."""
        value = self.session.execute(select(ChangeCounterRow.value).where(ChangeCounterRow.topic == topic)).scalar()
        return int(value) if value is not None else 0

    def counters(self) -> dict[str, int]:
        rows = self.session.execute(select(ChangeCounterRow.topic, ChangeCounterRow.value)).all()
        return {topic: int(value) for topic, value in rows}

    # --- keyring --------------------------------------------------------------------------------

    def add_key(
        self,
        key_id: str,
        purpose: KeyPurpose,
        algorithm: str,
        sealed_key: bytes,
        created_at: datetime,
        activated_at: datetime | None = None,
    ) -> KeyringKeyRecord:
        if purpose not in _PURPOSES:
            raise ValueError(f"unknown key purpose {purpose!r}")
        row = KeyringKeyRow(
            key_id=key_id,
            purpose=purpose,
            algorithm=algorithm,
            sealed_key=sealed_key,
            created_at=created_at,
            activated_at=activated_at,
            retired_at=None,
        )
        self.session.add(row)
        self.session.flush()
        self.bump("keyring")
        return _key(row)

    def get_key(self, key_id: str) -> KeyringKeyRecord | None:
        """A session-token or JWT signing key (``None`` for a missing id or a ``saml-sp`` key)."""
        row = self.session.get(KeyringKeyRow, key_id)
        return _key(row) if row is not None and row.purpose in _PURPOSES else None

    def list_keys(self, purpose: KeyPurpose | None = None) -> list[KeyringKeyRecord]:
        """Session-token and JWT signing keys (all of them, or one purpose) oldest first (by creation time, then
        id). ``saml-sp`` keys are listed by :meth:`list_saml_sp_keys` only."""
        stmt = select(KeyringKeyRow).order_by(KeyringKeyRow.created_at, KeyringKeyRow.key_id)
        if purpose is not None:
            stmt = stmt.where(KeyringKeyRow.purpose == purpose)
        else:
            stmt = stmt.where(KeyringKeyRow.purpose.in_(_PURPOSES))
        return [_key(r) for r in self.session.scalars(stmt)]

    def add_saml_sp_key(
        self,
        key_id: str,
        algorithm: str,
        sealed_key: bytes,
        certificate: bytes,
        created_at: datetime,
        activated_at: datetime | None = None,
    ) -> SamlSpKeyRecord:
        """Insert a ``saml-sp`` key; bumps ``keyring`` like every keyring change."""
        row = KeyringKeyRow(
            key_id=key_id, purpose=SAML_SP, algorithm=algorithm, sealed_key=sealed_key, certificate=certificate,
            created_at=created_at, activated_at=activated_at, retired_at=None,
        )
        self.session.add(row)
        self.session.flush()
        self.bump("keyring")
        return _sp_key(row)

    def list_saml_sp_keys(self) -> list[SamlSpKeyRecord]:
        """``saml-sp`` keys oldest first (by creation time, then id). ``activate_key``, ``retire_key`` and
        ``delete_key`` apply to them by id."""
        stmt = (
            select(KeyringKeyRow)
            .where(KeyringKeyRow.purpose == SAML_SP)
            .order_by(KeyringKeyRow.created_at, KeyringKeyRow.key_id)
        )
        return [_sp_key(r) for r in self.session.scalars(stmt)]

    def activate_key(self, key_id: str, at: datetime) -> bool:
        return self._set_key(key_id, activated_at=at)

    def retire_key(self, key_id: str, at: datetime) -> bool:
        return self._set_key(key_id, retired_at=at)

    def _set_key(self, key_id: str, **values: datetime) -> bool:
        result = self.session.execute(update(KeyringKeyRow).where(KeyringKeyRow.key_id == key_id).values(**values))
        if result.rowcount:  # type: ignore[attr-defined]
            self.bump("keyring")
            return True
        return False

    def delete_key(self, key_id: str) -> bool:
        result = self.session.execute(delete(KeyringKeyRow).where(KeyringKeyRow.key_id == key_id))
        if result.rowcount:  # type: ignore[attr-defined]
            self.bump("keyring")
            return True
        return False

    # --- revocations ----------------------------------------------------------------------------

    def revoke(self, scope_kind: ScopeKind, scope_value: str, not_before: datetime, now: datetime) -> RevocationRecord:
        """Void sessions of the scope issued before ``not_before``; a later epoch replaces an earlier one.

        An earlier ``not_before`` than the one stored never narrows an existing revocation.
        """
        if scope_kind not in _SCOPES:
            raise ValueError(f"unknown revocation scope {scope_kind!r}")
        change = self.bump("revocations")
        where = (RevocationRow.scope_kind == scope_kind, RevocationRow.scope_value == scope_value)
        row = self.session.execute(select(RevocationRow).where(*where)).scalar_one_or_none()
        if row is None:
            row = RevocationRow(
                scope_kind=scope_kind, scope_value=scope_value, not_before=not_before, created_at=now, change=change
            )
            self.session.add(row)
        else:
            row.not_before = max(row.not_before, not_before)
            row.created_at = now
            row.change = change
        self.session.flush()
        return _revocation(row)

    def revocations_since(self, change_counter: int) -> tuple[list[RevocationRecord], int]:
        """Revocations written after ``change_counter`` (0 for all), and the counter to ask from next time."""
        current = self.counter("revocations")
        rows = self.session.scalars(
            select(RevocationRow)
            .where(RevocationRow.change > change_counter, RevocationRow.change <= current)
            .order_by(RevocationRow.change)
        )
        return [_revocation(r) for r in rows], current

    def list_revocations(self) -> list[RevocationRecord]:
        """Every stored revocation, oldest change first."""
        return [_revocation(r) for r in self.session.scalars(select(RevocationRow).order_by(RevocationRow.change))]

    def notify(self, channel: str) -> None:
        """PostgreSQL ``NOTIFY channel``, delivered to listeners when this transaction commits (and dropped
        if it rolls back). A no-op on SQLite, whose readers poll the change counters instead."""
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(select(func.pg_notify(channel, "")))

    def purge_revocations(self, not_before_older_than: datetime) -> int:
        """Drop revocations that no live session can predate (their epoch is older than any session)."""
        result = self.session.execute(delete(RevocationRow).where(RevocationRow.not_before < not_before_older_than))
        return int(result.rowcount)  # type: ignore[attr-defined]

    # --- replay cache ---------------------------------------------------------------------------

    def remember_once(self, namespace: str, item_id: str, expires: datetime, now: datetime) -> bool:
        """Remember ``(namespace, item_id)`` until ``expires``; ``False`` when it is already remembered (replay).

        Expired rows are purged first, so an id may be used again once its previous use has expired.
        """
        self.session.execute(delete(ReplayRow).where(ReplayRow.expires_at <= now))
        stmt = (
            _insert(self.session, ReplayRow)
            .values(namespace=namespace, item_id=item_id, expires_at=expires)
            .on_conflict_do_nothing(index_elements=["namespace", "item_id"])
            .returning(ReplayRow.id)
        )
        return self.session.execute(stmt).scalar() is not None

    # --- MFA devices ----------------------------------------------------------------------------

    def create_mfa_device(self, serial_number: str, sealed_seed: bytes, created_at: datetime) -> MfaDeviceRecord:
        row = MfaDeviceRow(
            serial_number=serial_number,
            user_name=None,
            sealed_seed=sealed_seed,
            created_at=created_at,
            enabled_at=None,
            last_used_step=None,
        )
        self.session.add(row)
        self.session.flush()
        return _mfa(row)

    def get_mfa_device(self, serial_number: str) -> MfaDeviceRecord | None:
        row = self.session.get(MfaDeviceRow, serial_number)
        return _mfa(row) if row is not None else None

    def list_mfa_devices(self, user_name: str | None = None, *, assigned: bool | None = None) -> list[MfaDeviceRecord]:
        stmt = select(MfaDeviceRow).order_by(MfaDeviceRow.serial_number)
        if user_name is not None:
            stmt = stmt.where(MfaDeviceRow.user_name == user_name)
        if assigned is True:
            stmt = stmt.where(MfaDeviceRow.user_name.is_not(None))
        elif assigned is False:
            stmt = stmt.where(MfaDeviceRow.user_name.is_(None))
        return [_mfa(r) for r in self.session.scalars(stmt)]

    def enable_mfa_device(self, serial_number: str, user_name: str, enabled_at: datetime, last_used_step: int) -> bool:
        """Assign an unassigned device to ``user_name``; ``False`` if it is missing or already assigned."""
        result = self.session.execute(
            update(MfaDeviceRow)
            .where(MfaDeviceRow.serial_number == serial_number, MfaDeviceRow.user_name.is_(None))
            .values(user_name=user_name, enabled_at=enabled_at, last_used_step=last_used_step)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def deactivate_mfa_device(self, serial_number: str) -> bool:
        result = self.session.execute(
            update(MfaDeviceRow)
            .where(MfaDeviceRow.serial_number == serial_number, MfaDeviceRow.user_name.is_not(None))
            .values(user_name=None, enabled_at=None)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def use_mfa_step(self, serial_number: str, step: int) -> bool:
        """Record that the code of TOTP time step ``step`` was used; ``False`` if it (or a later one) was."""
        result = self.session.execute(
            update(MfaDeviceRow)
            .where(
                MfaDeviceRow.serial_number == serial_number,
                (MfaDeviceRow.last_used_step.is_(None)) | (MfaDeviceRow.last_used_step < step),
            )
            .values(last_used_step=step)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def resync_mfa_device(self, serial_number: str, last_used_step: int) -> bool:
        stmt = update(MfaDeviceRow).where(MfaDeviceRow.serial_number == serial_number)
        result = self.session.execute(stmt.values(last_used_step=last_used_step))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def delete_mfa_device(self, serial_number: str) -> bool:
        result = self.session.execute(delete(MfaDeviceRow).where(MfaDeviceRow.serial_number == serial_number))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def mfa_devices_of(self, user_names: Sequence[str]) -> list[MfaDeviceRecord]:
        if not user_names:
            return []
        stmt = select(MfaDeviceRow).where(MfaDeviceRow.user_name.in_(list(user_names)))
        return [_mfa(r) for r in self.session.scalars(stmt.order_by(MfaDeviceRow.serial_number))]
