"""The audit writer's one-statement batch (``SingleStatementAppend``: one multi-row ``INSERT`` in autocommit
mode) stores exactly the rows of the general Core path (``append_events``: ``BEGIN``, ``INSERT``
executemany, ``COMMIT``), on both engines.

Each test writes the same events through both paths into one store, the fast path's with ids ``f-…``, the
general path's with ``g-…``, and compares every stored column as the database returns it as text.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import text

from broker.store.sqlalchemy.repositories.audit import SingleStatementAppend, append_events
from broker.store.sqlalchemy.store import SqlStore

_TIMES = ["2026-11-28T08:00:00Z", "2026-11-28T08:00:00.123456+00:00", "2026-11-28T10:00:00+02:00",
          "2026-11-28T08:00:00.999999Z", "2026-11-28T03:00:00-05:00"]


def _random_event(rng: random.Random, n: int, path: str) -> dict[str, Any]:
    identity: dict[str, Any] = rng.choice([
        {}, {"arn": None}, {"arn": f"arn:aws:sts::123456789012:assumed-role/r/s{n}"},
        {"type": "WebIdentityUser", "arn": "arn:aws:iam::123456789012:role/ünï/cødé"},
    ])
    event: dict[str, Any] = {
        "eventID": f"{path}-{n:04d}", "eventTime": rng.choice(_TIMES),
        "eventSource": rng.choice(["sts.amazonaws.com", "iam.amazonaws.com"]),
        "eventName": rng.choice(["AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"]), "requestID": f"{path}-r{n:04d}",
        "userIdentity": identity,
        "requestParameters": {"roleArn": "arn:aws:iam::123456789012:role/x", "n": rng.randint(-5, 10**12),
                              "f": rng.random(), "flag": rng.choice([True, False, None]),
                              "text": "".join(rng.choice("aé\"\\\n\u2028😀<>") for _ in range(rng.randint(0, 12)))},
    }
    if rng.random() < 0.3:
        event["errorCode"] = rng.choice(["AccessDenied", "InvalidIdentityToken"])
    return event


def _rows(store: SqlStore, path: str) -> list[tuple[Any, ...]]:
    event = "event" if store.engine.dialect.name == "sqlite" else "CAST(event AS TEXT)"
    when = "event_time" if store.engine.dialect.name == "sqlite" else "CAST(event_time AS TEXT)"
    with store.engine.connect() as conn:
        rows = conn.execute(text(
            f"SELECT event_id, {when}, event_source, event_name, principal_arn, request_id, error_code, {event} "
            "FROM audit_events WHERE event_id LIKE :prefix ORDER BY id"), {"prefix": f"{path}-%"}).all()
    return [tuple(str(v).replace(f'"{path}-', '"x-').replace(f"{path}-", "x-") if isinstance(v, str) else v
                  for v in row) for row in rows]


def _both(store: SqlStore, rng: random.Random, size: int, start: int) -> None:
    seed = rng.random()
    fast = [_random_event(random.Random(seed), start + i, "f") for i in range(size)]
    general = [_random_event(random.Random(seed), start + i, "g") for i in range(size)]
    assert SingleStatementAppend(store.engine)(fast)  # PostgreSQL: the connection it kept is closed with it
    with store.engine.begin() as connection:
        append_events(connection, general)


@pytest.mark.parametrize("sizes", [[1], [1, 2, 3, 7], [SingleStatementAppend.max_rows], [40, 1, 83]])
def test_one_statement_stores_the_rows_of_the_general_path(store: SqlStore, sizes: list[int]) -> None:
    rng = random.Random(sum(sizes))
    start = 0
    for size in sizes:
        _both(store, rng, size, start)
        start += size
    fast, general = _rows(store, "f"), _rows(store, "g")
    assert len(fast) == start
    assert fast == general


def test_the_store_uses_it_and_falls_back_past_its_size(store: SqlStore) -> None:
    size = SingleStatementAppend.max_rows + 5
    rng_f, rng_g = random.Random(7), random.Random(7)
    big = [_random_event(rng_f, i, "f") for i in range(size)]
    assert not SingleStatementAppend(store.engine)(big)  # refused: nothing stored, the caller takes the Core path
    assert _rows(store, "f") == []
    store.append_audit(big)
    with store.engine.begin() as connection:
        append_events(connection, [_random_event(rng_g, i, "g") for i in range(size)])
    assert _rows(store, "f") == _rows(store, "g")


def test_a_failing_row_stores_none_of_its_batch(store: SqlStore) -> None:
    rng = random.Random(3)
    first = [_random_event(rng, i, "f") for i in range(3)]
    store.append_audit(first)
    clash = [_random_event(rng, 10, "f"), first[1], _random_event(rng, 11, "f")]  # a duplicate eventID
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        store.append_audit(clash)
    assert [row[0] for row in _rows(store, "f")] == ["x-0000", "x-0001", "x-0002"]
    with store.engine.connect() as conn:  # the pooled connection is back in its usual transaction mode
        driver = conn.connection.driver_connection
        if store.engine.dialect.name == "sqlite":
            assert driver.isolation_level == ""  # type: ignore[union-attr]
        else:
            assert driver.autocommit is False  # type: ignore[union-attr]
        assert conn.execute(text("SELECT 1")).scalar_one() == 1


def test_postgresql_keeps_one_connection_and_replaces_a_broken_one(store: SqlStore) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite takes a pooled connection per batch")
    append = SingleStatementAppend(store.engine)
    rng = random.Random(11)
    assert append([_random_event(rng, 0, "f")])
    held = append._held
    assert held is not None and held.autocommit
    clash = _random_event(random.Random(11), 0, "f")
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        append([clash])  # a failed statement leaves the connection usable: nothing to roll back
    assert append([_random_event(rng, 1, "f")])
    assert append._held is held and append.reconnects == 0
    with store.engine.begin() as admin:  # the server ends the session (restart, idle timeout, ...)
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": held.info.backend_pid})
    assert append([_random_event(rng, 2, "f")])  # sent once more on a fresh connection
    assert append.reconnects == 1 and append._held is not held and held.closed
    assert [row[0] for row in _rows(store, "f")] == ["x-0000", "x-0001", "x-0002"]
    append.close()
    assert append._held is None
