"""BROKER_REFUSE_UNPINNED_TRUST through a real ``broker serve``: CreateRole with a trust policy for GitHub Actions'
shared issuer that pins nothing is refused with MalformedPolicyDocument when set, and accepted (the finding in
the audit event) when not."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from broker.bootstrap import open_store
from broker.config import Settings
from tests.e2e.conftest import ACCOUNT, Server, start_server, stop_server

pytestmark = pytest.mark.e2e
GH = "token.actions.githubusercontent.com"
UNPINNED = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{GH}"},
    "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {"StringEquals": {f"{GH}:aud": "sts.amazonaws.com"}}}]})


@pytest.fixture(scope="module", params=["0", "1"], ids=["warn", "refuse"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("broker-trust-lint")
    srv = start_server(home, "sqlite", None, {"BROKER_REFUSE_UNPINNED_TRUST": request.param})
    try:
        yield srv
    finally:
        stop_server(srv)
        shutil.rmtree(home, ignore_errors=True)


def test_unpinned_shared_issuer_trust(server: Server) -> None:
    iam = server.client("iam")
    if server.env["BROKER_REFUSE_UNPINNED_TRUST"] == "0":
        assert iam.create_role(RoleName="loose", AssumeRolePolicyDocument=UNPINNED)["Role"]["RoleName"] == "loose"
        store = open_store(Settings(home=server.home), migrate=False)
        with store.transaction() as tx:
            [event] = tx.audit.list(event_name="CreateRole")
        assert [w["code"] for w in event["additionalEventData"]["trustPolicyWarnings"]] == [
            "OIDC_UNPINNED_SHARED_ISSUER"]
        return
    with pytest.raises(ClientError) as info:
        iam.create_role(RoleName="loose", AssumeRolePolicyDocument=UNPINNED)
    error = info.value.response["Error"]
    assert (info.value.response["ResponseMetadata"]["HTTPStatusCode"], error["Code"]) == (400,
                                                                                          "MalformedPolicyDocument")
    assert error["Message"].startswith("Trust policy does not pin the workload of a shared OIDC issuer at "
                                       "/Statement/0: github tokens come from a shared issuer")
