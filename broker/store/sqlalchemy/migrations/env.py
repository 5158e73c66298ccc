"""Alembic environment: migrations run on a connection handed over by :mod:`broker.store.sqlalchemy.migrate`.

Works for SQLite (``render_as_batch`` so that ALTERs become table copies) and PostgreSQL. When no
connection is handed over (the ``alembic`` command line), the URL comes from ``sqlalchemy.url`` in the
config or ``BROKER_DATABASE_URL``.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from broker.store.sqlalchemy.engine import make_engine
from broker.store.sqlalchemy.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("BROKER_DATABASE_URL")
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("BROKER_DATABASE_URL")
    if not url:
        raise RuntimeError("no database: pass a connection, set sqlalchemy.url or BROKER_DATABASE_URL")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
