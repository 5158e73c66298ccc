"""Role chaining from a web-identity session end to end (boto3 against ``broker serve``, both stores): the
second role's trust policy is conditioned on ``HOST:sub`` and ``aws:FederatedProvider``, and the chained
session's own later requests are allowed by a role policy conditioned on the same keys."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.conftest import ACCOUNT, Server, make_store, start_server, stop_server
from tests.e2e.test_web_identity_e2e import Idp, _assume, idp  # noqa: F401 (fixture)

pytestmark = pytest.mark.e2e
MAIN = "repo:octo-org/octo-repo:ref:refs/heads/main"
DEV = "repo:octo-org/octo-repo:ref:refs/heads/dev"
PROD = f"arn:aws:iam::{ACCOUNT}:role/prod"


def _doc(statement: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, idp: Idp) -> Iterator[Server]:  # noqa: F811
    spec = make_store(request.param)
    home = tmp_path_factory.mktemp(f"broker-chain-{spec.name}")
    srv = start_server(home, spec.name, spec.url, {"BROKER_ALLOW_HTTP_ISSUERS": "1"})
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{idp.prefix}"
    try:
        iam = srv.client("iam")
        iam.create_open_id_connect_provider(Url=idp.url, ClientIDList=["sts.amazonaws.com"])
        iam.create_role(RoleName="ci-deploy", AssumeRolePolicyDocument=_doc({
            "Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{idp.prefix}:aud": "sts.amazonaws.com"},
                          "StringLike": {f"{idp.prefix}:sub": "repo:octo-org/octo-repo:*"}}}))
        iam.put_role_policy(RoleName="ci-deploy", PolicyName="chain", PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": PROD}))
        iam.create_role(RoleName="prod", AssumeRolePolicyDocument=_doc({
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/ci-deploy"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {f"{idp.prefix}:sub": MAIN, "aws:FederatedProvider": provider}}}))
        iam.put_role_policy(RoleName="prod", PolicyName="main-only", PolicyDocument=_doc({
            "Effect": "Allow", "Action": "iam:GetRole", "Resource": "*",
            "Condition": {"StringEquals": {f"{idp.prefix}:sub": MAIN, f"{idp.prefix}:aud": "sts.amazonaws.com",
                                           "aws:FederatedProvider": provider}}}))
        yield srv
    finally:
        stop_server(srv)
        spec.cleanup()
        shutil.rmtree(home, ignore_errors=True)


def _session_client(server: Server, service: str, creds: dict[str, Any]) -> Any:
    return server.client(service, key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                         token=creds["SessionToken"])


def test_chain_from_web_identity_keeps_the_oidc_keys(server: Server, idp: Idp) -> None:  # noqa: F811
    first = _assume(server, idp.token(sub=MAIN))["Credentials"]
    chained = _session_client(server, "sts", first).assume_role(RoleArn=PROD, RoleSessionName="prod-deploy")
    assert chained["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/prod/prod-deploy"
    creds = chained["Credentials"]
    assert _session_client(server, "sts", creds).get_caller_identity()["Arn"].endswith("assumed-role/prod/prod-deploy")
    role = _session_client(server, "iam", creds).get_role(RoleName="prod")  # allowed only through HOST:sub
    assert role["Role"]["Arn"] == PROD


def test_chain_refused_for_a_subject_the_second_trust_does_not_admit(server: Server, idp: Idp) -> None:  # noqa: F811
    first = _assume(server, idp.token(sub=DEV))["Credentials"]
    with pytest.raises(ClientError) as info:
        _session_client(server, "sts", first).assume_role(RoleArn=PROD, RoleSessionName="prod-deploy")
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
