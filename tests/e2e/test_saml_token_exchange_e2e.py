"""RFC 8693 token exchange with SAML 2.0 subject tokens against the running server: a response from the
fixture IdP (base64 and base64url) becomes AWS credentials or a JWT access token; replayed, forged, expired
and wrongly-addressed responses are refused with RFC 6749 errors carrying the AWS code, nothing minted."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import jwt
import pytest
from botocore.config import Config

from idp_fixtures.saml import SamlIdp, User
from tests.e2e.conftest import ACCOUNT, Server

pytestmark = pytest.mark.e2e

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
SAML2 = "urn:ietf:params:oauth:token-type:saml2"
AWS_CREDS = "urn:broker:token-type:aws-credentials"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
PROVIDER_ARN = f"arn:aws:iam::{ACCOUNT}:saml-provider/fixture-tx"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/saml-tx"


@dataclass
class Setup:
    server: Server
    idp: SamlIdp


@pytest.fixture(scope="module")
def saml(server: Server) -> Iterator[Setup]:
    idp = SamlIdp(entity_id=f"https://idp-{uuid.uuid4().hex[:8]}.fixture.test/saml", sign="assertion",
                  sp_entity_id=server.url + "/saml/metadata", sp_acs_url=server.url + "/saml/acs")
    idp.add_user(User.aws("bob", [(ROLE_ARN, PROVIDER_ARN)], "bob"))
    iam = server.client("iam")
    iam.create_saml_provider(Name="fixture-tx", SAMLMetadataDocument=idp.metadata())
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": PROVIDER_ARN}, "Action": "sts:AssumeRoleWithSAML",
        "Condition": {"StringEquals": {"saml:sub": "bob"}},
    }]}
    iam.create_role(RoleName="saml-tx", AssumeRolePolicyDocument=json.dumps(trust))
    yield Setup(server, idp)
    iam.delete_role(RoleName="saml-tx")
    iam.delete_saml_provider(SAMLProviderArn=PROVIDER_ARN)


@pytest.fixture(autouse=True)
def _reset(saml: Setup) -> Iterator[None]:
    saml.idp.fault, saml.idp.overrides = None, {}
    yield
    saml.idp.fault, saml.idp.overrides = None, {}


def _exchange(saml: Setup, token: str, **extra: str) -> httpx.Response:
    data = {"grant_type": GRANT, "subject_token": token, "subject_token_type": SAML2, "audience": ROLE_ARN}
    data.update(extra)
    return httpx.post(saml.server.url + "/oauth2/token", data=data, timeout=30)


def test_saml_response_for_aws_credentials(saml: Setup) -> None:
    r = _exchange(saml, saml.idp.response_b64(), requested_token_type=AWS_CREDS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["issued_token_type"] == AWS_CREDS and body["token_type"] == "N_A"
    creds = body["credentials"]
    assert body["assumed_role_user"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/saml-tx/bob"
    sts = boto3.client("sts", endpoint_url=saml.server.url, region_name="us-east-1",
                       aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                       aws_session_token=creds["SessionToken"], config=Config(retries={"max_attempts": 1}))
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/saml-tx/bob"


def test_base64url_subject_token_and_jwt_access_token(saml: Setup) -> None:
    token = base64.urlsafe_b64encode(saml.idp.response_xml()).decode().rstrip("=")
    r = _exchange(saml, token, requested_token_type=ACCESS_TOKEN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["issued_token_type"] == ACCESS_TOKEN and body["token_type"] == "Bearer"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "bob" and claims["role"] == ROLE_ARN and claims["provider"] == PROVIDER_ARN


def test_replayed_response_is_refused(saml: Setup) -> None:
    token = saml.idp.response_b64()
    assert _exchange(saml, token).status_code == 200
    r = _exchange(saml, token)
    assert r.status_code == 400
    assert r.json()["aws_error_code"] == "InvalidIdentityToken"
    assert "credentials" not in r.json()


@pytest.mark.parametrize(("change", "code"), [
    ({"fault": "xsw-after"}, "InvalidIdentityToken"),
    ({"fault": "nameid-comment"}, "InvalidIdentityToken"),
    ({"overrides": {"recipient": "https://elsewhere.example/saml/acs"}}, "InvalidIdentityToken"),
    ({"overrides": {"audience": "urn:amazon:webservices"}}, "InvalidIdentityToken"),
    ({"overrides": {"issuer": "https://unknown-idp.example"}}, "InvalidIdentityToken"),
    ({"expired": True}, "ExpiredTokenException"),
])
def test_bad_responses_are_refused(saml: Setup, change: dict[str, Any], code: str) -> None:
    if "fault" in change:
        saml.idp.fault = change["fault"]
    saml.idp.overrides.update(change.get("overrides", {}))
    if change.get("expired"):
        saml.idp.expired()
    r = _exchange(saml, saml.idp.response_b64())
    assert r.status_code == 400, r.text
    assert r.json()["aws_error_code"] == code
    assert "access_token" not in r.json()


def test_trust_policy_denial_and_garbage(saml: Setup) -> None:
    saml.idp.users["bob"].name_id = "mallory"
    try:
        r = _exchange(saml, saml.idp.response_b64())
    finally:
        saml.idp.users["bob"].name_id = "bob"
    assert r.status_code == 400 and r.json()["aws_error_code"] == "AccessDenied"
    r = _exchange(saml, "bm90IHhtbA")
    assert r.status_code == 400 and r.json()["aws_error_code"] == "InvalidIdentityToken"
    assert _exchange(saml, "A" * 100_001).status_code == 400
