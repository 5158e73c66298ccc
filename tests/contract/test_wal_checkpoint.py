"""Background WAL checkpoints of a SQLite store (``store/sqlalchemy/checkpoint.py``; issue 5).

SQLite only: PostgreSQL has no WAL to checkpoint from the client. Each test gets a fresh database file.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from broker.store.sqlalchemy.checkpoint import DEFAULT_AUTOCHECKPOINT, WalCheckpointer, sqlite_file
from broker.store.sqlalchemy.engine import make_engine
from broker.store.sqlalchemy.models.audit import AuditEventRow
from broker.store.sqlalchemy.store import SqlStore

PAGE = 4096


def _event(n: int, tag: str = "t") -> dict[str, Any]:
    return {"eventID": f"{tag}-{n}", "eventTime": "2026-01-01T00:00:00Z", "eventSource": "sts.amazonaws.com",
            "eventName": "AssumeRoleWithWebIdentity", "requestID": f"{tag}-r{n}", "pad": "x" * 600}


def _wal_bytes(store: SqlStore) -> int:
    path = sqlite_file(store.engine)
    assert path is not None
    try:
        return os.stat(path + "-wal").st_size
    except FileNotFoundError:
        return 0


def _autocheckpoint(store: SqlStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one())


def _count(store: SqlStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(AuditEventRow)).scalar_one())


def _write(store: SqlStore, commits: int, tag: str = "t") -> None:
    for n in range(commits):
        store.append_audit([_event(n, tag)])  # one commit per event: the audit writer's smallest batch


def test_only_a_sqlite_file_gets_a_checkpointer(tmp_path: Path) -> None:
    memory = SqlStore(make_engine("sqlite://"))
    assert memory.wal_checkpointer() is None
    store = SqlStore(make_engine(f"sqlite:///{tmp_path / 'b.db'}"))
    assert store.wal_checkpointer() is store.wal_checkpointer()  # one per store
    with pytest.raises(ValueError):
        WalCheckpointer(make_engine("sqlite://"))
    store.dispose()
    memory.dispose()


def test_commits_leave_the_wal_to_the_checkpointer_while_it_runs(sqlite_store: SqlStore) -> None:
    _write(sqlite_store, 10, "s")  # the pool holds a connection opened before start: checkout covers it
    assert _autocheckpoint(sqlite_store) == DEFAULT_AUTOCHECKPOINT
    _write(sqlite_store, 600)
    with_autocheckpoint = _wal_bytes(sqlite_store)
    assert with_autocheckpoint <= (DEFAULT_AUTOCHECKPOINT + 50) * PAGE  # SQLite's commits checkpoint at 1,000

    checkpointer = sqlite_store.wal_checkpointer()
    assert checkpointer is not None
    checkpointer.interval = 3600.0  # the thread sleeps through this test: any checkpoint would be a commit's
    checkpointer.start()
    assert _autocheckpoint(sqlite_store) == 0
    _write(sqlite_store, 600, "u")
    assert _wal_bytes(sqlite_store) > 2 * DEFAULT_AUTOCHECKPOINT * PAGE  # no commit checkpointed
    checkpointer.stop()
    assert _wal_bytes(sqlite_store) == 0  # the last checkpoint truncates
    assert _autocheckpoint(sqlite_store) == DEFAULT_AUTOCHECKPOINT  # the default is back
    assert _count(sqlite_store) == 1210


def test_the_wal_stays_bounded_under_sustained_writes(sqlite_store: SqlStore) -> None:
    checkpointer = sqlite_store.wal_checkpointer()
    assert checkpointer is not None
    checkpointer.interval, checkpointer.idle, checkpointer.restart_pages = 0.02, 60.0, 1000
    checkpointer.start()
    high = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal high
        while not stop.is_set():
            high = max(high, _wal_bytes(sqlite_store))
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for round_ in range(40):
            _write(sqlite_store, 50, f"r{round_}")
            time.sleep(0.01)  # the writer pauses as a server's does between batches
    finally:
        stop.set()
        watcher.join()
    high = max(high, _wal_bytes(sqlite_store))
    checkpointer.stop()
    # 2,000 commits of ~6 pages each went through the WAL (~48 MB without checkpoints): it was rewound
    # at the restart bound, overshooting by what was committed during a pass
    assert 0 < high < 3 * checkpointer.restart_pages * PAGE
    assert _count(sqlite_store) == 2000


def test_idle_wal_is_truncated(sqlite_store: SqlStore) -> None:
    checkpointer = sqlite_store.wal_checkpointer()
    assert checkpointer is not None
    checkpointer.interval, checkpointer.idle = 0.02, 0.1
    checkpointer.start()
    _write(sqlite_store, 100)
    assert _wal_bytes(sqlite_store) > 0
    deadline = time.monotonic() + 5
    while _wal_bytes(sqlite_store) > 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _wal_bytes(sqlite_store) == 0
    assert checkpointer.running
    checkpointer.stop()
    assert not checkpointer.running
    checkpointer.stop()  # idempotent


def test_a_reader_pinning_old_frames_delays_but_does_not_break_checkpoints(sqlite_store: SqlStore) -> None:
    checkpointer = sqlite_store.wal_checkpointer()
    assert checkpointer is not None
    checkpointer.interval, checkpointer.idle, checkpointer.restart_pages = 0.02, 60.0, 200
    checkpointer.start()
    _write(sqlite_store, 5)
    with sqlite_store.engine.connect() as reader:
        reader.execute(text("BEGIN"))
        assert reader.execute(select(func.count()).select_from(AuditEventRow)).scalar_one() == 5  # snapshot held
        _write(sqlite_store, 300, "pinned")
        time.sleep(0.2)  # the checkpointer cannot copy past the snapshot; its RESTART attempts time out
        assert _wal_bytes(sqlite_store) > 200 * PAGE
        assert reader.execute(select(func.count()).select_from(AuditEventRow)).scalar_one() == 5
        reader.execute(text("COMMIT"))
    _write(sqlite_store, 300, "after")
    assert checkpointer.running
    frames = checkpointer.checkpoint("PASSIVE")
    assert not frames.busy and frames.checkpointed == frames.log_frames
    checkpointer.stop()
    assert _count(sqlite_store) == 605


_OTHER_NODE = """
import sys
from broker.store.sqlalchemy.engine import make_engine
from broker.store.sqlalchemy.store import SqlStore
store = SqlStore(make_engine(sys.argv[1]))
checkpointer = store.wal_checkpointer()
checkpointer.interval = 0.01
checkpointer.start()
for n in range(int(sys.argv[2])):
    store.append_audit([{"eventID": f"b-{n}", "eventTime": "2026-01-01T00:00:00Z",
                         "eventSource": "sts.amazonaws.com", "eventName": "X", "requestID": f"b-r{n}",
                         "pad": "y" * 600}])
store.dispose()
"""


def test_two_processes_each_checkpointing_one_file(sqlite_store: SqlStore) -> None:
    checkpointer = sqlite_store.wal_checkpointer()
    assert checkpointer is not None
    checkpointer.interval = 0.01
    checkpointer.start()
    root = Path(__file__).resolve().parents[2]
    other = subprocess.Popen([sys.executable, "-c", _OTHER_NODE, str(sqlite_store.engine.url), "800"], cwd=root,
                             env={**os.environ, "PYTHONPATH": str(root)})
    _write(sqlite_store, 800, "a")
    assert other.wait(timeout=120) == 0
    checkpointer.stop()
    assert _count(sqlite_store) == 1600
    with sqlite_store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the death is the point
def test_a_checkpointer_that_dies_gives_commits_their_checkpoints_back(sqlite_store: SqlStore,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    checkpointer = sqlite_store.wal_checkpointer()
    assert checkpointer is not None
    checkpointer.interval = 0.01

    def broken() -> None:
        raise MemoryError("the thread dies")

    monkeypatch.setattr(checkpointer, "_checkpoint_until_stopped", broken)
    checkpointer.start()
    deadline = time.monotonic() + 5
    while _autocheckpoint(sqlite_store) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _autocheckpoint(sqlite_store) == DEFAULT_AUTOCHECKPOINT
    checkpointer.stop()
