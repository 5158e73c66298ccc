"""IAM tables: users, groups and memberships, access keys, roles, managed policies with versions,
inline policies, attachments and tags.

Names are unique case-insensitively, as in AWS ("IAM identifiers", section "Friendly names and paths",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-friendly-names):
each named table keeps ``name`` as given and a unique ``name_key`` (lower case).
Inline policies, attachments and tags hang off an owner named by ``(owner_kind, owner_id)``; the
service refuses to delete an owner that still has any (``DeleteConflict``), so no orphan can appear.
Access-key secrets are stored only sealed (``Envelope``); ``user_id`` NULL marks the root user's keys.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from broker.store.sqlalchemy.models.base import Base, UtcDateTime

__all__ = [
    "AccessKeyRow",
    "AttachmentRow",
    "GroupMemberRow",
    "GroupRow",
    "InlinePolicyRow",
    "ManagedPolicyRow",
    "PolicyVersionRow",
    "RoleRow",
    "TagRow",
    "UserRow",
]

_OWNER_KINDS = "owner_kind IN ('user', 'group', 'role')"


class UserRow(Base):
    __tablename__ = "iam_users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    boundary_arn: Mapped[str | None] = mapped_column(String(2048), nullable=True)


class GroupRow(Base):
    __tablename__ = "iam_groups"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    name_key: Mapped[str] = mapped_column(String(128), unique=True)
    path: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class GroupMemberRow(Base):
    __tablename__ = "iam_group_members"

    group_id: Mapped[str] = mapped_column(ForeignKey("iam_groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("iam_users.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)


class AccessKeyRow(Base):
    __tablename__ = "iam_access_keys"
    __table_args__ = (CheckConstraint("status IN ('Active', 'Inactive')", name="status"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("iam_users.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_used_region: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_used_service: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RoleRow(Base):
    __tablename__ = "iam_roles"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    trust_policy: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    max_session_duration: Mapped[int] = mapped_column(Integer)
    boundary_arn: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_used_region: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ManagedPolicyRow(Base):
    __tablename__ = "iam_managed_policies"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    name_key: Mapped[str] = mapped_column(String(128), unique=True)
    path: Mapped[str] = mapped_column(String(512))
    arn: Mapped[str] = mapped_column(String(2048), unique=True)
    description: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    default_version: Mapped[str] = mapped_column(String(16))
    next_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PolicyVersionRow(Base):
    __tablename__ = "iam_policy_versions"

    policy_id: Mapped[str] = mapped_column(ForeignKey("iam_managed_policies.id", ondelete="CASCADE"), primary_key=True)
    version_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    number: Mapped[int] = mapped_column(Integer)
    document: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class InlinePolicyRow(Base):
    __tablename__ = "iam_inline_policies"
    __table_args__ = (
        CheckConstraint(_OWNER_KINDS, name="owner_kind"),
        UniqueConstraint("owner_kind", "owner_id", "name", name="uq_iam_inline_policies_owner_name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner_kind: Mapped[str] = mapped_column(String(8))
    owner_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128))
    document: Mapped[str] = mapped_column(Text)


class AttachmentRow(Base):
    __tablename__ = "iam_attachments"
    __table_args__ = (
        CheckConstraint(_OWNER_KINDS, name="owner_kind"),
        Index("ix_iam_attachments_policy", "policy_id"),
    )

    owner_kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    policy_id: Mapped[str] = mapped_column(ForeignKey("iam_managed_policies.id", ondelete="RESTRICT"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)


class TagRow(Base):
    __tablename__ = "iam_tags"
    __table_args__ = (CheckConstraint("owner_kind IN ('user', 'role', 'policy')", name="owner_kind"),)

    owner_kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_lower: Mapped[str] = mapped_column(String(128), primary_key=True)
    key: Mapped[str] = mapped_column(String(128))
    value: Mapped[str] = mapped_column(String(256))
