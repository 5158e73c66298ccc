"""Migration 0002_oidc_pinned_jwks on both engines: a store at 0001 with OIDC providers upgrades in place (rows kept,
``pinned_jwks`` empty, so they keep fetching), the column then holds a pinned JWK Set, and the downgrade drops it."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from broker.store.sqlalchemy.migrate import alembic_config, current_revision, upgrade
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.test_migrations import differences, empty_engine  # noqa: F401 (fixture)

ARN = "arn:aws:iam::123456789012:oidc-provider/idp.example"


def _columns(engine: sa.Engine) -> set[str]:
    return {c["name"] for c in sa.inspect(engine).get_columns("oidc_providers")}


def test_upgrade_from_0001_keeps_providers(empty_engine: sa.Engine) -> None:  # noqa: F811
    upgrade(empty_engine, "0001")
    assert "pinned_jwks" not in _columns(empty_engine)
    with empty_engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO oidc_providers (arn, url, client_ids, thumbprints, tags, created_at) "
            "VALUES (:arn, 'https://idp.example', '[\"sts.amazonaws.com\"]', '[]', '[]', :at)"),
            {"arn": ARN, "at": datetime(2026, 1, 1, tzinfo=UTC)})
    upgrade(empty_engine)
    assert differences(empty_engine) == []
    store = SqlStore(empty_engine)
    with store.transaction() as tx:
        record = tx.providers.get_oidc(ARN)
        assert record is not None and record.client_ids == ("sts.amazonaws.com",) and record.pinned_jwks is None
        tx.providers.update_oidc(ARN, pinned_jwks='{"keys":[]}')
    with store.transaction() as tx:
        assert tx.providers.get_oidc(ARN).pinned_jwks == '{"keys":[]}'  # type: ignore[union-attr]
        tx.providers.update_oidc(ARN, client_ids=["other"])  # other updates leave the pinned set alone
    with store.transaction() as tx:
        assert tx.providers.get_oidc(ARN).pinned_jwks == '{"keys":[]}'  # type: ignore[union-attr]
    with empty_engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0001")
        assert current_revision(conn) == "0001"
    assert "pinned_jwks" not in _columns(empty_engine)
