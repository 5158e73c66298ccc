"""The SAML half of ``make demo``: the fixture SAML IdP, SAML provider ``fixture`` and role ``demo-saml``.

:func:`start_saml_idp` serves a :class:`SamlIdp` in a thread whose user ``alice`` releases the AWS ``Role``
attribute ``arn:…:role/demo-saml,arn:…:saml-provider/fixture`` and whose SP is broker (its ``/saml/metadata``
entity id and ``/saml/acs``). :func:`register_saml` (called with the root ``run`` of the OIDC demo's
registration) creates the SAML provider from the IdP's metadata, or updates the metadata when the provider
exists (the fixture IdP makes a new signing key every start, so a re-run must replace it), and the role
``demo-saml`` trusting that provider for ``sts:AssumeRoleWithSAML`` with ``SAML:aud`` = broker's ACS URL and
the same permissions as ``demo-ci``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from idp_fixtures.saml.idp import SamlIdp, User
from idp_fixtures.saml.server import RunningIdp

__all__ = ["PROVIDER_NAME", "ROLE_NAME", "USER", "register_saml", "saml_urls", "start_saml_idp"]

PROVIDER_NAME = "fixture"
ROLE_NAME = "demo-saml"
USER = "alice"
ENTITY_ID = "https://idp.fixture.test/saml"
READ_IAM = {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"}]}


def _arns(account: str, partition: str) -> tuple[str, str]:
    return (f"arn:{partition}:iam::{account}:role/{ROLE_NAME}",
            f"arn:{partition}:iam::{account}:saml-provider/{PROVIDER_NAME}")


def start_saml_idp(host: str, port: int, broker_url: str, account: str, partition: str = "aws") -> RunningIdp:
    """The fixture SAML IdP on ``host:port`` in a daemon thread, its SP being broker at ``broker_url``."""
    base = broker_url.rstrip("/")
    idp = SamlIdp(entity_id=ENTITY_ID, sign="both", sp_entity_id=f"{base}/saml/metadata",
                  sp_acs_url=f"{base}/saml/acs")
    idp.add_user(User.aws(USER, [_arns(account, partition)], f"{USER}@example.com"))
    try:
        return RunningIdp(idp, host, port).start()
    except OSError as exc:
        raise SystemExit(f"the fixture SAML IdP could not start on {host}:{port}: {exc}") from exc


def _trust(provider_arn: str, acs_url: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithSAML",
        "Condition": {"StringEquals": {"SAML:aud": acs_url}},
    }]})


def register_saml(run: Callable[..., Any], metadata: str, broker_url: str, account: str,
                  partition: str = "aws") -> str:
    """Register (or refresh) provider ``fixture`` and role ``demo-saml`` through ``run(action, **params)``.

    Idempotent: an existing provider gets the new metadata, an existing role the current trust policy.
    Returns the role ARN.
    """
    from broker.errors import EntityAlreadyExists

    role_arn, provider_arn = _arns(account, partition)
    acs_url = broker_url.rstrip("/") + "/saml/acs"
    try:
        run("CreateSAMLProvider", Name=PROVIDER_NAME, SAMLMetadataDocument=metadata)
    except EntityAlreadyExists:
        run("UpdateSAMLProvider", SAMLProviderArn=provider_arn, SAMLMetadataDocument=metadata)
    try:
        run("CreateRole", RoleName=ROLE_NAME, AssumeRolePolicyDocument=_trust(provider_arn, acs_url),
            Description="broker demo: user alice of the fixture SAML IdP")
    except EntityAlreadyExists:
        run("UpdateAssumeRolePolicy", RoleName=ROLE_NAME, PolicyDocument=_trust(provider_arn, acs_url))
    run("PutRolePolicy", RoleName=ROLE_NAME, PolicyName="read-iam", PolicyDocument=json.dumps(READ_IAM))
    return role_arn


def saml_urls(broker_url: str, idp_url: str) -> tuple[str, str]:
    """(SP-initiated login at broker, IdP-initiated login at the fixture IdP) for a browser."""
    return (f"{broker_url.rstrip('/')}/saml/login?provider={PROVIDER_NAME}", f"{idp_url}/idp-initiated?user={USER}")
