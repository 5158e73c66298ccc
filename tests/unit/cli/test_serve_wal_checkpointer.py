"""``broker serve`` runs the SQLite store's WAL checkpointer with the app and freezes the start-up heap
(``cli/main.py``)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from broker.cli.main import freeze_startup_heap, install_wal_checkpointer
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


def test_freeze_startup_heap_leaves_only_later_objects_to_the_collector() -> None:
    import gc

    gc.unfreeze()
    try:
        before = len(gc.get_objects())
        freeze_startup_heap()
        assert gc.get_freeze_count() >= before // 2  # what was alive now sits in the permanent generation
        assert len(gc.get_objects()) < before // 2  # a full collection no longer walks it
    finally:
        gc.unfreeze()


def test_serve_runs_the_checkpointer_and_freezes_the_heap_at_start_up(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from broker.cli.main import build_parser, cmd_serve

    for name in [k for k in os.environ if k.startswith("BROKER_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("BROKER_HOME", str(tmp_path))
    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    assert cmd_serve(build_parser().parse_args(["serve"])) == 0
    (app,) = served
    checkpointer = app.state.broker.store.wal_checkpointer()
    assert checkpointer.start in app.router.on_startup
    assert app.router.on_startup[-1] is freeze_startup_heap
    assert app.router.on_shutdown[-1] == checkpointer.stop
    app.state.broker.store.dispose()
