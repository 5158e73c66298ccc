"""PostgreSQL ``LISTEN``: wake a node promptly when another node changes shared state (DESIGN.md §4).

A writer calls :meth:`SecurityRepository.notify` inside its transaction; PostgreSQL delivers the
notification to every listening session when that transaction commits ("NOTIFY", PostgreSQL
documentation, https://www.postgresql.org/docs/current/sql-notify.html). Channels are database-wide,
so nodes on other schemas of the same database may wake needlessly; they then find nothing new.

The listener holds one dedicated autocommit connection (psycopg 3, outside SQLAlchemy's pool, since
it blocks in ``notifies()``). Notifications are hints, never the source of truth: readers still poll
the change counter, so a dropped connection only delays a refresh until the next poll.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql
from sqlalchemy import Engine

__all__ = ["PgListener", "listener_for"]

_log = logging.getLogger("broker.store")


class PgListener:
    """``wait(timeout)`` returns ``True`` when a notification arrived on ``channel``, ``False`` on timeout."""

    def __init__(self, conninfo: str, channel: str) -> None:
        self._conninfo = conninfo
        self.channel = channel
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def __repr__(self) -> str:  # the conninfo may carry a password
        return f"PgListener(channel={self.channel!r})"

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
            self._conn = conn
        return self._conn

    def connect(self) -> None:
        """Open the connection and start listening now (so nothing committed after this is missed)."""
        self._connect()

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for a notification; raises ``psycopg.Error`` if the link broke."""
        conn = self._connect()
        try:
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                return True
        except psycopg.Error:
            self.close()
            raise
        return False

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:  # pragma: no cover - closing a broken link
                _log.debug("closing the LISTEN connection failed", exc_info=True)


def listener_for(engine: Engine, channel: str) -> PgListener | None:
    """A listener on ``channel`` when ``engine`` is PostgreSQL; ``None`` for SQLite (poll only)."""
    if engine.dialect.name != "postgresql":
        return None
    url = engine.url.set(drivername="postgresql")
    return PgListener(url.render_as_string(hide_password=False), channel)
