"""The audit row written with a Core insert (issue 5) stores the event and its columns exactly as the ORM did."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from broker.errors import AccessDenied
from broker.principal import CallContext, Principal
from broker.service.audit import build_event
from broker.store.sqlalchemy.models.audit import AuditEventRow
from broker.store.sqlalchemy.store import SqlStore

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
ROOT = Principal("root", f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, ACCOUNT, "root", f"arn:aws:iam::{ACCOUNT}:root")


def test_event_and_columns_round_trip(store: SqlStore) -> None:
    event = build_event(CallContext(request_id="req-1", now=T0, principal=ROOT), "iam", "CreateUser",
                        {"UserName": "a"}, None, AccessDenied("no"))
    sent = json.loads(json.dumps(event, default=str))
    with store.transaction() as tx:
        tx.audit.record(event)
    with store.transaction() as tx:
        row = tx.session.scalars(select(AuditEventRow)).one()
        assert (row.event_id, row.event_time, row.event_source, row.event_name, row.principal_arn,
                row.request_id, row.error_code) == (
            event["eventID"], T0, "iam.amazonaws.com", "CreateUser", ROOT.arn, "req-1", "AccessDenied")
        assert row.id >= 1
        assert json.loads(json.dumps(row.event, default=str)) == sent
        assert tx.audit.list() == [row.event]


def test_pending_changes_are_flushed_before_the_event(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.security.bump("test-topic")
        tx.audit.record(build_event(CallContext(request_id="r", now=T0, principal=None), "sts", "X", {}, {}, None))
        assert tx.security.counter("test-topic") == 1


def test_duplicate_event_id_is_refused(store: SqlStore) -> None:
    event = build_event(CallContext(request_id="r", now=T0, principal=ROOT), "iam", "GetUser", {}, {}, None)
    with pytest.raises(IntegrityError), store.transaction() as tx:
        tx.audit.record(event)
        tx.audit.record(dict(event))
    with store.transaction() as tx:
        assert tx.audit.list() == []
