"""AssumeRoleWithWebIdentity end to end: a real ``broker serve`` and the fixture OIDC IdP on loopback,
driven by boto3 (the API call and the SDK-native web-identity provider) and the AWS CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.conftest import ACCOUNT, Server, _free_port, make_store, start_server, stop_server

pytestmark = pytest.mark.e2e
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci-deploy"


class Idp:
    def __init__(self, url: str, process: subprocess.Popen[bytes]) -> None:
        self.url, self.process = url, process
        self.prefix = url.split("://", 1)[1]

    def token(self, **body: Any) -> str:
        body.setdefault("profile", "github")
        return str(httpx.post(f"{self.url}/admin/token", json=body).json()["id_token"])

    def admin(self, what: str, **body: Any) -> Any:
        return httpx.post(f"{self.url}/admin/{what}", json=body).json()

    def stats(self) -> Any:
        return httpx.get(f"{self.url}/admin/stats").json()


@pytest.fixture(scope="module")
def idp() -> Iterator[Idp]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "idp_fixtures.oidc", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/.well-known/openid-configuration", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    try:
        yield Idp(url, proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, idp: Idp) -> Iterator[Server]:
    spec = make_store(request.param)
    home = tmp_path_factory.mktemp(f"broker-wif-{spec.name}")
    srv = start_server(home, spec.name, spec.url, {"BROKER_ALLOW_HTTP_ISSUERS": "1",
                                                   "BROKER_OIDC_MIN_REFETCH_SECONDS": "0"})
    try:
        iam = srv.client("iam")
        iam.create_open_id_connect_provider(Url=idp.url, ClientIDList=["sts.amazonaws.com"])
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{idp.prefix}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{idp.prefix}:aud": "sts.amazonaws.com"},
                          "StringLike": {f"{idp.prefix}:sub": "repo:octo-org/octo-repo:*"}},
        }]}
        iam.create_role(RoleName="ci-deploy", AssumeRolePolicyDocument=json.dumps(trust))
        yield srv
    finally:
        stop_server(srv)
        spec.cleanup()
        shutil.rmtree(home, ignore_errors=True)


def _sts(server: Server) -> Any:
    return boto3.client("sts", endpoint_url=server.url, region_name="us-east-1",
                        config=Config(retries={"max_attempts": 1}, signature_version=None))


def _assume(server: Server, token: str, **kw: Any) -> Any:
    return _sts(server).assume_role_with_web_identity(RoleArn=ROLE, RoleSessionName="gha", WebIdentityToken=token, **kw)


def test_boto3_assume_role_with_web_identity_then_call_with_the_session(server: Server, idp: Idp) -> None:
    out = _assume(server, idp.token(), DurationSeconds=900)
    assert out["SubjectFromWebIdentityToken"] == "repo:octo-org/octo-repo:ref:refs/heads/main"
    assert out["Audience"] == "sts.amazonaws.com"
    assert out["Provider"] == idp.url
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/ci-deploy/gha"
    creds = out["Credentials"]
    me = server.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                       token=creds["SessionToken"]).get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/ci-deploy/gha"


def test_sdk_native_web_identity_provider(server: Server, idp: Idp, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(idp.token())
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file), AWS_ROLE_ARN=ROLE, AWS_ROLE_SESSION_NAME="sdk",
               AWS_ENDPOINT_URL_STS=server.url, AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_EC2_METADATA_DISABLED="true")
    script = "import boto3, json; print(json.dumps(boto3.client('sts').get_caller_identity()['Arn']))"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == f"arn:aws:sts::{ACCOUNT}:assumed-role/ci-deploy/sdk"


def _error(server: Server, token: str, **kw: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as info:
        _assume(server, token, **kw)
    response: Any = info.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def test_denials_and_bad_tokens_never_5xx(server: Server, idp: Idp) -> None:
    status, code, message = _error(server, idp.token(sub="repo:evil/octo-repo:ref:refs/heads/main"))
    assert (status, code) == (403, "AccessDenied")
    assert message.endswith(f"condition {idp.prefix}:sub StringLike did not match")
    assert _error(server, idp.token(audience="nope"))[:2] == (400, "InvalidIdentityToken")
    assert _error(server, idp.token(now=int(time.time()) - 4000, lifetime=300))[:2] == (400, "ExpiredTokenException")
    head, body, _ = idp.token().split(".")
    assert _error(server, f"{head}.{body}.AAAA")[:2] == (400, "InvalidIdentityToken")
    assert _error(server, "not-a-jwt-at-all")[:2] == (400, "InvalidIdentityToken")


def test_key_rotation_and_idp_faults(server: Server, idp: Idp) -> None:
    _assume(server, idp.token())
    idp.admin("rotate", retire_previous=True)
    _assume(server, idp.token())  # unknown kid: refetched
    for mode in ("down", "garbage", "huge", "redirect"):
        idp.admin("fault", mode=mode)
        _assume(server, idp.token())  # last-known-good keys
    status, code, _ = _error(server, idp.token(headers={"kid": "never-published"}))
    assert (status, code) == (400, "IDPCommunicationError")  # unknown kid while the IdP answers garbage
    ready = httpx.get(server.url + "/readyz").json()
    assert ready["oidc"][idp.url]["status"] == "stale"
    idp.admin("fault", mode="ok")
    _assume(server, idp.token())
    assert httpx.get(server.url + "/readyz").json()["oidc"][idp.url]["status"] in ("ok", "stale")
    metrics = httpx.get(server.url + "/metrics").text
    assert "broker_oidc_jwks_up" in metrics


def test_aws_cli_assume_role_with_web_identity(server: Server, idp: Idp) -> None:
    done = server.aws("sts", "assume-role-with-web-identity", "--role-arn", ROLE, "--role-session-name", "cli",
                      "--web-identity-token", idp.token())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["AssumedRoleUser"]["Arn"].endswith(":assumed-role/ci-deploy/cli")
