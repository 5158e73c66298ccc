"""CreateRole and UpdateAssumeRolePolicy lint trust policies for shared OIDC issuers (issue 5, item 6): refused
with ``MalformedPolicyDocument`` when ``BROKER_REFUSE_UNPINNED_TRUST`` is on, otherwise accepted with the findings
in the audit event's ``additionalEventData.trustPolicyWarnings``. Run through the Dispatcher, on both stores."""

from __future__ import annotations

import json
from typing import Any

import pytest

from broker.arn import ArnFactory
from broker.credentials.envelope import Envelope
from broker.errors import MalformedPolicyDocument
from broker.principal import CallContext, Principal
from broker.service.audit import build_event
from broker.service.dispatch import Dispatcher
from broker.service.operations import all_operations
from broker.service.ports import RootOnlyAuthorizer
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import SeededEntropy

GH = "token.actions.githubusercontent.com"
FINDING = ("github tokens come from a shared issuer: pin the workload with StringEquals or StringLike on one of "
           f"{GH}:sub, {GH}:repository, {GH}:repository_id, {GH}:repository_owner_id, {GH}:job_workflow_ref "
           "(see docs/oidc/github-actions.md)")


def _trust(condition: Any) -> str:
    statement: dict[str, Any] = {
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{GH}"},
        "Action": "sts:AssumeRoleWithWebIdentity"}
    if condition is not None:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


UNPINNED = _trust({"StringEquals": {f"{GH}:aud": "sts.amazonaws.com"}})
PINNED = _trust({"StringEquals": {f"{GH}:aud": "sts.amazonaws.com"},
                 "StringLike": {f"{GH}:sub": "repo:octo-org/octo-repo:*"}})


class World:
    def __init__(self, store: SqlStore, arns: ArnFactory, entropy: SeededEntropy, envelope: Envelope,
                 root: Principal, clock: Any, *, refuse: bool) -> None:
        self.store, self.root, self.clock, self.requests = store, root, clock, 0
        self.dispatcher = Dispatcher(store=store, operations=all_operations(refuse_unpinned_trust=refuse),
                                     authorizer=RootOnlyAuthorizer(), arns=arns, entropy=entropy, envelope=envelope,
                                     audit=build_event)

    def run(self, action: str, **params: Any) -> dict[str, Any]:
        self.requests += 1
        call = CallContext(request_id=f"req-{self.requests}", now=self.clock.now(), principal=self.root)
        return dict(self.dispatcher.run(call, "iam", action, params))

    def event(self) -> dict[str, Any]:
        with self.store.transaction() as tx:
            [event] = tx.audit.list(request_id=f"req-{self.requests}")
        return event


@pytest.fixture(params=[False, True], ids=["warn", "refuse"])
def world(request: pytest.FixtureRequest, store: SqlStore, arns: ArnFactory, entropy: SeededEntropy,
          envelope: Envelope, root: Principal, clock: Any) -> World:
    return World(store, arns, entropy, envelope, root, clock, refuse=request.param)


def _role_trust(world: World, name: str) -> str:
    with world.store.transaction() as tx:
        role = tx.iam.get_role(name)
    assert role is not None
    return str(role.trust_policy)


def test_pinned_trust_is_accepted_without_warnings(world: World) -> None:
    world.run("CreateRole", RoleName="pinned", AssumeRolePolicyDocument=PINNED)
    assert "additionalEventData" not in world.event()
    world.run("UpdateAssumeRolePolicy", RoleName="pinned", PolicyDocument=PINNED)
    assert "additionalEventData" not in world.event()


def test_create_role_with_unpinned_shared_issuer_trust(world: World) -> None:
    refuse = world.dispatcher.operations["CreateRole"].keywords["refuse_unpinned"]  # type: ignore[attr-defined]
    if not refuse:
        out = world.run("CreateRole", RoleName="loose", AssumeRolePolicyDocument=UNPINNED)
        assert out["Role"]["RoleName"] == "loose"
        event = world.event()
        assert "errorCode" not in event
        assert event["additionalEventData"] == {"trustPolicyWarnings": [
            {"code": "OIDC_UNPINNED_SHARED_ISSUER", "pointer": "/Statement/0", "message": FINDING}]}
        return
    with pytest.raises(MalformedPolicyDocument) as info:
        world.run("CreateRole", RoleName="loose", AssumeRolePolicyDocument=UNPINNED)
    assert info.value.message == ("Trust policy does not pin the workload of a shared OIDC issuer at /Statement/0: "
                                  + FINDING)
    assert info.value.detail == f"/Statement/0: OIDC_UNPINNED_SHARED_ISSUER: {FINDING}"
    event = world.event()
    assert (event["errorCode"], event["additionalEventData"]["errorDetail"]) == ("MalformedPolicyDocument",
                                                                                 info.value.detail)
    with world.store.transaction() as tx:
        assert tx.iam.get_role("loose") is None  # nothing stored


def test_update_assume_role_policy_to_unpinned_trust(world: World) -> None:
    refuse = world.dispatcher.operations["CreateRole"].keywords["refuse_unpinned"]  # type: ignore[attr-defined]
    world.run("CreateRole", RoleName="ci", AssumeRolePolicyDocument=PINNED)
    no_condition = _trust(None)
    if not refuse:
        world.run("UpdateAssumeRolePolicy", RoleName="ci", PolicyDocument=no_condition)
        assert world.event()["additionalEventData"]["trustPolicyWarnings"][0]["message"] == FINDING
        assert _role_trust(world, "ci") == no_condition
        return
    with pytest.raises(MalformedPolicyDocument):
        world.run("UpdateAssumeRolePolicy", RoleName="ci", PolicyDocument=no_condition)
    assert _role_trust(world, "ci") == PINNED  # unchanged


def test_default_operations_table_warns() -> None:
    from broker.service.iam import OPERATIONS

    assert OPERATIONS["CreateRole"].__name__ == "create_role"
    ops = all_operations()
    assert ops["CreateRole"].keywords == {"refuse_unpinned": False}  # type: ignore[attr-defined]
    assert all_operations(refuse_unpinned_trust=True)["UpdateAssumeRolePolicy"].keywords == {  # type: ignore[attr-defined]
        "refuse_unpinned": True}
