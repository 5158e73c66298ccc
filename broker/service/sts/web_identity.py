"""AssumeRoleWithWebIdentity (AWS STS API Reference,
https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html): unsigned, a thin
wrapper over :func:`broker.service.web_identity.web_identity_session`.

Response members ("Response Elements"): ``Credentials``, ``SubjectFromWebIdentityToken`` (the ``sub``),
``AssumedRoleUser``, ``PackedPolicySize`` (only when session policies or tags were passed),
``Provider`` and ``Audience``, ``SourceIdentity``. ``Provider`` is documented as "the issuing authority of
the web identity token"; broker returns the issuer as written in the provider (``iss``), as the
reference page says for OpenID Connect (docs/compatibility.md notes the IAM-ARN variant seen in practice).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.service.env import OpEnv
from broker.service.web_identity import WebIdentityServices, web_identity_session

__all__ = ["assume_role_with_web_identity"]


def assume_role_with_web_identity(
    services: WebIdentityServices, env: OpEnv, params: Mapping[str, Any]
) -> dict[str, Any]:
    duration = params.get("DurationSeconds")
    result = web_identity_session(
        env,
        services=services,
        token=str(params["WebIdentityToken"]),
        role_arn=str(params["RoleArn"]),
        session_name=str(params["RoleSessionName"]),
        duration_seconds=int(duration) if duration is not None else None,
        policy=params.get("Policy"),
        policy_arns=[str(d.get("arn", "")) for d in params.get("PolicyArns", [])],
        provider_id=params.get("ProviderId"),
    )
    out: dict[str, Any] = {
        "Credentials": result.minted.credentials_shape(),
        "SubjectFromWebIdentityToken": result.identity.subject,
        "AssumedRoleUser": dict(result.assumed_role_user),
        "Provider": result.identity.issuer,
        "Audience": result.identity.audience,
    }
    if result.packed_policy_size is not None:
        out["PackedPolicySize"] = result.packed_policy_size
    if result.source_identity is not None:
        out["SourceIdentity"] = result.source_identity
    return out
