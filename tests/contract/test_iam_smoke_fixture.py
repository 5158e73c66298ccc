"""The contract fixtures themselves: both engines start empty and isolated."""

from __future__ import annotations

import sqlalchemy as sa

from broker.store.sqlalchemy.store import SqlStore


def test_store_roundtrip(store: SqlStore) -> None:
    with store.transaction() as tx:
        assert tx.session.execute(sa.text("SELECT 1")).scalar_one() == 1
