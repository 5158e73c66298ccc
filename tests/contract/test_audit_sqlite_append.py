"""The audit writer's SQLite batch (one multi-row ``INSERT`` in autocommit mode, ``SqliteAppend``) stores
exactly the rows of the general Core path (``append_events``: ``BEGIN``, ``INSERT`` executemany, ``COMMIT``).

SQLite only: on PostgreSQL ``SqlStore.append_audit`` is the Core path itself.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from broker.store.sqlalchemy.engine import make_engine
from broker.store.sqlalchemy.models import Base
from broker.store.sqlalchemy.repositories.audit import SqliteAppend, append_events
from broker.store.sqlalchemy.store import SqlStore

_COLUMNS = "event_id, event_time, event_source, event_name, principal_arn, request_id, error_code, event"


def _store(path: Path) -> SqlStore:
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    return SqlStore(engine)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[SqlStore, SqlStore]]:
    fast, general = _store(tmp_path / "fast.db"), _store(tmp_path / "general.db")
    try:
        yield fast, general
    finally:
        fast.dispose()
        general.dispose()


def _random_event(rng: random.Random, n: int) -> dict[str, Any]:
    times = ["2026-11-28T08:00:00Z", "2026-11-28T08:00:00.123456+00:00", "2026-11-28T10:00:00+02:00",
             "2026-11-28T08:00:00.999999Z", "2026-11-28T03:00:00-05:00"]
    identity: dict[str, Any] = rng.choice([
        {}, {"arn": None}, {"arn": f"arn:aws:sts::123456789012:assumed-role/r/s{n}"},
        {"type": "WebIdentityUser", "arn": "arn:aws:iam::123456789012:role/ünï/cødé"},
    ])
    event: dict[str, Any] = {
        "eventID": f"e-{n}", "eventTime": rng.choice(times), "eventSource": rng.choice(["sts.amazonaws.com", "iam"]),
        "eventName": rng.choice(["AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"]), "requestID": f"r-{n}",
        "userIdentity": identity,
        "requestParameters": {"roleArn": "arn:aws:iam::123456789012:role/x", "n": rng.randint(-5, 10**12),
                              "f": rng.random(), "flag": rng.choice([True, False, None]),
                              "text": "".join(rng.choice("aé\"\\\n\u2028😀<>") for _ in range(rng.randint(0, 12)))},
    }
    if rng.random() < 0.3:
        event["errorCode"] = rng.choice(["AccessDenied", "InvalidIdentityToken"])
    return event


def _rows(store: SqlStore) -> list[tuple[Any, ...]]:
    database = store.engine.url.database
    assert database is not None
    with sqlite3.connect(database) as conn:  # raw stored values: no type processing on the way out
        rows = conn.execute(f"SELECT id, {_COLUMNS}, typeof(event_time), typeof(event) FROM audit_events "
                            "ORDER BY id").fetchall()
    conn.close()
    return rows


@pytest.mark.parametrize("sizes", [[1], [1, 2, 3, 7], [SqliteAppend.max_rows], [40, 1, 83]])
def test_fast_batch_stores_the_rows_of_the_general_path(stores: tuple[SqlStore, SqlStore], sizes: list[int]
                                                         ) -> None:
    fast, general = stores
    rng = random.Random(sum(sizes))
    n = 0
    for size in sizes:
        batch = [_random_event(rng, n + i) for i in range(size)]
        n += size
        assert SqliteAppend(fast.engine)(batch)
        with general.engine.begin() as connection:
            append_events(connection, batch)
    assert _rows(fast) == _rows(general)
    assert len(_rows(fast)) == n


def test_store_uses_the_fast_batch_and_falls_back_past_its_size(stores: tuple[SqlStore, SqlStore]) -> None:
    fast, general = stores
    rng = random.Random(7)
    big = [_random_event(rng, i) for i in range(SqliteAppend.max_rows + 5)]
    assert not SqliteAppend(fast.engine)(big)  # refused: nothing stored, the caller takes the general path
    assert _rows(fast) == []
    fast.append_audit(big)
    with general.engine.begin() as connection:
        append_events(connection, big)
    assert _rows(fast) == _rows(general)


def test_a_failing_row_stores_none_of_its_batch(stores: tuple[SqlStore, SqlStore]) -> None:
    fast, _ = stores
    rng = random.Random(3)
    first = [_random_event(rng, i) for i in range(3)]
    fast.append_audit(first)
    clash = [_random_event(rng, 10), first[1], _random_event(rng, 11)]  # a duplicate eventID in the middle
    with pytest.raises(sqlite3.IntegrityError):
        fast.append_audit(clash)
    assert [row[1] for row in _rows(fast)] == ["e-0", "e-1", "e-2"]
    with fast.engine.connect() as conn:  # the pooled connection went back in its usual transaction mode
        assert conn.connection.driver_connection.isolation_level == ""  # type: ignore[union-attr]
        conn.execute(text("SELECT 1"))
