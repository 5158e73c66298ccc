"""Two broker processes on one PostgreSQL schema (issue 4, "Done means"): credentials minted by one are
accepted by the other, and a revocation made on one is enforced by the other within 5 s (measured)."""

from __future__ import annotations

import base64
import json
import os
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


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    spec = make_store("postgresql")
    key = {"BROKER_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
    home = tmp_path_factory.mktemp("two-nodes")
    a = start_server(home / "a", spec.name, spec.url, key)
    try:
        b = start_server(home / "b", spec.name, spec.url, key)
        try:
            yield a, b
        finally:
            stop_server(b)
    finally:
        stop_server(a)
        spec.cleanup()
        shutil.rmtree(home, ignore_errors=True)


def _sts(server: Server, creds: dict[str, Any]) -> Any:
    return server.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])


def _refused(server: Server, creds: dict[str, Any]) -> bool:
    try:
        _sts(server, creds).get_caller_identity()
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "InvalidClientTokenId"
        return True
    return False


def _wait_refused(server: Server, creds: dict[str, Any], started: float) -> float:
    while not _refused(server, creds):
        assert time.monotonic() - started < 5, "the other node still accepts revoked credentials after 5 s"
        time.sleep(0.02)
    return time.monotonic() - started


def test_credentials_cross_nodes_and_revocation_propagates(nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    iam = a.client()
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
    iam.create_role(RoleName="shared", AssumeRolePolicyDocument=trust)
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/shared"
    dev_sts = a.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"])

    # Minted on A, accepted on B (and the other way round).
    creds = dev_sts.assume_role(RoleArn=role_arn, RoleSessionName="one")["Credentials"]
    assert _sts(b, creds).get_caller_identity()["Arn"].endswith(":assumed-role/shared/one")
    from_b = b.client("sts", key=key["AccessKeyId"], secret=key["SecretAccessKey"]).assume_role(
        RoleArn=role_arn, RoleSessionName="two"
    )["Credentials"]
    assert _sts(a, from_b).get_caller_identity()["Arn"].endswith(":assumed-role/shared/two")

    # Revoked on A, refused by B within 5 s.
    started = time.monotonic()
    assert admin(a, "POST", {"scope": "role", "role_name": "shared"}).status_code == 200
    delay_b = _wait_refused(b, creds, started)
    assert _refused(a, from_b)
    print(f"\nrevocation on node A enforced by node B after {delay_b * 1000:.0f} ms")

    # And a single-session revocation made on B reaches A.
    time.sleep(1.1)  # whole-second issue times: mint after the role revocation's second
    three = dev_sts.assume_role(RoleArn=role_arn, RoleSessionName="three")["Credentials"]
    assert _sts(a, three).get_caller_identity()["Arn"].endswith(":assumed-role/shared/three")
    listed = admin(b, "GET").json()["revocations"]
    assert [r["scope"] for r in listed] == ["role"]
    sid = three["AccessKeyId"]  # the sessionId of audit events
    started = time.monotonic()
    assert admin(b, "POST", {"scope": "session", "session_id": sid}).status_code == 200
    delay_a = _wait_refused(a, three, started)
    print(f"session revocation on node B enforced by node A after {delay_a * 1000:.0f} ms")
