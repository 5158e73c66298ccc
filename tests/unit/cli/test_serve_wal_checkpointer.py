"""``broker serve`` runs the SQLite store's WAL checkpointer with the app (``cli/main.py``)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from broker.cli.main import install_wal_checkpointer
from broker.store.sqlalchemy.engine import make_engine
from broker.store.sqlalchemy.store import SqlStore


def _app(store: Any) -> Any:
    def close_writer() -> None:  # create_app's own shutdown hook, installed before serve's
        pass

    router = SimpleNamespace(on_startup=[], on_shutdown=[close_writer])
    return SimpleNamespace(state=SimpleNamespace(broker=SimpleNamespace(store=store)), router=router)


def test_sqlite_file_store_checkpointer_starts_and_stops_with_the_app(tmp_path: Path) -> None:
    store = SqlStore(make_engine(f"sqlite:///{tmp_path / 'broker.db'}"))
    app = _app(store)
    install_wal_checkpointer(app)
    checkpointer = store.wal_checkpointer()
    assert checkpointer is not None
    assert app.router.on_startup == [checkpointer.start]
    assert app.router.on_shutdown[1:] == [checkpointer.stop]  # after the audit writer has drained
    for hook in app.router.on_startup:
        hook()
    assert checkpointer.running
    for hook in app.router.on_shutdown:
        hook()
    assert not checkpointer.running
    store.dispose()


def test_other_stores_get_no_checkpointer() -> None:
    memory = SqlStore(make_engine("sqlite://"))
    for store in (memory, SimpleNamespace()):  # in-memory SQLite; a store without WAL (PostgreSQL's has none)
        app = _app(store)
        install_wal_checkpointer(app)
        assert app.router.on_startup == [] and len(app.router.on_shutdown) == 1
    memory.dispose()
