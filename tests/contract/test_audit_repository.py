"""Audit events stored and queried on both engines; a refused call leaves only its audit event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from broker.errors import AccessDenied
from broker.principal import CallContext, Principal
from broker.service.audit import HIDDEN, build_event
from broker.store.sqlalchemy.store import SqlStore

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
ROOT = Principal("root", f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, ACCOUNT, "root", f"arn:aws:iam::{ACCOUNT}:root")


def ctx(n: int, principal: Principal | None = ROOT) -> CallContext:
    return CallContext(request_id=f"req-{n}", now=T0 + timedelta(seconds=n), principal=principal)


def test_record_and_list_with_filters(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.audit.record(build_event(ctx(1), "iam", "CreateUser", {"UserName": "a", "Password": "pw"}, {}, None))
        tx.audit.record(build_event(ctx(2), "iam", "CreateUser", {"UserName": "b"}, None, AccessDenied("no")))
        tx.audit.record(build_event(ctx(3, None), "sts", "AssumeRoleWithSAML", {"SAMLAssertion": "PHNh"}, None, None))
    with store.transaction() as tx:
        everything = tx.audit.list()
        assert [e["requestID"] for e in everything] == ["req-1", "req-2", "req-3"]
        assert everything[0]["requestParameters"] == {"UserName": "a", "Password": HIDDEN}
        assert everything[2]["requestParameters"] == {"SAMLAssertion": HIDDEN}
        assert [e["requestID"] for e in tx.audit.list(event_name="CreateUser")] == ["req-1", "req-2"]
        assert [e["requestID"] for e in tx.audit.list(errors_only=True)] == ["req-2"]
        assert [e["requestID"] for e in tx.audit.list(event_source="sts.amazonaws.com")] == ["req-3"]
        assert [e["requestID"] for e in tx.audit.list(principal_arn=ROOT.arn)] == ["req-1", "req-2"]
        assert [e["requestID"] for e in tx.audit.list(request_id="req-2")] == ["req-2"]
        window = tx.audit.list(since=T0 + timedelta(seconds=2), until=T0 + timedelta(seconds=3))
        assert [e["requestID"] for e in window] == ["req-2"]
        assert len(tx.audit.list(limit=1)) == 1


def test_event_ids_are_unique(store: SqlStore) -> None:
    event = build_event(ctx(1), "iam", "ListUsers", {}, {}, None)
    with store.transaction() as tx:
        tx.audit.record(event)
    with pytest.raises(Exception), store.transaction() as tx:  # noqa: B017 - the driver's IntegrityError
        tx.audit.record(dict(event))


def test_event_rolled_back_with_its_transaction(store: SqlStore) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.audit.record(build_event(ctx(1), "iam", "CreateUser", {"UserName": "a"}, {}, None))
        raise RuntimeError("operation failed after recording")
    with store.transaction() as tx:
        assert tx.audit.list() == []


def test_record_refuses_naive_time(store: SqlStore) -> None:
    event = build_event(ctx(1), "iam", "ListUsers", {}, {}, None)
    event["eventTime"] = "2026-01-01T12:00:00"
    with store.transaction() as tx, pytest.raises(ValueError, match="UTC offset"):
        tx.audit.record(event)
