"""GetSessionToken, GetCallerIdentity, GetAccessKeyInfo and DecodeAuthorizationMessage.

AWS STS API Reference (https://docs.aws.amazon.com/STS/latest/APIReference/):
- API_GetSessionToken: IAM users and the root user with long-term credentials; ``DurationSeconds``
  900-129,600, default 43,200; "Sessions for AWS account owners are restricted to a maximum of 3,600
  seconds (one hour). If the duration is longer than one hour, the session for AWS account owners
  defaults to one hour"; "No permissions are required for users to perform this operation"; MFA through
  ``SerialNumber``/``TokenCode``. Called with session credentials AWS answers AccessDenied "Cannot call
  GetSessionToken with session credentials" (observed wording).
- API_GetCallerIdentity: "No permissions are required to perform this operation" — even an explicit
  deny does not stop it.
- API_GetAccessKeyInfo: returns the account that owns an access key id (``AKIA…`` or ``ASIA…``); needs
  ``sts:GetAccessKeyInfo``. broker holds one account, so every key id it could have issued is its own.
- API_DecodeAuthorizationMessage: needs ``sts:DecodeAuthorizationMessage``; ``DecodedMessage`` is JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from broker.credentials.authz_message import open_message
from broker.credentials.mint import SessionSpec, mint
from broker.errors import AccessDenied
from broker.service.env import OpEnv
from broker.service.keyring import KeyringService
from broker.service.sts.common import verify_mfa

__all__ = [
    "decode_authorization_message",
    "get_access_key_info",
    "get_caller_identity",
    "get_session_token",
]

DEFAULT_SESSION_TOKEN_DURATION = 43_200
ROOT_SESSION_LIMIT = 3_600


def _caller(env: OpEnv, action: str) -> Any:
    caller = env.call.principal
    if caller is None:
        raise AccessDenied(f"Anonymous is not authorized to perform: {action}")
    return caller


def get_session_token(keyring: KeyringService, env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    caller = _caller(env, "sts:GetSessionToken")
    if caller.temporary or caller.kind not in ("user", "root"):
        raise AccessDenied("Cannot call GetSessionToken with session credentials",
                           detail=f"{caller.arn} holds temporary credentials")
    duration = int(params.get("DurationSeconds", DEFAULT_SESSION_TOKEN_DURATION))
    if caller.is_root:
        duration = min(duration, ROOT_SESSION_LIMIT)
    mfa_at = verify_mfa(env, caller, params.get("SerialNumber"), params.get("TokenCode"))
    spec = SessionSpec(
        kind="root" if caller.is_root else "user",
        account=caller.account,
        principal_arn=caller.arn,
        principal_id=caller.user_id,
        principal_name=caller.name,
        duration_seconds=duration,
        mfa_authenticated_at=mfa_at,
    )
    minted = mint(spec, codec=keyring.codec, now=env.call.now, entropy=env.entropy)
    return {"Credentials": minted.credentials_shape()}


def get_caller_identity(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    caller = _caller(env, "sts:GetCallerIdentity")
    return {"UserId": caller.user_id, "Account": caller.account, "Arn": caller.arn}


def get_access_key_info(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    env.authorize("sts:GetAccessKeyInfo", "*")
    return {"Account": env.arns.account}


def decode_authorization_message(keyring: KeyringService, env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    env.authorize("sts:DecodeAuthorizationMessage", "*")
    message = open_message(str(params["EncodedMessage"]), keyring.keyring, now=env.call.now)
    return {"DecodedMessage": json.dumps(message, separators=(",", ":"))}
