"""Nodes starting together on one store seed root's access key once (both stores).

Two ``broker serve`` processes started at the same moment on one PostgreSQL schema, with the same
``BROKER_ROOT_ACCESS_KEY_ID``, both found "root has no key" and both inserted it: the second start died with
a unique-key violation (seen in tests/e2e/test_saml_two_nodes_e2e.py). ``seed_root`` now takes the
``bootstrap`` counter's row lock first.
"""

from __future__ import annotations

import threading
from pathlib import Path

from pydantic import SecretStr

from broker.bootstrap import seed_root
from broker.clock import FixedClock
from broker.config import Settings
from broker.credentials.envelope import Envelope
from broker.store.sqlalchemy.store import SqlStore

ROOT_KEY = "AKIAROOTRACEROOTRACE"


def test_concurrent_seeds_store_one_root_key(store: SqlStore, clock: FixedClock, envelope: Envelope,
                                             tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, root_access_key_id=ROOT_KEY,
                        root_secret_access_key=SecretStr("s" * 40))
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait(5)
            seed_root(settings, store, envelope, clock.now())
        except BaseException as exc:  # pragma: no cover - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    with store.transaction() as tx:
        assert [k.access_key_id for k in tx.iam.list_access_keys(None)] == [ROOT_KEY]


def test_generated_root_keys_are_not_made_twice(store: SqlStore, clock: FixedClock, envelope: Envelope,
                                                tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    results: list[object] = []
    barrier = threading.Barrier(3)

    def start() -> None:
        barrier.wait(5)
        results.append(seed_root(settings, store, envelope, clock.now()))

    threads = [threading.Thread(target=start) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(r is not None for r in results) == 1  # printed once, by the node that made it
    with store.transaction() as tx:
        assert len(tx.iam.list_access_keys(None)) == 1
