"""ID tokens from an independent, OpenID Certified provider (npm ``oidc-provider``, tests/interop/oidc_provider)
are accepted by a real ``broker serve`` through boto3 ``assume_role_with_web_identity``; broker follows the
provider's key rotation, refuses its expired tokens with ``ExpiredTokenException``, and carries its ``sub`` into
later requests made with the session (a role policy conditioned on ``PREFIX:sub``).

The tokens come out of the provider's own authorization-code flow: this test drives its login and consent pages
over HTTP like a browser (redirects and cookies, PKCE S256), then redeems the code at its token endpoint. Nothing
here mints or signs a token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import jwt
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.e2e.conftest import ACCOUNT, Server, _free_port, start_server, stop_server

NODE = shutil.which("node")
HERE = Path(__file__).parent / "oidc_provider"
REDIRECT = "http://127.0.0.1/callback"
CLIENT, SHORT_CLIENT = "broker-interop", "broker-interop-short"  # the provider's ID token lifetimes: 300 s and 2 s
SUB = "repo:octo-org/octo-repo:ref:refs/heads/main"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/interop"

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(NODE is None, reason="node is not installed (CI has it)")]


def _jwk(kid: str) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key))
    jwk.update(kid=kid, use="sig", alg="RS256")
    return jwk


class Provider:
    """The node process on a fixed loopback port (the issuer URL includes the port, so restarts keep it)."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.prefix = self.issuer.split("://", 1)[1]
        self.jwks_file = workdir / "jwks.json"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, keys: list[dict[str, Any]]) -> None:
        self.jwks_file.write_text(json.dumps({"keys": keys}))
        assert NODE is not None
        self.process = subprocess.Popen([NODE, str(HERE / "server.mjs"), "--port", str(self.port),
                                         "--jwks", str(self.jwks_file)],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode().strip()
        assert line == f"ready {self.issuer}", line

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None

    def id_token(self, *, login: str = SUB, client: str = CLIENT) -> str:
        """The authorization-code flow through the provider's own devInteractions pages."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        with httpx.Client(base_url=self.issuer, follow_redirects=False, timeout=10) as browser:
            page = browser.get("/auth", params={
                "client_id": client, "response_type": "code", "scope": "openid", "redirect_uri": REDIRECT,
                "state": state, "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256"})
            for _ in range(10):
                location = page.headers.get("location", "")
                if page.is_redirect and location.startswith(REDIRECT):
                    break
                if page.is_redirect:
                    page = browser.get(location)
                    continue
                assert page.status_code == 200, page.text
                action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
                prompt = re.search(r'name="prompt" value="([^"]+)"', page.text)
                assert action and prompt, page.text
                page = browser.post(action.group(1), data={"prompt": prompt.group(1), "login": login,
                                                           "password": "any"})
            else:  # pragma: no cover
                raise AssertionError("the provider never redirected back")
            back = httpx.URL(location).params
            assert (back["state"], back["iss"]) == (state, self.issuer)
            answer = browser.post("/token", data={
                "grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT,
                "client_id": client, "client_secret": f"{client}-secret", "code_verifier": verifier})
            assert answer.status_code == 200, answer.text
            token = str(answer.json()["id_token"])
        claims = jwt.decode(token, options={"verify_signature": False})
        assert (claims["iss"], claims["aud"], claims["nonce"]) == (self.issuer, client, nonce)
        return token


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    if not (HERE / "node_modules" / "oidc-provider").is_dir():  # .ci/run installs it; a fresh clone may not have
        subprocess.run(["npm", "ci", "--prefix", str(HERE), "--no-audit", "--no-fund", "--silent"],
                       check=True, timeout=300)
    p = Provider(tmp_path_factory.mktemp("oidc-provider"))
    p.start([_jwk("key-1")])
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, provider: Provider) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("broker-interop")
    srv = start_server(home, "sqlite", None, {"BROKER_ALLOW_HTTP_ISSUERS": "1", "BROKER_CLOCK_SKEW_SECONDS": "1",
                                             "BROKER_OIDC_MIN_REFETCH_SECONDS": "0"})
    try:
        srv.client("iam").create_open_id_connect_provider(Url=provider.issuer, ClientIDList=[CLIENT, SHORT_CLIENT])
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{provider.prefix}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{provider.prefix}:aud": [CLIENT, SHORT_CLIENT]},
                          "StringLike": {f"{provider.prefix}:sub": "repo:octo-org/octo-repo:*"}},
        }]}
        srv.client("iam").create_role(RoleName="interop", AssumeRolePolicyDocument=json.dumps(trust))
        yield srv
    finally:
        stop_server(srv)
        shutil.rmtree(home, ignore_errors=True)


def _assume(server: Server, token: str) -> Any:
    sts = boto3.client("sts", endpoint_url=server.url, region_name="us-east-1",
                       config=Config(retries={"max_attempts": 1}, signature_version=None))
    return sts.assume_role_with_web_identity(RoleArn=ROLE, RoleSessionName="interop", WebIdentityToken=token)


def _refusal(server: Server, token: str) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as info:
        _assume(server, token)
    response: Any = info.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def test_its_id_tokens_are_accepted_and_the_session_works(server: Server, provider: Provider) -> None:
    out = _assume(server, provider.id_token())
    assert (out["SubjectFromWebIdentityToken"], out["Audience"], out["Provider"]) == (SUB, CLIENT, provider.issuer)
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/interop/interop"
    creds = out["Credentials"]
    me = server.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                       token=creds["SessionToken"]).get_caller_identity()
    assert me["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/interop/interop"


def test_sdk_native_web_identity_provider_with_its_token(server: Server, provider: Provider, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(provider.id_token())
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file), AWS_ROLE_ARN=ROLE, AWS_ROLE_SESSION_NAME="sdk",
               AWS_ENDPOINT_URL_STS=server.url, AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "no"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no"), AWS_EC2_METADATA_DISABLED="true")
    script = "import boto3, json; print(json.dumps(boto3.client('sts').get_caller_identity()['Arn']))"
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == f"arn:aws:sts::{ACCOUNT}:assumed-role/interop/sdk"


def test_its_subject_conditions_later_requests(server: Server, provider: Provider) -> None:
    """``PREFIX:sub`` and ``aws:FederatedProvider`` are carried into calls made with the session."""
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "iam:GetRole", "Resource": ROLE,
        "Condition": {"StringEquals": {f"{provider.prefix}:sub": SUB, f"{provider.prefix}:aud": CLIENT,
                                       "aws:FederatedProvider": f"arn:aws:iam::{ACCOUNT}:oidc-provider/"
                                                                f"{provider.prefix}"}}}]}
    server.client("iam").put_role_policy(RoleName="interop", PolicyName="main-only", PolicyDocument=json.dumps(policy))

    def get_role(login: str) -> Any:
        creds = _assume(server, provider.id_token(login=login))["Credentials"]
        iam = server.client("iam", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                            token=creds["SessionToken"])
        return iam.get_role(RoleName="interop")

    assert get_role(SUB)["Role"]["Arn"] == ROLE
    with pytest.raises(ClientError) as info:
        get_role("repo:octo-org/octo-repo:ref:refs/heads/dev")  # admitted by the trust policy, not by this policy
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    assert info.value.response["Error"]["Message"].endswith("because no identity-based policy allows the "
                                                            "iam:GetRole action")


def test_its_identities_are_held_to_the_trust_policy(server: Server, provider: Provider) -> None:
    status, code, message = _refusal(server, provider.id_token(login="repo:evil/octo-repo:ref:refs/heads/main"))
    assert (status, code) == (403, "AccessDenied")
    assert message.endswith(f"condition {provider.prefix}:sub StringLike did not match")


def test_broker_follows_its_key_rotation(server: Server, provider: Provider) -> None:
    before = provider.id_token()
    assert jwt.get_unverified_header(before)["kid"] == "key-1"
    _assume(server, before)
    old = json.loads(provider.jwks_file.read_text())["keys"]
    provider.stop()
    provider.start([_jwk("key-2"), *old])  # the provider signs with its first key and still publishes the old one
    after = provider.id_token()
    assert jwt.get_unverified_header(after)["kid"] == "key-2"
    assert _assume(server, after)["SubjectFromWebIdentityToken"] == SUB  # unknown kid: broker refetched the JWKS
    assert _assume(server, before)["SubjectFromWebIdentityToken"] == SUB  # the old key is still published


def test_its_expired_tokens_are_refused(server: Server, provider: Provider) -> None:
    token = provider.id_token(client=SHORT_CLIENT)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 2
    while time.time() <= claims["exp"] + 1 + 1:  # past exp plus broker's 1 s skew, on whole seconds
        time.sleep(0.25)
    status, code, _ = _refusal(server, token)
    assert (status, code) == (400, "ExpiredTokenException")
