"""Audit events stored on the event loop when that cannot wait (``SqlStore.append_audit_now``,
``WaitFreeAppend``, ``AuditWriter._store_now``; issue 5), on both engines.

On a SQLite file with the background WAL checkpointer running, the writer stores a loop iteration's events
on the loop itself; the rows are the ones the general path stores. Whenever that would wait (another
connection or process holds the write lock, no checkpointer, PostgreSQL) nothing is stored there and the
events take the thread, which waits as before: the request still answers only after its event committed,
and the event loop keeps running meanwhile.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from broker.principal import CallContext
from broker.service.audit import build_event
from broker.service.audit_writer import AuditWriter
from broker.store.sqlalchemy.checkpoint import WalCheckpointer, sqlite_file
from broker.store.sqlalchemy.repositories.audit import SingleStatementAppend, WaitFreeAppend, append_events
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import START
from tests.contract.test_audit_single_statement import _random_event, _rows

ACTION = "AssumeRoleWithWebIdentity"


@pytest.fixture
def checkpointer(store: SqlStore) -> Iterator[WalCheckpointer | None]:
    """The store's checkpointer running, as under ``broker serve``; ``None`` on PostgreSQL."""
    found = store.wal_checkpointer()
    if found is not None:
        found.start()
    yield found
    if found is not None:
        found.stop()


def _event(n: int, tag: str = "n") -> dict[str, Any]:
    return build_event(CallContext(request_id=f"{tag}-{n}", now=START), "sts", ACTION, {"RoleArn": "r"}, {}, None)


def _lock_holder(store: SqlStore) -> subprocess.Popen[str]:
    """Another process holding the database's write lock until it reads a line."""
    path = sqlite_file(store.engine)
    code = ("import sqlite3, sys\n"
            f"c = sqlite3.connect({path!r}, isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE')\nprint('locked', flush=True)\nsys.stdin.readline()\nc.execute('COMMIT')\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def _release(holder: subprocess.Popen[str]) -> None:
    holder.communicate("\n", timeout=10)  # also closes the pipes
    assert holder.returncode == 0


def _stored(store: SqlStore, request_id: str) -> int:
    with store.transaction() as tx:
        return len(tx.audit.list(request_id=request_id))


@pytest.mark.parametrize("sizes", [[1], [1, 2, 3, 7], [SingleStatementAppend.max_rows]])
def test_wait_free_append_stores_the_rows_of_the_general_path(
    store: SqlStore, checkpointer: WalCheckpointer | None, sizes: list[int]
) -> None:
    if checkpointer is None:
        assert not store.append_audit_now([_event(0)])  # PostgreSQL: always the thread
        assert _rows(store, "n") == []
        return
    rng = random.Random(len(sizes))
    start = 0
    for size in sizes:
        seed = rng.random()
        assert store.append_audit_now([_random_event(random.Random(seed), start + i, "f") for i in range(size)])
        with store.engine.begin() as connection:
            append_events(connection, [_random_event(random.Random(seed), start + i, "g") for i in range(size)])
        start += size
    fast, general = _rows(store, "f"), _rows(store, "g")
    assert len(fast) == start
    assert fast == general


def test_only_while_the_checkpointer_runs(store: SqlStore) -> None:
    assert not store.append_audit_now([_event(0)])  # no checkpointer running: a commit may checkpoint
    assert _stored(store, "n-0") == 0
    checkpointer = store.wal_checkpointer()
    if checkpointer is None:  # PostgreSQL
        return
    checkpointer.start()
    assert store.append_audit_now([_event(1)])
    assert store.append_audit_now([])
    assert not store.append_audit_now([_event(n, "big") for n in range(SingleStatementAppend.max_rows + 1)])
    checkpointer.stop()
    assert not store.append_audit_now([_event(2)])
    assert [_stored(store, f"n-{n}") for n in range(3)] == [0, 1, 0]
    assert _stored(store, "big-0") == 0


def test_a_held_write_lock_refuses_at_once_and_stores_nothing(
    store: SqlStore, checkpointer: WalCheckpointer | None
) -> None:
    if checkpointer is None:
        pytest.skip("SQLite's write lock")
    assert store.append_audit_now([_event(0)])  # opens its connection
    holder = _lock_holder(store)
    try:
        began = time.monotonic()
        assert not store.append_audit_now([_event(1)])
        assert time.monotonic() - began < 1.0  # SQLite's busy handler never ran (the pool's would wait 30 s)
    finally:
        _release(holder)
    assert store.append_audit_now([_event(2)])
    assert [_stored(store, f"n-{n}") for n in range(3)] == [1, 0, 1]


def test_a_database_not_in_wal_mode_is_never_written_from_the_caller(tmp_path: Any) -> None:
    from broker.store.sqlalchemy.engine import make_engine
    from broker.store.sqlalchemy.models import Base

    path = tmp_path / "rollback.db"
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    import sqlite3

    plain = sqlite3.connect(path)
    plain.execute("PRAGMA journal_mode=DELETE")
    plain.close()
    append = WaitFreeAppend(SingleStatementAppend(engine), str(path))
    assert not append([_event(0)])
    append.close()


def test_the_loop_stores_a_lone_event_itself(store: SqlStore, checkpointer: WalCheckpointer | None) -> None:
    writer = AuditWriter(store)

    async def main() -> None:
        for n in range(5):
            await writer.write(_event(n))
            assert _stored(store, f"n-{n}") == 1  # committed when write returns

    asyncio.run(main())
    direct = 5 if checkpointer is not None else 0
    assert (writer.direct, writer.batches, writer.events) == (direct, 5, 5)
    assert (writer._thread is None) is (checkpointer is not None)  # the thread was never needed
    writer.close()


def test_a_held_lock_sends_the_event_to_the_thread_and_the_loop_keeps_running(
    store: SqlStore, checkpointer: WalCheckpointer | None
) -> None:
    if checkpointer is None:
        pytest.skip("SQLite's write lock")
    writer = AuditWriter(store)
    holder = _lock_holder(store)
    ticks = 0

    async def main() -> None:
        nonlocal ticks
        write = asyncio.create_task(writer.write(_event(1)))
        while ticks < 20:  # the loop is not blocked while the event waits for the lock
            began = time.monotonic()
            await asyncio.sleep(0.005)
            assert time.monotonic() - began < 1.0
            ticks += 1
            assert not write.done()
        assert _stored(store, "n-1") == 0
        await asyncio.get_running_loop().run_in_executor(None, _release, holder)
        await write  # answered only once committed

    try:
        asyncio.run(main())
    finally:
        if holder.poll() is None:
            _release(holder)
    assert ticks == 20
    assert _stored(store, "n-1") == 1
    assert (writer.direct, writer.batches) == (0, 1)
    writer.close()


def test_a_failure_on_the_loop_fails_only_its_own_request(store: SqlStore, checkpointer: WalCheckpointer | None
                                                           ) -> None:
    writer = AuditWriter(store)
    first = _event(0)

    async def one(event: dict[str, Any]) -> None:
        await writer.write(event)

    asyncio.run(one(first))

    async def tick() -> tuple[BaseException | None, BaseException | None]:  # a duplicate eventID and a new one
        return await asyncio.gather(one(first), one(_event(1)), return_exceptions=True)

    duplicate, good = asyncio.run(tick())
    assert isinstance(duplicate, Exception) and good is None
    assert [_stored(store, f"n-{n}") for n in range(2)] == [1, 1]
    assert writer.direct == (1 if checkpointer is not None else 0)  # the failed iteration went to the thread
    writer.close()


def test_events_with_deferred_writes_take_the_thread(store: SqlStore, checkpointer: WalCheckpointer | None) -> None:
    writer = AuditWriter(store)
    applied: list[object] = []

    async def main() -> None:  # e.g. RoleLastUsed: applied in one transaction with the event, in the thread
        await asyncio.gather(writer.write(_event(0)), writer.write(_event(1), [applied.append]))

    asyncio.run(main())
    assert len(applied) == 1
    assert [_stored(store, f"n-{n}") for n in range(2)] == [1, 1]
    assert (writer.direct, writer.batches) == (0, 1)  # the whole iteration went to the thread
    writer.close()
