"""IAM repository, policy half: managed policies and versions, inline policies, attachments, tags,
and the per-principal policy sets the authorizer evaluates.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from broker.errors import EntityAlreadyExists
from broker.store.sqlalchemy.models.iam import (
    AttachmentRow,
    GroupMemberRow,
    GroupRow,
    InlinePolicyRow,
    ManagedPolicyRow,
    PolicyVersionRow,
    RoleRow,
    TagRow,
    UserRow,
)
from broker.store.sqlalchemy.repositories.iam_records import (
    EntitiesForPolicy,
    InlinePolicyRecord,
    OwnerKind,
    PolicyDoc,
    PolicyRecord,
    PolicyVersionRecord,
    PrincipalPolicies,
    TagOwnerKind,
    version_key,
)

__all__ = ["IamPolicyStore", "prefix_filter"]


def prefix_filter(column: InstrumentedAttribute[str], prefix: str) -> ColumnElement[bool]:
    """``column`` starts with ``prefix`` (no LIKE wildcards: a plain substring comparison)."""
    return func.substr(column, 1, len(prefix)) == prefix


def _policy(row: ManagedPolicyRow, attachments: int = 0, boundaries: int = 0) -> PolicyRecord:
    return PolicyRecord(
        id=row.id,
        name=row.name,
        path=row.path,
        arn=row.arn,
        default_version=row.default_version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        description=row.description,
        attachment_count=attachments,
        boundary_count=boundaries,
    )


class IamPolicyStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- managed policies --------------------------------------------------------------------------

    def _attachment_counts(self, policy_ids: Iterable[str]) -> dict[str, int]:
        ids = list(policy_ids)
        if not ids:
            return {}
        stmt = (
            select(AttachmentRow.policy_id, func.count())
            .where(AttachmentRow.policy_id.in_(ids))
            .group_by(AttachmentRow.policy_id)
        )
        return {pid: int(n) for pid, n in self.session.execute(stmt)}

    def boundary_usage(self, arn: str) -> int:
        users = select(func.count()).select_from(UserRow).where(UserRow.boundary_arn == arn)
        roles = select(func.count()).select_from(RoleRow).where(RoleRow.boundary_arn == arn)
        return int(self.session.scalar(users) or 0) + int(self.session.scalar(roles) or 0)

    def get_policy(self, arn: str) -> PolicyRecord | None:
        row = self.session.scalars(select(ManagedPolicyRow).where(ManagedPolicyRow.arn == arn)).one_or_none()
        if row is None:
            return None
        return _policy(row, self._attachment_counts([row.id]).get(row.id, 0), self.boundary_usage(row.arn))

    def get_policy_by_name(self, name: str) -> PolicyRecord | None:
        stmt = select(ManagedPolicyRow).where(ManagedPolicyRow.name_key == name.lower())
        row = self.session.scalars(stmt).one_or_none()
        return _policy(row) if row is not None else None

    def list_policies(self, path_prefix: str = "/") -> list[PolicyRecord]:
        stmt = (
            select(ManagedPolicyRow)
            .where(prefix_filter(ManagedPolicyRow.path, path_prefix))
            .order_by(ManagedPolicyRow.name_key)
        )
        rows = list(self.session.scalars(stmt))
        counts = self._attachment_counts(r.id for r in rows)
        boundary_arns = {r.arn for r in rows}
        used: dict[str, int] = {}
        for model in (UserRow, RoleRow):
            q = (
                select(model.boundary_arn, func.count())
                .where(model.boundary_arn.in_(boundary_arns))
                .group_by(model.boundary_arn)
            )
            for arn, n in self.session.execute(q):
                if arn is not None:
                    used[arn] = used.get(arn, 0) + int(n)
        return [_policy(r, counts.get(r.id, 0), used.get(r.arn, 0)) for r in rows]

    def create_policy(self, policy: PolicyRecord, document: str) -> None:
        self.session.add(
            ManagedPolicyRow(
                id=policy.id,
                name=policy.name,
                name_key=policy.name.lower(),
                path=policy.path,
                arn=policy.arn,
                description=policy.description,
                default_version="v1",
                next_version=2,
                created_at=policy.created_at,
                updated_at=policy.updated_at,
            )
        )
        try:
            self.session.flush()
        except IntegrityError as exc:  # a concurrent CreatePolicy won the unique name
            raise EntityAlreadyExists(
                f"A policy called {policy.name} already exists. Duplicate names are not allowed.",
                detail=f"unique constraint: {exc.orig}",
            ) from exc
        self.session.add(
            PolicyVersionRow(
                policy_id=policy.id, version_id="v1", number=1, document=document, created_at=policy.created_at
            )
        )
        self.session.flush()

    def delete_policy(self, policy_id: str) -> None:
        self.delete_all_tags("policy", policy_id)
        self.session.execute(delete(PolicyVersionRow).where(PolicyVersionRow.policy_id == policy_id))
        self.session.execute(delete(ManagedPolicyRow).where(ManagedPolicyRow.id == policy_id))
        self.session.flush()

    def policy_versions(self, policy_id: str) -> list[PolicyVersionRecord]:
        """Versions, newest first (ListPolicyVersions order)."""
        default = self.session.get_one(ManagedPolicyRow, policy_id).default_version
        stmt = (
            select(PolicyVersionRow)
            .where(PolicyVersionRow.policy_id == policy_id)
            .order_by(PolicyVersionRow.number.desc())
        )
        return [
            PolicyVersionRecord(r.policy_id, r.version_id, r.document, r.created_at, r.version_id == default)
            for r in self.session.scalars(stmt)
        ]

    def get_policy_version(self, policy_id: str, version_id: str) -> PolicyVersionRecord | None:
        row = self.session.get(PolicyVersionRow, (policy_id, version_id))
        if row is None:
            return None
        default = self.session.get_one(ManagedPolicyRow, policy_id).default_version
        return PolicyVersionRecord(
            row.policy_id, row.version_id, row.document, row.created_at, row.version_id == default
        )

    def add_policy_version(self, policy_id: str, document: str, now: datetime, set_default: bool) -> str:
        """Append a version (ids increase monotonically, never reused) and return its id."""
        policy = self.session.get_one(ManagedPolicyRow, policy_id)
        number = policy.next_version
        version_id = f"v{number}"
        self.session.add(
            PolicyVersionRow(
                policy_id=policy_id, version_id=version_id, number=number, document=document, created_at=now
            )
        )
        policy.next_version = number + 1
        policy.updated_at = now
        if set_default:
            policy.default_version = version_id
        self.session.flush()
        return version_id

    def delete_policy_version(self, policy_id: str, version_id: str) -> None:
        self.session.execute(
            delete(PolicyVersionRow).where(
                PolicyVersionRow.policy_id == policy_id, PolicyVersionRow.version_id == version_id
            )
        )
        self.session.flush()

    def set_default_version(self, policy_id: str, version_id: str, now: datetime) -> None:
        policy = self.session.get_one(ManagedPolicyRow, policy_id)
        policy.default_version = version_id
        policy.updated_at = now
        self.session.flush()

    def default_document(self, policy_id: str) -> PolicyDoc:
        policy = self.session.get_one(ManagedPolicyRow, policy_id)
        doc = self.session.get_one(PolicyVersionRow, (policy_id, policy.default_version)).document
        return PolicyDoc(policy.arn, version_key(doc), doc)

    # --- inline policies ---------------------------------------------------------------------------

    def _inline_stmt(self, kind: OwnerKind, owner_id: str) -> Any:
        return select(InlinePolicyRow).where(InlinePolicyRow.owner_kind == kind, InlinePolicyRow.owner_id == owner_id)

    def list_inline(self, kind: OwnerKind, owner_id: str) -> list[InlinePolicyRecord]:
        rows = self.session.scalars(self._inline_stmt(kind, owner_id).order_by(InlinePolicyRow.name))
        return [InlinePolicyRecord(r.name, r.document) for r in rows]

    def get_inline(self, kind: OwnerKind, owner_id: str, name: str) -> InlinePolicyRecord | None:
        row = self.session.scalars(self._inline_stmt(kind, owner_id).where(InlinePolicyRow.name == name)).one_or_none()
        return InlinePolicyRecord(row.name, row.document) if row is not None else None

    def put_inline(self, kind: OwnerKind, owner_id: str, name: str, document: str) -> None:
        row = self.session.scalars(self._inline_stmt(kind, owner_id).where(InlinePolicyRow.name == name)).one_or_none()
        if row is None:
            self.session.add(InlinePolicyRow(owner_kind=kind, owner_id=owner_id, name=name, document=document))
        else:
            row.document = document
        self.session.flush()

    def delete_inline(self, kind: OwnerKind, owner_id: str, name: str) -> None:
        self.session.execute(
            delete(InlinePolicyRow).where(
                InlinePolicyRow.owner_kind == kind, InlinePolicyRow.owner_id == owner_id, InlinePolicyRow.name == name
            )
        )
        self.session.flush()

    # --- attachments -------------------------------------------------------------------------------

    def attached(self, kind: OwnerKind, owner_id: str) -> list[PolicyRecord]:
        stmt = (
            select(ManagedPolicyRow)
            .join(AttachmentRow, AttachmentRow.policy_id == ManagedPolicyRow.id)
            .where(AttachmentRow.owner_kind == kind, AttachmentRow.owner_id == owner_id)
            .order_by(ManagedPolicyRow.name_key)
        )
        return [_policy(r) for r in self.session.scalars(stmt)]

    def is_attached(self, kind: OwnerKind, owner_id: str, policy_id: str) -> bool:
        return self.session.get(AttachmentRow, (kind, owner_id, policy_id)) is not None

    def attach(self, kind: OwnerKind, owner_id: str, policy_id: str) -> None:
        seq = self.session.scalar(select(func.coalesce(func.max(AttachmentRow.seq), 0)))
        self.session.add(AttachmentRow(owner_kind=kind, owner_id=owner_id, policy_id=policy_id, seq=int(seq or 0) + 1))
        self.session.flush()

    def detach(self, kind: OwnerKind, owner_id: str, policy_id: str) -> None:
        self.session.execute(
            delete(AttachmentRow).where(
                AttachmentRow.owner_kind == kind,
                AttachmentRow.owner_id == owner_id,
                AttachmentRow.policy_id == policy_id,
            )
        )
        self.session.flush()

    def entities_for_policy(self, policy_id: str) -> EntitiesForPolicy:
        from broker.store.sqlalchemy.repositories.iam import _group, _role, _user

        def owners(kind: str, model: Any) -> list[Any]:
            stmt = (
                select(model)
                .join(AttachmentRow, AttachmentRow.owner_id == model.id)
                .where(AttachmentRow.owner_kind == kind, AttachmentRow.policy_id == policy_id)
                .order_by(model.name_key)
            )
            return list(self.session.scalars(stmt))

        return EntitiesForPolicy(
            users=[_user(r) for r in owners("user", UserRow)],
            groups=[_group(r) for r in owners("group", GroupRow)],
            roles=[_role(r) for r in owners("role", RoleRow)],
        )

    # --- tags --------------------------------------------------------------------------------------

    def get_tags(self, kind: TagOwnerKind, owner_id: str) -> list[tuple[str, str]]:
        stmt = select(TagRow).where(TagRow.owner_kind == kind, TagRow.owner_id == owner_id).order_by(TagRow.key_lower)
        return [(r.key, r.value) for r in self.session.scalars(stmt)]

    def set_tags(self, kind: TagOwnerKind, owner_id: str, tags: Iterable[tuple[str, str]]) -> None:
        """Add or overwrite tags (keys compare case-insensitively; the newest spelling wins)."""
        for key, value in tags:
            row = self.session.get(TagRow, (kind, owner_id, key.lower()))
            if row is None:
                self.session.add(
                    TagRow(owner_kind=kind, owner_id=owner_id, key_lower=key.lower(), key=key, value=value)
                )
            else:
                row.key, row.value = key, value
        self.session.flush()

    def remove_tags(self, kind: TagOwnerKind, owner_id: str, keys: Iterable[str]) -> None:
        lowered = [k.lower() for k in keys]
        self.session.execute(
            delete(TagRow).where(TagRow.owner_kind == kind, TagRow.owner_id == owner_id, TagRow.key_lower.in_(lowered))
        )
        self.session.flush()

    def delete_all_tags(self, kind: TagOwnerKind, owner_id: str) -> None:
        self.session.execute(delete(TagRow).where(TagRow.owner_kind == kind, TagRow.owner_id == owner_id))

    # --- what the authorizer evaluates -------------------------------------------------------------

    def _identity_docs(self, kind: OwnerKind, owner_id: str) -> list[PolicyDoc]:
        docs = [
            PolicyDoc(f"inline:{kind}:{owner_id}:{p.name}", version_key(p.document), p.document)
            for p in self.list_inline(kind, owner_id)
        ]
        docs.extend(self.default_document(p.id) for p in self.attached(kind, owner_id))
        return docs

    def _boundary_doc(self, arn: str | None) -> PolicyDoc | None:
        if arn is None:
            return None
        row = self.session.scalars(select(ManagedPolicyRow).where(ManagedPolicyRow.arn == arn)).one_or_none()
        return self.default_document(row.id) if row is not None else None

    def policies_for_user(self, user_name: str) -> PrincipalPolicies | None:
        """The user's inline + attached policies and each of its groups', its boundary and tags."""
        row = self.session.scalars(select(UserRow).where(UserRow.name_key == user_name.lower())).one_or_none()
        if row is None:
            return None
        docs = self._identity_docs("user", row.id)
        group_ids = self.session.scalars(select(GroupMemberRow.group_id).where(GroupMemberRow.user_id == row.id))
        for gid in sorted(group_ids):
            docs.extend(self._identity_docs("group", gid))
        return PrincipalPolicies(docs, self._boundary_doc(row.boundary_arn), dict(self.get_tags("user", row.id)))

    def policies_for_role(self, role_name: str) -> PrincipalPolicies | None:
        row = self.session.scalars(select(RoleRow).where(RoleRow.name_key == role_name.lower())).one_or_none()
        if row is None:
            return None
        docs = self._identity_docs("role", row.id)
        return PrincipalPolicies(docs, self._boundary_doc(row.boundary_arn), dict(self.get_tags("role", row.id)))

    def policies_for_group(self, group_name: str) -> PrincipalPolicies | None:
        """A group's inline + attached policies (groups have no boundary and no tags)."""
        row = self.session.scalars(select(GroupRow).where(GroupRow.name_key == group_name.lower())).one_or_none()
        if row is None:
            return None
        return PrincipalPolicies(self._identity_docs("group", row.id), None, {})

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        out["Policies"] = int(self.session.scalar(select(func.count()).select_from(ManagedPolicyRow)) or 0)
        out["PolicyVersionsInUse"] = int(self.session.scalar(select(func.count()).select_from(AttachmentRow)) or 0)
        return out
