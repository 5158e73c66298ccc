"""Inline policies: Put/Get/Delete/List {User,Group,Role}Policy(ies).

Quota: the aggregate size of an entity's inline policies (whitespace not counted) is 2,048 characters
for a user, 5,120 for a group and 10,240 for a role ("IAM and AWS STS quotas", section "IAM and AWS
STS character limits", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
Putting a policy under an existing name replaces it. NoSuchEntity: "The role policy with name X cannot
be found." (API_GetRolePolicy, "Errors").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from broker.errors import LimitExceeded, NoSuchEntity
from broker.service.env import OpEnv, OpFunc
from broker.service.iam.common import authorize_group, authorize_role, authorize_user, repo
from broker.service.iam.pagination import paginate
from broker.service.iam.validation import check_policy, document_size
from broker.store.sqlalchemy.repositories.iam_records import OwnerKind

__all__ = ["INLINE_AGGREGATE_MAX", "inline_operations"]

INLINE_AGGREGATE_MAX: dict[OwnerKind, int] = {"user": 2048, "group": 5120, "role": 10240}

_NO_SINGLE_LIMIT = 1 << 20
_MEMBER: dict[OwnerKind, str] = {"user": "UserName", "group": "GroupName", "role": "RoleName"}
_TITLE: dict[OwnerKind, str] = {"user": "User", "group": "Group", "role": "Role"}


def _owner(kind: OwnerKind, env: OpEnv, action: str, name: str) -> tuple[str, str]:
    """Authorize ``action`` on the owner and return its (id, name as stored)."""
    if kind == "user":
        u = authorize_user(env, action, name)
        return u.id, u.name
    if kind == "group":
        g = authorize_group(env, action, name)
        return g.id, g.name
    r = authorize_role(env, action, name)
    return r.id, r.name


def _put(kind: OwnerKind) -> OpFunc:
    def put(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
        owner_id, owner_name = _owner(kind, env, f"iam:Put{_TITLE[kind]}Policy", str(params[_MEMBER[kind]]))
        name, document = str(params["PolicyName"]), str(params["PolicyDocument"])
        limit = INLINE_AGGREGATE_MAX[kind]
        check_policy(document, "identity", _NO_SINGLE_LIMIT)  # the aggregate quota below is the one that binds
        iam = repo(env)
        others = sum(document_size(p.document) for p in iam.list_inline(kind, owner_id) if p.name != name)
        if others + document_size(document) > limit:
            raise LimitExceeded(
                f"Maximum policy size of {limit} bytes exceeded for {kind} {owner_name}",
                detail=f"aggregate {others + document_size(document)} > {limit}",
            )
        iam.put_inline(kind, owner_id, name, document)
        return {}

    return put


def _no_such_inline(kind: OwnerKind, name: str) -> NoSuchEntity:
    return NoSuchEntity(f"The {kind} policy with name {name} cannot be found.")


def _get(kind: OwnerKind) -> OpFunc:
    def get(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
        owner_id, owner_name = _owner(kind, env, f"iam:Get{_TITLE[kind]}Policy", str(params[_MEMBER[kind]]))
        name = str(params["PolicyName"])
        found = repo(env).get_inline(kind, owner_id, name)
        if found is None:
            raise _no_such_inline(kind, name)
        return {_MEMBER[kind]: owner_name, "PolicyName": found.name, "PolicyDocument": found.document}

    return get


def _delete(kind: OwnerKind) -> OpFunc:
    def delete(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
        owner_id, _ = _owner(kind, env, f"iam:Delete{_TITLE[kind]}Policy", str(params[_MEMBER[kind]]))
        name = str(params["PolicyName"])
        iam = repo(env)
        if iam.get_inline(kind, owner_id, name) is None:
            raise _no_such_inline(kind, name)
        iam.delete_inline(kind, owner_id, name)
        return {}

    return delete


def _list(kind: OwnerKind) -> OpFunc:
    def list_(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
        owner_id, _ = _owner(kind, env, f"iam:List{_TITLE[kind]}Policies", str(params[_MEMBER[kind]]))
        names = [p.name for p in repo(env).list_inline(kind, owner_id)]
        page, more = paginate(names, lambda n: n, params)
        return {"PolicyNames": page, **more}

    return list_


def inline_operations() -> dict[str, OpFunc]:
    """The twelve inline-policy operations keyed by action name."""
    ops: dict[str, OpFunc] = {}
    kinds: tuple[OwnerKind, ...] = ("user", "group", "role")
    makers: tuple[tuple[str, Callable[[OwnerKind], OpFunc]], ...] = (
        ("Put{}Policy", _put),
        ("Get{}Policy", _get),
        ("Delete{}Policy", _delete),
        ("List{}Policies", _list),
    )
    for kind in kinds:
        for pattern, make in makers:
            ops[pattern.format(_TITLE[kind])] = make(kind)
    return ops
