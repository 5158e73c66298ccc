"""WAL checkpoints for a SQLite store on a thread of their own, so that no request's commit runs one (issue 5).

In WAL mode with ``synchronous=NORMAL`` a commit appends pages to the WAL and does not sync; the WAL is copied
back into the database by a *checkpoint*, which syncs the WAL, writes the pages and syncs the database file
("Write-Ahead Logging", https://www.sqlite.org/wal.html §"Checkpointing"). By default SQLite runs it inside the
commit that takes the WAL past 1,000 pages (``wal_autocheckpoint``), on that commit's connection: under the
audit writer's load (``service/audit_writer.py``) every ~190 ms one batch's ``COMMIT`` took three
``fdatasync`` calls (3-20 ms on the development machine), and every request waiting on that batch waited too.

While a :class:`WalCheckpointer` runs, the process's pooled connections have ``wal_autocheckpoint=0`` (set at
checkout, so connections opened before :meth:`WalCheckpointer.start` are covered too) and the checkpointer's
own connection, outside the pool, runs ``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval`` seconds. A
passive checkpoint waits for no one and blocks no one, and it does the expensive part (copying the pages and
both syncs) off the request path. It cannot make the WAL start over while commits keep arriving, though:
SQLite rewinds the WAL only when a transaction begins with every frame copied, and frames committed while the
checkpoint copied (every few ms under load) are not. So the WAL is bounded in two more ways:

* past ``restart_pages`` frames, a ``RESTART`` checkpoint right after the passive one: it holds new commits
  back while it copies what the passive pass missed and syncs (3-20 ms measured), then the next commit
  rewinds the WAL. That is once per 40,000 pages (160 MB of WAL at 4 KiB pages; about every 8 s at 1,000
  requests/s, ~700 audit commits/s of ~7 pages each) instead of SQLite's once per 1,000. A reader still
  on an old snapshot pins the frames it sees; the checkpoint waits for it at most ``busy_timeout`` and, if
  it is still there, the next attempt waits until the WAL has grown by another ``restart_pages``;
* after ``idle`` seconds without a commit, a ``TRUNCATE`` checkpoint, which also gives the file back.

Several processes on one database file (nodes, ``broker`` CLI commands) stay correct: checkpoints are
coordinated by SQLite's own file locks, a checkpoint that finds another one running returns "busy" and is
simply tried again at the next interval, and a process without a running checkpointer keeps SQLite's
default auto-checkpoint. :meth:`WalCheckpointer.stop` (the app's shutdown, after the audit writer is
drained) runs a last ``TRUNCATE`` checkpoint and gives the pooled connections their default back.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event

__all__ = ["Checkpoint", "WalCheckpointer", "sqlite_file"]

_log = logging.getLogger("broker.store")

DEFAULT_AUTOCHECKPOINT = 1000
"""SQLite's compiled-in ``wal_autocheckpoint`` (pages), given back to the connections on :meth:`stop`."""


@dataclass(frozen=True)
class Checkpoint:
    """One ``PRAGMA wal_checkpoint`` answer: whether it was blocked, WAL frames, frames now in the database."""

    mode: str
    busy: bool
    log_frames: int
    checkpointed: int


def sqlite_file(engine: Engine) -> str | None:
    """The database file of a file-backed SQLite engine; ``None`` for PostgreSQL and in-memory SQLite."""
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or url.query.get("mode") == "memory":
        return None
    return database


class WalCheckpointer:
    """Checkpoints one SQLite database file's WAL on a background thread (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        *,
        interval: float = 0.25,
        restart_pages: int = 40_000,
        idle: float = 1.0,
        busy_timeout: float = 0.1,
    ) -> None:
        path = sqlite_file(engine)
        if path is None:
            raise ValueError("WAL checkpoints apply to a file-backed SQLite database only")
        self.engine = engine
        self.path = path
        self.interval = interval
        self.restart_pages = restart_pages
        self.idle = idle
        self.busy_timeout = busy_timeout
        self._autocheckpoint = DEFAULT_AUTOCHECKPOINT
        """What each pooled connection gets at checkout: 0 while the thread runs, SQLite's default otherwise."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        event.listen(engine, "checkout", self._on_checkout)

    def __repr__(self) -> str:
        return f"WalCheckpointer(path={self.path!r}, running={self.running})"

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def commits_checkpoint(self) -> bool:
        """Whether a commit on a pooled connection may run SQLite's auto-checkpoint now (it may not while the
        thread runs; it may again once it stopped or died)."""
        return self._autocheckpoint != 0

    def _on_checkout(self, dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        wanted = self._autocheckpoint
        if record.info.get("wal_autocheckpoint") != wanted:
            cursor = dbapi_conn.cursor()
            cursor.execute(f"PRAGMA wal_autocheckpoint={int(wanted)}")
            cursor.close()
            record.info["wal_autocheckpoint"] = wanted

    def start(self) -> None:
        """Start the thread (idempotent); from now on no pooled connection checkpoints in its commit."""
        with self._lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._autocheckpoint = 0
            thread = threading.Thread(target=self._run, name="broker-wal-checkpoint", daemon=True)
            self._thread = thread
            thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread, checkpoint everything left (``TRUNCATE``) and give the connections their default."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._stop.set()
            thread.join(timeout)
            self._autocheckpoint = DEFAULT_AUTOCHECKPOINT
            try:
                self.checkpoint("TRUNCATE")
            except sqlite3.Error:
                _log.warning("final WAL checkpoint of %s failed", self.path, exc_info=True)
            finally:
                self._close()

    def checkpoint(self, mode: str = "PASSIVE") -> Checkpoint:
        """Run one ``PRAGMA wal_checkpoint(mode)`` on the checkpointer's own connection."""
        if mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
            raise ValueError(f"unknown checkpoint mode {mode!r}")
        conn = self._connection()
        row = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        busy, log_frames, checkpointed = (int(v) for v in row) if row else (1, -1, -1)
        return Checkpoint(mode, bool(busy), log_frames, checkpointed)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
            self._conn = conn
        return self._conn

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _wal_bytes(self) -> int:
        try:
            return os.stat(self.path + "-wal").st_size
        except OSError:
            return 0

    def _run(self) -> None:
        try:
            self._checkpoint_until_stopped()
        finally:
            if not self._stop.is_set():  # the thread died: commits checkpoint again, as SQLite does by default
                self._autocheckpoint = DEFAULT_AUTOCHECKPOINT
                _log.error("the WAL checkpointer of %s stopped; commits checkpoint again", self.path)

    def _checkpoint_until_stopped(self) -> None:
        version: int | None = None
        quiet_since = time.monotonic()
        restart_at = self.restart_pages
        while not self._stop.wait(self.interval):
            try:
                done = self.checkpoint("PASSIVE")
                now = time.monotonic()
                seen = self._data_version()
                if seen != version:  # another connection committed since the last pass
                    version, quiet_since = seen, now
                if done.log_frames < restart_at - self.restart_pages:  # the WAL was rewound
                    restart_at = self.restart_pages
                if done.log_frames > restart_at:
                    restart = self.checkpoint("RESTART")
                    restart_at = done.log_frames + self.restart_pages if restart.busy else self.restart_pages
                elif now - quiet_since >= self.idle and self._wal_bytes() > 0:
                    self.checkpoint("TRUNCATE")  # nothing committed for a while: give the file back
            except Exception:  # the database is busy or gone for now: try again next time
                _log.warning("WAL checkpoint of %s failed", self.path, exc_info=True)
                self._close()
                version = None

    def _data_version(self) -> int:
        """Changes when another connection commits (https://www.sqlite.org/pragma.html#pragma_data_version)."""
        row = self._connection().execute("PRAGMA data_version").fetchone()
        return int(row[0]) if row else -1
