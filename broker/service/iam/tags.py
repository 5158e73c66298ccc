"""Tags on users, roles and managed policies: Tag*/Untag*/List*Tags.

"Tagging IAM resources" (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags.html): adding a tag
whose key already exists (case-insensitively) overwrites its value; at most 50 tags per resource;
``aws:RequestTag/KEY`` and ``aws:TagKeys`` are the request condition keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from broker.service.env import OpEnv, OpFunc
from broker.service.iam.common import authorize_policy, authorize_role, authorize_user, repo, tags_shape
from broker.service.iam.pagination import paginate
from broker.service.iam.validation import check_tags, tag_context

__all__ = ["tag_operations"]

Taggable = Literal["user", "role", "policy"]
_TITLE: dict[Taggable, str] = {"user": "User", "role": "Role", "policy": "Policy"}
_MEMBER: dict[Taggable, str] = {"user": "UserName", "role": "RoleName", "policy": "PolicyArn"}


def _owner_id(kind: Taggable, env: OpEnv, action: str, ref: str, context: Mapping[str, list[str]] | None) -> str:
    if kind == "user":
        return authorize_user(env, action, ref, context).id
    if kind == "role":
        return authorize_role(env, action, ref, context).id
    return authorize_policy(env, action, ref, context).id


def _tag(kind: Taggable) -> OpFunc:
    def tag(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
        pairs = check_tags(params.get("Tags", []))
        owner = _owner_id(kind, env, f"iam:Tag{_TITLE[kind]}", str(params[_MEMBER[kind]]), tag_context(pairs))
        iam = repo(env)
        check_tags(params.get("Tags", []), iam.get_tags(kind, owner))
        iam.set_tags(kind, owner, pairs)
        return {}

    return tag


def _untag(kind: Taggable) -> OpFunc:
    def untag(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
        keys = [str(k) for k in params.get("TagKeys", [])]
        ctx = {"aws:TagKeys": keys} if keys else None
        owner = _owner_id(kind, env, f"iam:Untag{_TITLE[kind]}", str(params[_MEMBER[kind]]), ctx)
        repo(env).remove_tags(kind, owner, keys)
        return {}

    return untag


def _list(kind: Taggable) -> OpFunc:
    def list_tags(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
        owner = _owner_id(kind, env, f"iam:List{_TITLE[kind]}Tags", str(params[_MEMBER[kind]]), None)
        page, more = paginate(repo(env).get_tags(kind, owner), lambda t: t[0].lower(), params)
        return {"Tags": tags_shape(page), **more}

    return list_tags


def tag_operations() -> dict[str, OpFunc]:
    ops: dict[str, OpFunc] = {}
    kinds: tuple[Taggable, ...] = ("user", "role", "policy")
    for kind in kinds:
        ops[f"Tag{_TITLE[kind]}"] = _tag(kind)
        ops[f"Untag{_TITLE[kind]}"] = _untag(kind)
        ops[f"List{_TITLE[kind]}Tags"] = _list(kind)
    return ops
