"""The example service (examples/things_service) protected by broker's PDP middleware, end to end.

A real ``broker serve`` per store; credentials minted with boto3 ``AssumeRole``; requests to the example
service (its own process, sharing only broker's store and master key) signed with botocore's ``SigV4Auth``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.e2e.admin_client import admin
from tests.e2e.conftest import ACCOUNT, Server, _free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def _doc(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture(scope="module")
def things(server: Server) -> Iterator[str]:
    port = _free_port()
    env = dict(server.env, EXAMPLE_POLICY_REFRESH_SECONDS="1")
    log = server.home / "things.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "examples.things_service", "--port", str(port)],
                                env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"example service exited:\n{log.read_text()}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"example service did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.fixture(scope="module")
def creds(server: Server) -> dict[str, Any]:
    iam = server.client()
    iam.create_user(UserName="dev")
    iam.put_user_policy(UserName="dev", PolicyName="assume", PolicyDocument=_doc(
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/*"}))
    key = iam.create_access_key(UserName="dev")["AccessKey"]
    iam.create_role(RoleName="things-reader", AssumeRolePolicyDocument=_doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}))
    iam.put_role_policy(RoleName="things-reader", PolicyName="read", PolicyDocument=_doc(
        {"Sid": "Read", "Effect": "Allow", "Action": "example:GetThing", "Resource": "arn:aws:example:::thing/*"},
        {"Sid": "NotSecret", "Effect": "Deny", "Action": "example:*", "Resource": "arn:aws:example:::thing/secret"},
    ))
    sts = server.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])
    out: dict[str, Any] = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/things-reader",
                                          RoleSessionName="e2e")["Credentials"]
    return out


def _call(url: str, creds: dict[str, Any], method: str, path: str, body: bytes = b"") -> httpx.Response:
    request = AWSRequest(method=method, url=url + path, data=body)
    credentials = Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds.get("SessionToken"))
    SigV4Auth(credentials, "example", "us-east-1").add_auth(request)
    return httpx.request(method, url + path, content=body, headers=dict(request.headers.items()), timeout=30)


def test_allowed_and_denied(server: Server, things: str, creds: dict[str, Any]) -> None:
    ok = _call(things, creds, "GET", "/things/alpha")
    assert ok.status_code == 200, ok.text
    assert ok.json()["caller"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/things-reader/e2e"
    secret = _call(things, creds, "GET", "/things/secret")
    assert secret.status_code == 403
    assert secret.json()["Error"] == {
        "Code": "AccessDenied",
        "Message": f"User: arn:aws:sts::{ACCOUNT}:assumed-role/things-reader/e2e is not authorized to perform: "
        "example:GetThing on resource: arn:aws:example:::thing/secret with an explicit deny in an identity-based "
        "policy",
    }
    put = _call(things, creds, "PUT", "/things/alpha", b"v1")
    assert put.status_code == 403
    assert put.json()["Error"]["Code"] == "AccessDenied"
    assert httpx.get(things + "/things/alpha").json()["Error"]["Code"] == "MissingAuthenticationToken"
    forged = dict(creds, SecretAccessKey="A" * 40)
    assert _call(things, forged, "GET", "/things/alpha").json()["Error"]["Code"] == "SignatureDoesNotMatch"
    wrong_service = AWSRequest(method="GET", url=things + "/things/alpha")
    SigV4Auth(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]), "sts",
              "us-east-1").add_auth(wrong_service)
    refused = httpx.get(things + "/things/alpha", headers=dict(wrong_service.headers.items()))
    assert refused.status_code == 403
    assert refused.json()["Error"]["Code"] == "SignatureDoesNotMatch"


def test_policy_change_reaches_the_service(server: Server, things: str, creds: dict[str, Any]) -> None:
    server.client().put_role_policy(RoleName="things-reader", PolicyName="write", PolicyDocument=_doc(
        {"Effect": "Allow", "Action": "example:PutThing", "Resource": "arn:aws:example:::thing/alpha"}))
    deadline = time.monotonic() + 15
    while True:  # the service's policy refresh is 1 s here (EXAMPLE_POLICY_REFRESH_SECONDS)
        put = _call(things, creds, "PUT", "/things/alpha", b"v2")
        if put.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert put.status_code == 200, put.text
    assert put.json() == {"name": "alpha", "value": "v2",
                          "caller": f"arn:aws:sts::{ACCOUNT}:assumed-role/things-reader/e2e"}


def test_revocation_reaches_the_service(server: Server, things: str, creds: dict[str, Any]) -> None:
    assert _call(things, creds, "GET", "/things/beta").status_code == 200
    time.sleep(1.1)  # revocation epochs have one-second resolution: sessions issued before "now" are void
    revoked = admin(server, "POST", {"scope": "role", "role_name": "things-reader"})
    assert revoked.status_code == 200, revoked.text
    # Two paths refuse the session: the role's AWSRevokeOlderSessions inline deny (seen at the next policy
    # refresh, AccessDenied) and the revocation set (LISTEN/NOTIFY or polling, InvalidClientTokenId before
    # any decision). Wait for the second: it is what stops every use of the session.
    deadline = time.monotonic() + 10
    codes: list[str] = []
    while True:
        response = _call(things, creds, "GET", "/things/beta")
        if response.status_code != 200:
            codes.append(response.json()["Error"]["Code"])
        if codes[-1:] == ["InvalidClientTokenId"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert response.status_code == 403
    assert set(codes) <= {"AccessDenied", "InvalidClientTokenId"}
    assert codes[-1] == "InvalidClientTokenId"
