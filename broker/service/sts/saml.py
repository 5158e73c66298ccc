"""AssumeRoleWithSAML (AWS STS API Reference, API_AssumeRoleWithSAML,
https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithSAML.html).

Unsigned (``smithy.api#noAuth``): the SAML assertion is the credential. A thin wrapper over
:func:`broker.service.saml_session.saml_session`, which holds the semantics.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from broker.service.env import OpEnv
from broker.service.saml_session import SamlSp, saml_session

__all__ = ["assume_role_with_saml"]


def assume_role_with_saml(sp: SamlSp, env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    duration = params.get("DurationSeconds")
    result = saml_session(
        sp,
        env,
        saml_response_b64=str(params["SAMLAssertion"]),
        role_arn=str(params["RoleArn"]),
        principal_arn=str(params["PrincipalArn"]),
        duration_seconds=int(duration) if duration is not None else None,
        policy=params.get("Policy"),
        policy_arns=params.get("PolicyArns", []),
    )
    return result.output()
