"""Managed-policy attachments: Attach/Detach/ListAttached {User,Group,Role}Policies, ListEntitiesForPolicy.

Quota: 10 managed policies attached per user, group or role by default ("IAM and AWS STS quotas",
section "IAM object quotas", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html).
The condition key ``iam:PolicyARN`` carries the policy being attached or detached
("Actions, resources, and condition keys for AWS Identity and Access Management",
https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.errors import LimitExceeded, NoSuchEntity
from broker.service.env import OpEnv, OpFunc
from broker.service.iam.common import authorize_policy, no_such_policy, path_of, repo
from broker.service.iam.inline import _MEMBER, _TITLE, _owner
from broker.service.iam.pagination import paginate
from broker.store.sqlalchemy.repositories.iam_records import OwnerKind

__all__ = ["ATTACHED_PER_ENTITY", "attachment_operations", "list_entities_for_policy"]

ATTACHED_PER_ENTITY = 10


def _attach(kind: OwnerKind) -> OpFunc:
    def attach(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
        arn = str(params["PolicyArn"])
        owner_id, _ = _owner(kind, env, f"iam:Attach{_TITLE[kind]}Policy", str(params[_MEMBER[kind]]))
        iam = repo(env)
        pol = iam.get_policy(arn)
        if pol is None:
            raise no_such_policy(arn)
        if iam.is_attached(kind, owner_id, pol.id):
            return {}
        if len(iam.attached(kind, owner_id)) >= ATTACHED_PER_ENTITY:
            raise LimitExceeded(f"Cannot exceed quota for PoliciesPer{_TITLE[kind]}: {ATTACHED_PER_ENTITY}")
        iam.attach(kind, owner_id, pol.id)
        return {}

    return attach


def _detach(kind: OwnerKind) -> OpFunc:
    def detach(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
        arn = str(params["PolicyArn"])
        owner_id, _ = _owner(kind, env, f"iam:Detach{_TITLE[kind]}Policy", str(params[_MEMBER[kind]]))
        iam = repo(env)
        pol = iam.get_policy(arn)
        if pol is None or not iam.is_attached(kind, owner_id, pol.id):
            raise NoSuchEntity(f"Policy {arn} was not found.")
        iam.detach(kind, owner_id, pol.id)
        return {}

    return detach


def _list_attached(kind: OwnerKind) -> OpFunc:
    def list_attached(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
        owner_id, _ = _owner(kind, env, f"iam:ListAttached{_TITLE[kind]}Policies", str(params[_MEMBER[kind]]))
        prefix = path_of(params, "PathPrefix")
        found = [p for p in repo(env).attached(kind, owner_id) if p.path.startswith(prefix)]
        page, more = paginate(found, lambda p: p.name.lower(), params)
        return {"AttachedPolicies": [{"PolicyName": p.name, "PolicyArn": p.arn} for p in page], **more}

    return list_attached


def attachment_operations() -> dict[str, OpFunc]:
    ops: dict[str, OpFunc] = {}
    kinds: tuple[OwnerKind, ...] = ("user", "group", "role")
    for kind in kinds:
        title = _TITLE[kind]
        ops[f"Attach{title}Policy"] = _attach(kind)
        ops[f"Detach{title}Policy"] = _detach(kind)
        ops[f"ListAttached{title}Policies"] = _list_attached(kind)
    return ops


def list_entities_for_policy(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """ListEntitiesForPolicy with ``EntityFilter``, ``PathPrefix`` and ``PolicyUsageFilter``
    (API_ListEntitiesForPolicy, https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListEntitiesForPolicy.html)."""
    pol = authorize_policy(env, "iam:ListEntitiesForPolicy", str(params["PolicyArn"]))
    iam = repo(env)
    prefix = path_of(params, "PathPrefix")
    wanted = params.get("EntityFilter")
    usage = params.get("PolicyUsageFilter")
    rows: list[tuple[str, str, str]] = []  # (kind, name, id)
    if usage != "PermissionsBoundary":
        ents = iam.entities_for_policy(pol.id)
        rows += [("User", u.name, u.id) for u in ents.users if u.path.startswith(prefix)]
        rows += [("Group", g.name, g.id) for g in ents.groups if g.path.startswith(prefix)]
        rows += [("Role", r.name, r.id) for r in ents.roles if r.path.startswith(prefix)]
    if usage != "PermissionsPolicy":
        rows += [("User", u.name, u.id) for u in iam.list_users(prefix) if u.boundary_arn == pol.arn]
        rows += [("Role", r.name, r.id) for r in iam.list_roles(prefix) if r.boundary_arn == pol.arn]
    if wanted in ("User", "Group", "Role"):
        rows = [r for r in rows if r[0] == wanted]
    elif wanted in ("LocalManagedPolicy", "AWSManagedPolicy"):
        rows = []
    unique = sorted(set(rows))
    page, more = paginate(unique, lambda r: f"{r[0]}|{r[1].lower()}", params)
    out: dict[str, Any] = {"PolicyGroups": [], "PolicyUsers": [], "PolicyRoles": []}
    for kind, name, ident in page:
        out[f"Policy{kind}s"].append({f"{kind}Name": name, f"{kind}Id": ident})
    return {**out, **more}
