"""Alembic migrations on both engines: an empty database upgraded to head matches ``Base.metadata`` exactly."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from broker.store.sqlalchemy.engine import make_engine
from broker.store.sqlalchemy.migrate import (
    MigrationError,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)
from broker.store.sqlalchemy.models import Base

PG_URL = os.environ.get("BROKER_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine on an empty database (a temp SQLite file, or a fresh PostgreSQL schema)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'migrate.db'}")
        yield engine
        engine.dispose()
        return
    if os.environ.get("BROKER_TEST_SKIP_POSTGRES") == "1":
        pytest.skip("BROKER_TEST_SKIP_POSTGRES=1")
    schema = f"m_{uuid.uuid4().hex[:16]}"
    admin = make_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    engine = make_engine(f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def differences(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))


def tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_upgrade_from_empty_matches_metadata(empty_engine: sa.Engine) -> None:
    upgrade(empty_engine)
    assert differences(empty_engine) == []
    assert tables(empty_engine) == set(Base.metadata.tables) | {"alembic_version"}
    with empty_engine.connect() as conn:
        assert current_revision(conn) == head_revision() == "0003_keyring_saml_sp"


def test_upgrade_is_idempotent(empty_engine: sa.Engine) -> None:
    upgrade(empty_engine)
    upgrade(empty_engine)
    assert differences(empty_engine) == []


def test_upgrade_by_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'by-url.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        assert differences(engine) == []
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(empty_engine: sa.Engine) -> None:
    upgrade(empty_engine)
    with empty_engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert tables(empty_engine) == {"alembic_version"}
    upgrade(empty_engine)
    assert differences(empty_engine) == []


def test_schema_made_by_create_all_is_adopted(empty_engine: sa.Engine) -> None:
    Base.metadata.create_all(empty_engine)
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        assert current_revision(conn) == head_revision()
    assert differences(empty_engine) == []


def test_partial_unversioned_schema_is_refused(empty_engine: sa.Engine) -> None:
    Base.metadata.tables["audit_events"].create(empty_engine)
    with pytest.raises(MigrationError, match="holds tables but no migration history, and lacks: change_counters"):
        upgrade(empty_engine)


def test_migrated_store_works(empty_engine: sa.Engine) -> None:
    """Constraints the repositories rely on (ON CONFLICT targets) exist in the migrated schema."""
    from datetime import UTC, datetime, timedelta

    from broker.store.sqlalchemy.store import SqlStore

    upgrade(empty_engine)
    store = SqlStore(empty_engine)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with store.transaction() as tx:
        assert tx.security.remember_once("saml", "_a", t0 + timedelta(minutes=5), t0) is True
        assert tx.security.remember_once("saml", "_a", t0 + timedelta(minutes=5), t0) is False
        assert tx.security.bump("roles") == 1
        assert tx.security.bump("roles") == 2
