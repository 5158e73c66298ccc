"""Access keys: CreateAccessKey, ListAccessKeys, UpdateAccessKey, DeleteAccessKey, GetAccessKeyLastUsed.

IAM API Reference, API_CreateAccessKey ("Errors": ``LimitExceeded`` at two keys per user,
https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateAccessKey.html) and "Managing access keys
for IAM users" (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html):
without ``UserName`` the calls act on the caller, including the root user.
The secret is returned once, by CreateAccessKey, and stored only sealed by the envelope under the
associated data ``access-key:AKID``. It is never logged or kept in a record's ``repr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker import ids
from broker.errors import LimitExceeded, NoSuchEntity
from broker.service.env import OpEnv
from broker.service.iam.common import authorize_target_user, repo
from broker.service.iam.pagination import paginate
from broker.store.sqlalchemy.repositories.iam_records import AccessKeyRecord, UserRecord

__all__ = [
    "ACCESS_KEYS_PER_USER",
    "create_access_key",
    "delete_access_key",
    "get_access_key_last_used",
    "list_access_keys",
    "update_access_key",
]

ACCESS_KEYS_PER_USER = 2


def _no_such_key(akid: str) -> NoSuchEntity:
    return NoSuchEntity(f"The Access Key with id {akid} cannot be found.")


def _key_of(env: OpEnv, owner: UserRecord | None, akid: str) -> AccessKeyRecord:
    key = repo(env).find_access_key(akid)
    if key is None or key.user_id != (owner.id if owner else None):
        raise _no_such_key(akid)
    return key


def _metadata(key: AccessKeyRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"AccessKeyId": key.access_key_id, "Status": key.status, "CreateDate": key.created_at}
    if key.user_name is not None:
        out["UserName"] = key.user_name
    return out


def create_access_key(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    owner = authorize_target_user(env, params, "iam:CreateAccessKey")
    iam = repo(env)
    if len(iam.list_access_keys(owner.id if owner else None)) >= ACCESS_KEYS_PER_USER:
        raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {ACCESS_KEYS_PER_USER}")
    akid = ids.access_key_id(env.entropy)
    secret = ids.secret_access_key(env.entropy)
    sealed = env.envelope.seal(secret.encode("utf-8"), aad=f"access-key:{akid}".encode())
    iam.create_access_key(akid, owner.id if owner else None, sealed, env.call.now)
    out: dict[str, Any] = {
        "AccessKeyId": akid,
        "Status": "Active",
        "SecretAccessKey": secret,
        "CreateDate": env.call.now,
    }
    if owner is not None:
        out["UserName"] = owner.name
    return {"AccessKey": out}


def list_access_keys(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    owner = authorize_target_user(env, params, "iam:ListAccessKeys")
    keys = repo(env).list_access_keys(owner.id if owner else None)
    page, more = paginate(keys, lambda k: f"{k.created_at.isoformat()}|{k.access_key_id}", params)
    return {"AccessKeyMetadata": [_metadata(k) for k in page], **more}


def update_access_key(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    owner = authorize_target_user(env, params, "iam:UpdateAccessKey")
    key = _key_of(env, owner, str(params["AccessKeyId"]))
    repo(env).set_access_key_status(key.access_key_id, str(params["Status"]))
    return {}


def delete_access_key(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    owner = authorize_target_user(env, params, "iam:DeleteAccessKey")
    key = _key_of(env, owner, str(params["AccessKeyId"]))
    repo(env).delete_access_key(key.access_key_id)
    return {}


def get_access_key_last_used(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    """GetAccessKeyLastUsed: ``ServiceName``/``Region`` are ``N/A`` until the key is first used
    (API_AccessKeyLastUsed, https://docs.aws.amazon.com/IAM/latest/APIReference/API_AccessKeyLastUsed.html)."""
    akid = str(params["AccessKeyId"])
    key = repo(env).find_access_key(akid)
    if key is None:
        env.authorize("iam:GetAccessKeyLastUsed", env.arns.iam("user/*"))
        raise _no_such_key(akid)
    resource = env.arns.user(key.user_name, key.user_path or "/") if key.user_name else env.arns.root()
    env.authorize("iam:GetAccessKeyLastUsed", resource)
    last: dict[str, Any] = {"ServiceName": key.last_used_service or "N/A", "Region": key.last_used_region or "N/A"}
    if key.last_used_at is not None:
        last["LastUsedDate"] = key.last_used_at
    out: dict[str, Any] = {"AccessKeyLastUsed": last}
    if key.user_name is not None:
        out["UserName"] = key.user_name
    return out
