"""The STS API: one function per operation, registered by AWS action name.

Operations that mint or open sealed material need the keyring service, so the table is built by
:func:`sts_operations` with it bound (the dispatcher's ``OpEnv`` stays as it is).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from broker.service.env import OpEnv, OpFunc
from broker.service.keyring import KeyringService
from broker.service.sts.assume_role import assume_role
from broker.service.sts.role_use import RoleUse
from broker.service.sts.tokens import (
    decode_authorization_message,
    get_access_key_info,
    get_caller_identity,
    get_session_token,
)

__all__ = ["sts_operations"]


def _bind(op: Any, keyring: Any) -> OpFunc:
    bound = partial(op, keyring)

    def run(env: OpEnv, params: Mapping[str, Any]) -> Mapping[str, Any]:
        result: Mapping[str, Any] = bound(env, params)
        return result

    run.__name__ = op.__name__
    run.__doc__ = op.__doc__
    return run


def sts_operations(keyring: KeyringService, web_identity: Any = None, saml: Any = None) -> dict[str, OpFunc]:
    """The STS table; ``web_identity`` (``service.web_identity.WebIdentityServices``) adds
    AssumeRoleWithWebIdentity."""
    # AssumeRole shares web identity's RoleLastUsed throttle (one per node; service/sts/role_use.py)
    role_use = web_identity.role_use if web_identity is not None else RoleUse()

    def assume_role_op(keyring: KeyringService, env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
        return assume_role(keyring, env, params, role_use=role_use)

    assume_role_op.__name__ = assume_role.__name__
    assume_role_op.__doc__ = assume_role.__doc__
    table = {
        "AssumeRole": _bind(assume_role_op, keyring),
        "GetSessionToken": _bind(get_session_token, keyring),
        "DecodeAuthorizationMessage": _bind(decode_authorization_message, keyring),
        "GetCallerIdentity": get_caller_identity,
        "GetAccessKeyInfo": get_access_key_info,
    }
    if web_identity is not None:  # imported here: service.web_identity itself imports sts.common
        from broker.service.sts.web_identity import assume_role_with_web_identity

        table["AssumeRoleWithWebIdentity"] = _bind(assume_role_with_web_identity, web_identity)
    if saml is not None:  # service.saml_session.SamlSp adds AssumeRoleWithSAML
        from broker.service.sts.saml import assume_role_with_saml

        table["AssumeRoleWithSAML"] = _bind(assume_role_with_saml, saml)
    return table
