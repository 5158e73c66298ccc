"""RFC 8693 token exchange end to end: a real ``broker serve`` (SQLite and PostgreSQL), ID tokens from the fixture
OIDC IdP, credentials used with boto3, JWT access tokens verified with broker's published JWKS, and the bad-input
classes answered with RFC 6749 error JSON (never a 5xx, nothing minted)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from tests.e2e.conftest import ACCOUNT, Server
from tests.e2e.oidc_flows_support import CI_ROLE, Idp, broker_for, idp_fixture  # noqa: F401 (fixture)

pytestmark = pytest.mark.e2e
GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, idp: Idp) -> Iterator[Server]:
    yield from broker_for("tx", tmp_path_factory, idp, request.param)


def exchange(server: Server, **form: Any) -> httpx.Response:
    return httpx.post(server.url + "/oauth2/token", data=form, timeout=30)


def good(token: str, **extra: Any) -> dict[str, Any]:
    return {"grant_type": GRANT, "subject_token": token, "subject_token_type": ID_TOKEN, "audience": CI_ROLE,
            **extra}


def test_aws_credentials_work_with_boto3(server: Server, idp: Idp) -> None:
    response = exchange(server, **good(idp.token(), role_session_name="gha", duration_seconds="900"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "N_A" and body["expires_in"] == 900
    creds = body["credentials"]
    me = server.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                       token=creds["SessionToken"]).get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/ci-deploy/gha"
    assert body["assumed_role_user"]["Arn"] == me["Arn"]


def test_access_token_verifies_against_published_keys(server: Server, idp: Idp) -> None:
    response = exchange(server, **good(idp.token(), requested_token_type=ACCESS_TOKEN))
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    config = httpx.get(server.url + "/.well-known/openid-configuration").json()
    assert config["issuer"] == server.url
    assert ID_TOKEN in config["subject_token_types_supported"]
    client = jwt.PyJWKClient(config["jwks_uri"])
    key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=config["id_token_signing_alg_values_supported"],
                        audience=CI_ROLE, issuer=server.url)
    assert claims["sub"] == "repo:octo-org/octo-repo:ref:refs/heads/main"
    assert claims["role"] == CI_ROLE
    assert claims["provider"] == idp.provider_arn
    assert claims["client_id"] == "sts.amazonaws.com"


def _tampered(token: str) -> str:
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "repo:octo-org/other:ref:refs/heads/main"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{sig}"


@pytest.mark.parametrize(
    ("case", "error", "aws_code"),
    [
        ("wrong-grant", "unsupported_grant_type", None),
        ("missing-token", "invalid_request", None),
        ("unsupported-type", "invalid_request", "ValidationError"),
        ("unknown-role", "invalid_target", "AccessDenied"),
        ("other-account-role", "invalid_target", "InvalidParameterValue"),
        ("oversized", "invalid_request", "ValidationError"),
        ("expired", "invalid_request", "ExpiredTokenException"),
        ("tampered", "invalid_request", "InvalidIdentityToken"),
        ("alg-none", "invalid_request", "InvalidIdentityToken"),
        ("wrong-sub", "invalid_target", "AccessDenied"),
        ("too-long", "invalid_request", "ValidationError"),
    ],
)
def test_bad_input(server: Server, idp: Idp, case: str, error: str, aws_code: str | None) -> None:
    token = idp.token()
    form = good(token)
    if case == "wrong-grant":
        form["grant_type"] = "authorization_code"
    elif case == "missing-token":
        del form["subject_token"]
    elif case == "unsupported-type":
        form["subject_token_type"] = "urn:ietf:params:oauth:token-type:saml1"
    elif case == "unknown-role":
        form["audience"] = f"arn:aws:iam::{ACCOUNT}:role/nope"
    elif case == "other-account-role":
        form["audience"] = "arn:aws:iam::999999999999:role/ci-deploy"
    elif case == "oversized":
        form["subject_token"] = token + "A" * 20_001
    elif case == "expired":
        form["subject_token"] = idp.token(now=int(time.time()) - 7200, lifetime=600)
    elif case == "tampered":
        form["subject_token"] = _tampered(token)
    elif case == "alg-none":
        claims = jwt.decode(token, options={"verify_signature": False})
        form["subject_token"] = jwt.encode(claims, "", algorithm="none", headers={"kid": "x"})
    elif case == "wrong-sub":
        form["subject_token"] = idp.token(sub="repo:evil/repo:ref:refs/heads/main")
    elif case == "too-long":
        form["duration_seconds"] = "43200"
    response = exchange(server, **form)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == error
    assert body.get("aws_error_code") == aws_code
    assert "credentials" not in body and "access_token" not in body
    assert response.headers["cache-control"] == "no-store"
