"""Migration 0003 (keyring ``saml-sp`` purpose and ``certificate`` column) on both engines, with data in place."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from broker.store.sqlalchemy.migrate import alembic_config, upgrade
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.test_migrations import differences, empty_engine  # noqa: F401 - the engine fixture

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _to(engine: sa.Engine, revision: str, *, down: bool = False) -> None:
    with engine.begin() as conn:
        (command.downgrade if down else command.upgrade)(alembic_config(conn), revision)


@pytest.fixture
def at_0002(empty_engine: sa.Engine) -> Iterator[sa.Engine]:  # noqa: F811
    _to(empty_engine, "0002_oidc_pinned_jwks")
    with empty_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO keyring_keys (key_id, purpose, algorithm, sealed_key, created_at) "
                             "VALUES ('st-1', 'session-token', 'A256GCM', :k, :t)"), {"k": b"sealed", "t": T0})
    yield empty_engine


def test_upgrade_keeps_token_keys_and_accepts_sp_keys(at_0002: sa.Engine) -> None:
    upgrade(at_0002)
    assert differences(at_0002) == []
    store = SqlStore(at_0002)
    with store.transaction() as tx:
        assert [k.key_id for k in tx.security.list_keys()] == ["st-1"]
        tx.security.add_saml_sp_key("sp-1", "RSA-3072", b"sealed-sp", b"cert", T0, activated_at=T0)
    with store.transaction() as tx:
        (sp,) = tx.security.list_saml_sp_keys()
        assert (sp.key_id, sp.certificate) == ("sp-1", b"cert")
        assert [k.key_id for k in tx.security.list_keys()] == ["st-1"]


def test_the_purpose_check_still_refuses_unknown_purposes(at_0002: sa.Engine) -> None:
    upgrade(at_0002)
    with pytest.raises(sa.exc.IntegrityError), at_0002.begin() as conn:
        conn.execute(sa.text("INSERT INTO keyring_keys (key_id, purpose, algorithm, sealed_key, created_at) "
                             "VALUES ('x', 'signing', 'ES256', :k, :t)"), {"k": b"x", "t": T0})


def test_downgrade_drops_sp_keys_and_the_column(at_0002: sa.Engine, tmp_path: Path) -> None:
    upgrade(at_0002)
    with SqlStore(at_0002).transaction() as tx:
        tx.security.add_saml_sp_key("sp-1", "RSA-3072", b"sealed-sp", b"cert", T0, activated_at=T0)
    _to(at_0002, "0002_oidc_pinned_jwks", down=True)
    columns = {c["name"] for c in sa.inspect(at_0002).get_columns("keyring_keys")}
    assert "certificate" not in columns
    with at_0002.connect() as conn:
        assert conn.execute(sa.text("SELECT key_id FROM keyring_keys")).scalars().all() == ["st-1"]
    with pytest.raises(sa.exc.IntegrityError), at_0002.begin() as conn:
        conn.execute(sa.text("INSERT INTO keyring_keys (key_id, purpose, algorithm, sealed_key, created_at) "
                             "VALUES ('sp-2', 'saml-sp', 'RSA-3072', :k, :t)"), {"k": b"x", "t": T0})
