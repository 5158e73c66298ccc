"""Plain, frozen records the IAM repository returns (never ORM objects).

Pure data with no SQLAlchemy import, so the service layer may import it (import-linter: only the store
knows SQL).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = [
    "AccessKeyRecord",
    "EntitiesForPolicy",
    "GroupRecord",
    "InlinePolicyRecord",
    "OwnerKind",
    "PolicyDoc",
    "PolicyRecord",
    "PolicyVersionRecord",
    "PrincipalPolicies",
    "RoleRecord",
    "UserDependents",
    "UserRecord",
    "version_key",
]

OwnerKind = Literal["user", "group", "role"]
TagOwnerKind = Literal["user", "role", "policy"]


def version_key(document: str) -> str:
    """A cache key that changes whenever the document text changes (SHA-256 of the text)."""
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    name: str
    path: str
    created_at: datetime
    boundary_arn: str | None = None


@dataclass(frozen=True, slots=True)
class GroupRecord:
    id: str
    name: str
    path: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RoleRecord:
    id: str
    name: str
    path: str
    created_at: datetime
    trust_policy: str
    max_session_duration: int
    description: str | None = None
    boundary_arn: str | None = None
    last_used_at: datetime | None = None
    last_used_region: str | None = None


@dataclass(frozen=True, slots=True)
class AccessKeyRecord:
    """An access key. ``owner`` is ``root`` for the root user's keys (then the user fields are None)."""

    access_key_id: str
    owner: Literal["root", "user"]
    status: str
    created_at: datetime
    sealed_secret: bytes = field(repr=False)
    user_id: str | None = None
    user_name: str | None = None
    user_path: str | None = None
    last_used_at: datetime | None = None
    last_used_region: str | None = None
    last_used_service: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    id: str
    name: str
    path: str
    arn: str
    default_version: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    attachment_count: int = 0
    boundary_count: int = 0


@dataclass(frozen=True, slots=True)
class PolicyVersionRecord:
    policy_id: str
    version_id: str
    document: str
    created_at: datetime
    is_default: bool


@dataclass(frozen=True, slots=True)
class InlinePolicyRecord:
    name: str
    document: str


@dataclass(frozen=True, slots=True)
class UserDependents:
    """What still hangs off a user (DeleteUser refuses while any is non-zero)."""

    access_keys: int
    inline_policies: int
    attached_policies: int
    groups: int
    mfa_devices: int


@dataclass(frozen=True, slots=True)
class EntitiesForPolicy:
    users: list[UserRecord]
    groups: list[GroupRecord]
    roles: list[RoleRecord]


@dataclass(frozen=True, slots=True)
class PolicyDoc:
    """One document the authorizer evaluates; ``version_key`` changes whenever the text does."""

    policy_id: str
    version_key: str
    document: str


@dataclass(frozen=True, slots=True)
class PrincipalPolicies:
    """A principal's identity policies, its permissions boundary (if any) and its tags."""

    identity: list[PolicyDoc]
    boundary: PolicyDoc | None
    tags: dict[str, str]
