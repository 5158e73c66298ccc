"""Shared by the token-exchange, OIDC-login and credential-process end-to-end tests: the fixture OIDC IdP as a
process (with its authorization-code and device flows), a broker with that IdP registered, and roles for it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ACCOUNT, Server, _free_port, make_store, start_server, stop_server

CI_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci-deploy"
DEV_ROLE = f"arn:aws:iam::{ACCOUNT}:role/web-dev"
OPS_ROLE = f"arn:aws:iam::{ACCOUNT}:role/web-ops"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/web-admin"
WEB_CLIENT = "broker-web"


class Idp:
    def __init__(self, url: str, process: subprocess.Popen[bytes]) -> None:
        self.url, self.process = url, process
        self.prefix = url.split("://", 1)[1]
        self.provider_arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{self.prefix}"

    def token(self, **body: Any) -> str:
        body.setdefault("profile", "github")
        return str(httpx.post(f"{self.url}/admin/token", json=body).json()["id_token"])


def start_idp() -> Idp:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "idp_fixtures.oidc", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/.well-known/openid-configuration", timeout=1).status_code == 200:
                return Idp(url, proc)
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the fixture IdP did not start")


def _trust(idp: Idp, aud: str, sub_like: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": idp.provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{idp.prefix}:aud": aud}, "StringLike": {f"{idp.prefix}:sub": sub_like}},
    }]})


def configure(server: Server, idp: Idp) -> None:
    iam = server.client("iam")
    iam.create_open_id_connect_provider(Url=idp.url, ClientIDList=[WEB_CLIENT, "sts.amazonaws.com"])
    iam.create_role(RoleName="ci-deploy", AssumeRolePolicyDocument=_trust(idp, "sts.amazonaws.com",
                                                                             "repo:octo-org/octo-repo:*"))
    iam.create_role(RoleName="web-dev", AssumeRolePolicyDocument=_trust(idp, WEB_CLIENT, "alice*"))
    iam.create_role(RoleName="web-ops", AssumeRolePolicyDocument=_trust(idp, WEB_CLIENT, "alice"),
                    MaxSessionDuration=7200)
    iam.create_role(RoleName="web-admin", AssumeRolePolicyDocument=_trust(idp, WEB_CLIENT, "root-*"))


@pytest.fixture(name="idp", scope="module")
def idp_fixture() -> Iterator[Idp]:
    fixture = start_idp()
    try:
        yield fixture
    finally:
        fixture.process.terminate()
        fixture.process.wait(timeout=10)


def broker_for(name: str, tmp_path_factory: pytest.TempPathFactory, idp: Idp, store: str) -> Iterator[Server]:
    spec = make_store(store)
    home = tmp_path_factory.mktemp(f"broker-{name}-{spec.name}")
    srv = start_server(home, spec.name, spec.url, {"BROKER_ALLOW_HTTP_ISSUERS": "1",
                                                   "BROKER_OIDC_MIN_REFETCH_SECONDS": "0"})
    try:
        configure(srv, idp)
        yield srv
    finally:
        stop_server(srv)
        spec.cleanup()
        shutil.rmtree(home, ignore_errors=True)


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="?{re.escape(name)}"? value="([^"]*)"', html)
    assert match, f"no hidden field {name} in page"
    return match.group(1)
