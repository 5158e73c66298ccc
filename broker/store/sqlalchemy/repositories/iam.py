"""The IAM repository: users, groups, memberships, roles and access keys (policies in ``iam_policies``).

Every method runs inside the caller's session (one unit of work); nothing here commits. Lookups by
name are case-insensitive (``name_key``), matching IAM's case-insensitive uniqueness of friendly names
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-friendly-names).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from broker.errors import EntityAlreadyExists
from broker.store.sqlalchemy.models.iam import (
    AccessKeyRow,
    AttachmentRow,
    GroupMemberRow,
    GroupRow,
    InlinePolicyRow,
    RoleRow,
    UserRow,
)
from broker.store.sqlalchemy.models.security import MfaDeviceRow
from broker.store.sqlalchemy.repositories.iam_policies import IamPolicyStore, prefix_filter
from broker.store.sqlalchemy.repositories.iam_records import (
    AccessKeyRecord,
    GroupRecord,
    RoleRecord,
    UserDependents,
    UserRecord,
)

__all__ = ["IamRepository"]


def _user(row: UserRow) -> UserRecord:
    return UserRecord(row.id, row.name, row.path, row.created_at, row.boundary_arn)


def _group(row: GroupRow) -> GroupRecord:
    return GroupRecord(row.id, row.name, row.path, row.created_at)


def _role(row: RoleRow) -> RoleRecord:
    return RoleRecord(
        id=row.id,
        name=row.name,
        path=row.path,
        created_at=row.created_at,
        trust_policy=row.trust_policy,
        max_session_duration=row.max_session_duration,
        description=row.description,
        boundary_arn=row.boundary_arn,
        last_used_at=row.last_used_at,
        last_used_region=row.last_used_region,
    )


def _key(row: AccessKeyRow, user: UserRow | None) -> AccessKeyRecord:
    return AccessKeyRecord(
        access_key_id=row.id,
        owner="user" if user is not None else "root",
        status=row.status,
        created_at=row.created_at,
        sealed_secret=row.sealed_secret,
        user_id=user.id if user is not None else None,
        user_name=user.name if user is not None else None,
        user_path=user.path if user is not None else None,
        last_used_at=row.last_used_at,
        last_used_region=row.last_used_region,
        last_used_service=row.last_used_service,
    )


def _flush_unique(session: Session, message: str) -> None:
    """Flush; a unique-name race lost to a concurrent transaction reads as ``EntityAlreadyExists``."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise EntityAlreadyExists(message, detail=f"unique constraint: {exc.orig}") from exc


class IamRepository(IamPolicyStore):
    """Typed access to the IAM tables for one unit of work."""

    def __init__(self, session: Session) -> None:
        super().__init__(session)

    # --- users -------------------------------------------------------------------------------------

    def get_user(self, name: str) -> UserRecord | None:
        row = self.session.scalars(select(UserRow).where(UserRow.name_key == name.lower())).one_or_none()
        return _user(row) if row is not None else None

    def get_user_by_id(self, user_id: str) -> UserRecord | None:
        row = self.session.get(UserRow, user_id)
        return _user(row) if row is not None else None

    def list_users(self, path_prefix: str = "/") -> list[UserRecord]:
        stmt = select(UserRow).where(prefix_filter(UserRow.path, path_prefix)).order_by(UserRow.name_key)
        return [_user(r) for r in self.session.scalars(stmt)]

    def create_user(self, user: UserRecord) -> None:
        self.session.add(
            UserRow(
                id=user.id,
                name=user.name,
                name_key=user.name.lower(),
                path=user.path,
                created_at=user.created_at,
                boundary_arn=user.boundary_arn,
            )
        )
        _flush_unique(self.session, f"User with name {user.name} already exists.")

    def save_user(self, user: UserRecord) -> None:
        """Write a changed user (name, path, boundary) back."""
        row = self.session.get_one(UserRow, user.id)
        if row.name != user.name:  # MFA devices are keyed by user name (security tables)
            self.session.execute(
                update(MfaDeviceRow).where(MfaDeviceRow.user_name == row.name).values(user_name=user.name)
            )
        row.name, row.name_key, row.path, row.boundary_arn = user.name, user.name.lower(), user.path, user.boundary_arn
        _flush_unique(self.session, f"User with name {user.name} already exists.")

    def delete_user(self, user_id: str) -> None:
        self.delete_all_tags("user", user_id)
        self.session.execute(delete(UserRow).where(UserRow.id == user_id))
        self.session.flush()

    def user_dependents(self, user: UserRecord) -> UserDependents:
        def count(stmt: object) -> int:
            return int(self.session.scalar(stmt) or 0)  # type: ignore[call-overload]

        return UserDependents(
            access_keys=count(select(func.count()).select_from(AccessKeyRow).where(AccessKeyRow.user_id == user.id)),
            inline_policies=count(
                select(func.count())
                .select_from(InlinePolicyRow)
                .where(InlinePolicyRow.owner_kind == "user", InlinePolicyRow.owner_id == user.id)
            ),
            attached_policies=count(
                select(func.count())
                .select_from(AttachmentRow)
                .where(AttachmentRow.owner_kind == "user", AttachmentRow.owner_id == user.id)
            ),
            groups=count(select(func.count()).select_from(GroupMemberRow).where(GroupMemberRow.user_id == user.id)),
            mfa_devices=count(
                select(func.count()).select_from(MfaDeviceRow).where(MfaDeviceRow.user_name == user.name)
            ),
        )

    # --- groups ------------------------------------------------------------------------------------

    def get_group(self, name: str) -> GroupRecord | None:
        row = self.session.scalars(select(GroupRow).where(GroupRow.name_key == name.lower())).one_or_none()
        return _group(row) if row is not None else None

    def list_groups(self, path_prefix: str = "/") -> list[GroupRecord]:
        stmt = select(GroupRow).where(prefix_filter(GroupRow.path, path_prefix)).order_by(GroupRow.name_key)
        return [_group(r) for r in self.session.scalars(stmt)]

    def create_group(self, group: GroupRecord) -> None:
        self.session.add(
            GroupRow(
                id=group.id, name=group.name, name_key=group.name.lower(), path=group.path, created_at=group.created_at
            )
        )
        _flush_unique(self.session, f"Group with name {group.name} already exists.")

    def save_group(self, group: GroupRecord) -> None:
        row = self.session.get_one(GroupRow, group.id)
        row.name, row.name_key, row.path = group.name, group.name.lower(), group.path
        _flush_unique(self.session, f"Group with name {group.name} already exists.")

    def delete_group(self, group_id: str) -> None:
        self.session.execute(delete(GroupRow).where(GroupRow.id == group_id))
        self.session.flush()

    def group_members(self, group_id: str) -> list[UserRecord]:
        stmt = (
            select(UserRow)
            .join(GroupMemberRow, GroupMemberRow.user_id == UserRow.id)
            .where(GroupMemberRow.group_id == group_id)
            .order_by(UserRow.name_key)
        )
        return [_user(r) for r in self.session.scalars(stmt)]

    def groups_for_user(self, user_id: str) -> list[GroupRecord]:
        stmt = (
            select(GroupRow)
            .join(GroupMemberRow, GroupMemberRow.group_id == GroupRow.id)
            .where(GroupMemberRow.user_id == user_id)
            .order_by(GroupRow.name_key)
        )
        return [_group(r) for r in self.session.scalars(stmt)]

    def is_member(self, group_id: str, user_id: str) -> bool:
        return self.session.get(GroupMemberRow, (group_id, user_id)) is not None

    def add_member(self, group_id: str, user_id: str) -> None:
        seq = self.session.scalar(select(func.coalesce(func.max(GroupMemberRow.seq), 0)))
        self.session.add(GroupMemberRow(group_id=group_id, user_id=user_id, seq=int(seq or 0) + 1))
        self.session.flush()

    def remove_member(self, group_id: str, user_id: str) -> None:
        self.session.execute(
            delete(GroupMemberRow).where(GroupMemberRow.group_id == group_id, GroupMemberRow.user_id == user_id)
        )
        self.session.flush()

    def count_members(self, group_id: str) -> int:
        stmt = select(func.count()).select_from(GroupMemberRow).where(GroupMemberRow.group_id == group_id)
        return int(self.session.scalar(stmt) or 0)

    # --- roles -------------------------------------------------------------------------------------

    def get_role(self, name: str) -> RoleRecord | None:
        row = self.session.scalars(select(RoleRow).where(RoleRow.name_key == name.lower())).one_or_none()
        return _role(row) if row is not None else None

    def list_roles(self, path_prefix: str = "/") -> list[RoleRecord]:
        stmt = select(RoleRow).where(prefix_filter(RoleRow.path, path_prefix)).order_by(RoleRow.name_key)
        return [_role(r) for r in self.session.scalars(stmt)]

    def create_role(self, role: RoleRecord) -> None:
        self.session.add(
            RoleRow(
                id=role.id,
                name=role.name,
                name_key=role.name.lower(),
                path=role.path,
                created_at=role.created_at,
                trust_policy=role.trust_policy,
                description=role.description,
                max_session_duration=role.max_session_duration,
                boundary_arn=role.boundary_arn,
            )
        )
        _flush_unique(self.session, f"Role with name {role.name} already exists.")

    def save_role(self, role: RoleRecord) -> None:
        """Write back the mutable fields of a role (trust policy, description, duration, boundary)."""
        row = self.session.get_one(RoleRow, role.id)
        row.trust_policy = role.trust_policy
        row.description = role.description
        row.max_session_duration = role.max_session_duration
        row.boundary_arn = role.boundary_arn
        self.session.flush()

    def record_role_use(self, role_name: str, when: datetime, region: str) -> None:
        """``RoleLastUsed``: called by STS when a role is assumed."""
        row = self.session.scalars(select(RoleRow).where(RoleRow.name_key == role_name.lower())).one_or_none()
        if row is not None:
            row.last_used_at, row.last_used_region = when, region
            self.session.flush()

    def delete_role(self, role_id: str) -> None:
        self.delete_all_tags("role", role_id)
        self.session.execute(delete(RoleRow).where(RoleRow.id == role_id))
        self.session.flush()

    # --- access keys -------------------------------------------------------------------------------

    def create_access_key(self, akid: str, user_id: str | None, sealed_secret: bytes, now: datetime) -> None:
        self.session.add(
            AccessKeyRow(id=akid, user_id=user_id, sealed_secret=sealed_secret, status="Active", created_at=now)
        )
        self.session.flush()

    def seed_root_access_key(self, akid: str, secret_blob: bytes, now: datetime) -> None:
        """Store the root user's access key (``user_id`` NULL); a no-op when it already exists."""
        if self.session.get(AccessKeyRow, akid) is None:
            self.create_access_key(akid, None, secret_blob, now)

    def find_access_key(self, akid: str) -> AccessKeyRecord | None:
        row = self.session.get(AccessKeyRow, akid)
        if row is None:
            return None
        user = self.session.get(UserRow, row.user_id) if row.user_id is not None else None
        return _key(row, user)

    def list_access_keys(self, user_id: str | None) -> list[AccessKeyRecord]:
        """The keys of a user, or of root when ``user_id`` is None, oldest first."""
        cond = AccessKeyRow.user_id.is_(None) if user_id is None else AccessKeyRow.user_id == user_id
        rows = list(self.session.scalars(select(AccessKeyRow).where(cond).order_by(AccessKeyRow.created_at)))
        user = self.session.get(UserRow, user_id) if user_id is not None else None
        return [_key(r, user) for r in rows]

    def set_access_key_status(self, akid: str, status: str) -> None:
        self.session.get_one(AccessKeyRow, akid).status = status
        self.session.flush()

    def delete_access_key(self, akid: str) -> None:
        self.session.execute(delete(AccessKeyRow).where(AccessKeyRow.id == akid))
        self.session.flush()

    def record_access_key_use(self, akid: str, when: datetime, region: str, service: str) -> None:
        row = self.session.get(AccessKeyRow, akid)
        if row is not None:
            row.last_used_at, row.last_used_region, row.last_used_service = when, region, service
            self.session.flush()

    # --- counts ------------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Entity counts for ``GetAccountSummary``."""
        out = super().counts()
        for key, model in (("Users", UserRow), ("Groups", GroupRow), ("Roles", RoleRow)):
            out[key] = int(self.session.scalar(select(func.count()).select_from(model)) or 0)
        root_keys = select(func.count()).select_from(AccessKeyRow).where(AccessKeyRow.user_id.is_(None))
        out["AccountAccessKeysPresent"] = 1 if int(self.session.scalar(root_keys) or 0) else 0
        return out
