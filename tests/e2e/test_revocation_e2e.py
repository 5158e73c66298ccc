"""Revocation through the running server: boto3 role credentials are refused after the admin API revokes
the role (and after ``broker revoke``-style session revocation), non-root callers are refused."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.admin_client import admin
from tests.e2e.conftest import ACCOUNT, Server, make_store, start_server, stop_server

pytestmark = pytest.mark.e2e


def _doc(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def wired(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    spec = make_store(request.param)
    home = tmp_path_factory.mktemp(f"revoke-{spec.name}")
    srv = start_server(home, spec.name, spec.url)
    try:
        yield srv
    finally:
        stop_server(srv)
        spec.cleanup()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def dev(wired: Server) -> dict[str, str]:
    iam = wired.client()
    iam.create_user(UserName="dev")
    iam.put_user_policy(
        UserName="dev",
        PolicyName="assume",
        PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/*"}
        ),
    )
    key = iam.create_access_key(UserName="dev")["AccessKey"]
    trust = _doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"})
    iam.create_role(RoleName="deployer", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(
        RoleName="deployer",
        PolicyName="p",
        PolicyDocument=_doc({"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}),
    )
    return {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


def _assume(server: Server, dev: dict[str, str], name: str) -> dict[str, Any]:
    sts = server.client("sts", key=dev["key"], secret=dev["secret"])
    creds: dict[str, Any] = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/deployer", RoleSessionName=name)[
        "Credentials"
    ]
    return creds


def _sts(server: Server, creds: dict[str, Any]) -> Any:
    return server.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])


def test_revoking_the_role_refuses_its_sessions(wired: Server, dev: dict[str, str]) -> None:
    creds = _assume(wired, dev, "before")
    assert _sts(wired, creds).get_caller_identity()["Arn"].endswith(":assumed-role/deployer/before")
    answer = admin(wired, "POST", {"scope": "role", "role_name": "deployer"})
    assert answer.status_code == 200, answer.text
    with pytest.raises(ClientError) as exc:
        _sts(wired, creds).get_caller_identity()
    assert exc.value.response["Error"]["Code"] == "InvalidClientTokenId"
    policy = wired.client().get_role_policy(RoleName="deployer", PolicyName="AWSRevokeOlderSessions")
    assert policy["PolicyDocument"]["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"]
    time.sleep(1.1)  # session tokens carry whole-second issue times; start after the revocation's second
    fresh = _assume(wired, dev, "after")
    assert _sts(wired, fresh).get_caller_identity()["Arn"].endswith(":assumed-role/deployer/after")


def test_unknown_role_and_non_root(wired: Server, dev: dict[str, str]) -> None:
    ghost = admin(wired, "POST", {"scope": "role", "role_name": "ghost"})
    assert (ghost.status_code, ghost.json()["Error"]["Code"]) == (404, "NoSuchEntity")
    denied = admin(wired, "POST", {"scope": "role", "role_name": "deployer"}, key=dev["key"], secret=dev["secret"])
    assert (denied.status_code, denied.json()["Error"]["Code"]) == (403, "AccessDenied")
