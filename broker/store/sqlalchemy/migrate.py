"""Schema migrations: ``upgrade(url or engine)`` brings a database to the newest Alembic revision.

The CLI (``broker init``/``serve``) calls :func:`upgrade` before opening the store. On PostgreSQL the
upgrade holds a transaction-level advisory lock, so several nodes starting at once migrate one at a time.
A database whose tables were created without Alembic (``Base.metadata.create_all``) and match the newest
revision's table set is stamped rather than re-created; a partial one is refused.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text

from broker.store.sqlalchemy.engine import make_engine

__all__ = ["MIGRATIONS", "MigrationError", "alembic_config", "current_revision", "head_revision", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_ID = 0x62726F6B6572  # "broker"
_log = logging.getLogger("broker.store")


class MigrationError(RuntimeError):
    """The database cannot be brought to the newest schema safely."""


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic config for broker's migrations, optionally bound to an open ``connection``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise MigrationError("no migration revisions found")
    return head


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _adopt_unversioned(connection: Connection, cfg: Config) -> bool:
    """Stamp a database built by ``create_all`` (all tables present, no version table). ``True`` if stamped."""
    from broker.store.sqlalchemy.models import Base

    existing = set(inspect(connection).get_table_names()) - {"alembic_version"}
    if not existing:
        return False
    expected = set(Base.metadata.tables)
    if expected <= existing:
        _log.warning("store has broker tables but no migration history; stamping it at the newest revision")
        command.stamp(cfg, "head")
        return True
    missing = ", ".join(sorted(expected - existing))
    raise MigrationError(f"the database holds tables but no migration history, and lacks: {missing}")


def upgrade(target: str | Engine, revision: str = "head") -> None:
    """Apply every pending migration to the database at ``target`` (a URL or an engine)."""
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
            cfg = alembic_config(connection)
            if current_revision(connection) is None and _adopt_unversioned(connection, cfg):
                return
            command.upgrade(cfg, revision)
    finally:
        if isinstance(target, str):
            engine.dispose()
