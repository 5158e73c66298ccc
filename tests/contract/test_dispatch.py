"""The dispatcher: one transaction per operation, its audit event, and the IAM change signal."""

from __future__ import annotations

import json

import pytest

from broker.arn import ArnFactory
from broker.clock import FixedClock
from broker.credentials.envelope import Envelope
from broker.errors import EntityAlreadyExists
from broker.principal import CallContext, Principal
from broker.service.audit import build_event
from broker.service.dispatch import IAM_COUNTER, Dispatcher
from broker.service.operations import all_operations
from broker.service.ports import RootOnlyAuthorizer
from broker.store.sqlalchemy.store import SqlStore

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]})


@pytest.fixture
def dispatcher(store: SqlStore, arns: ArnFactory, entropy, envelope: Envelope) -> Dispatcher:  # type: ignore[no-untyped-def]
    return Dispatcher(
        store=store, operations=all_operations(), authorizer=RootOnlyAuthorizer(), arns=arns,
        entropy=entropy, envelope=envelope, audit=build_event,
    )


def _call(root: Principal, clock: FixedClock, rid: str) -> CallContext:
    return CallContext(request_id=rid, now=clock.now(), principal=root)


def test_iam_changes_bump_the_counter_and_signal_this_node(
    dispatcher: Dispatcher, store: SqlStore, root: Principal, clock: FixedClock
) -> None:
    signals: list[int] = []
    dispatcher.on_iam_change.append(lambda: signals.append(1))
    with store.transaction() as tx:
        before = tx.security.counter(IAM_COUNTER)

    dispatcher.run(_call(root, clock, "r1"), "iam", "CreateRole", {"RoleName": "d", "AssumeRolePolicyDocument": TRUST})
    dispatcher.run(_call(root, clock, "r2"), "iam", "GetRole", {"RoleName": "d"})
    dispatcher.run(_call(root, clock, "r3"), "iam", "ListRoles", {})
    with pytest.raises(EntityAlreadyExists):
        dispatcher.run(
            _call(root, clock, "r4"), "iam", "CreateRole", {"RoleName": "D", "AssumeRolePolicyDocument": TRUST}
        )

    with store.transaction() as tx:
        assert tx.security.counter(IAM_COUNTER) == before + 1  # only the one committed change
        events = tx.audit.list(limit=10)
    assert signals == [1]
    assert sorted(e["requestID"] for e in events) == ["r1", "r2", "r3", "r4"]
    refused = next(e for e in events if e["requestID"] == "r4")
    assert refused["errorCode"] == "EntityAlreadyExists"
