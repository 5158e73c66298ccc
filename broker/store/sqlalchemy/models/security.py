"""Security tables: keyring material, revocations, the replay cache, MFA devices and change counters.

These serve the credentials issue (keyring rotation, revocation epochs, MFA) and federation (replay of
SAML assertion ids): see DESIGN.md §4. Secrets (keys, MFA seeds) are stored sealed by
:class:`broker.credentials.envelope.Envelope`; the store never sees plaintext.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from broker.store.sqlalchemy.models.base import Base, UtcDateTime

__all__ = ["ChangeCounterRow", "KeyringKeyRow", "MfaDeviceRow", "ReplayRow", "RevocationRow"]


class KeyringKeyRow(Base):
    """One keyring key: AES-256-GCM session-token key, JWT signing key or SAML SP key pair, sealed at rest.

    ``certificate`` is public: the self-signed X.509 certificate (DER) of a ``saml-sp`` key, which the SP
    metadata publishes (migration 0003); ``None`` for the other purposes."""

    __tablename__ = "keyring_keys"
    __table_args__ = (CheckConstraint("purpose IN ('session-token', 'jwt-signing', 'saml-sp')", name="purpose"),)

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(32), index=True)
    algorithm: Mapped[str] = mapped_column(String(32))
    sealed_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    certificate: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class RevocationRow(Base):
    """"Sessions of SCOPE issued before ``not_before`` are void" (revocation is an epoch, DESIGN.md §4)."""

    __tablename__ = "revocations"
    __table_args__ = (
        CheckConstraint("scope_kind IN ('role', 'session', 'subject', 'provider')", name="scope_kind"),
        UniqueConstraint("scope_kind", "scope_value", name="uq_revocations_scope"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope_kind: Mapped[str] = mapped_column(String(16))
    scope_value: Mapped[str] = mapped_column(String(2048))
    not_before: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    change: Mapped[int] = mapped_column(BigInteger, index=True)
    """The ``revocations`` change-counter value this row was written at (for ``revocations_since``)."""


class ReplayRow(Base):
    """One remembered one-time identifier (a SAML assertion id, a JWT ``jti``…) until it expires."""

    __tablename__ = "replay_cache"
    __table_args__ = (
        UniqueConstraint("namespace", "item_id", name="uq_replay_cache_item"),
        Index("ix_replay_cache_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(64))
    item_id: Mapped[str] = mapped_column(String(512))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MfaDeviceRow(Base):
    """A virtual MFA device (TOTP, RFC 6238); the seed is sealed."""

    __tablename__ = "mfa_devices"

    serial_number: Mapped[str] = mapped_column(String(2048), primary_key=True)
    user_name: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    """The user the device is enabled for; ``None`` while the virtual device is unassigned."""
    sealed_seed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    enabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_used_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The last accepted TOTP time step; a code of this step or earlier is refused (no reuse)."""


class ChangeCounterRow(Base):
    """A monotonically increasing counter per topic, bumped in the transaction of each change."""

    __tablename__ = "change_counters"

    topic: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
