"""A node whose BROKER_MASTER_KEY cannot open the store's keyring keys fails closed (both stores).

Before this, ``ensure`` skipped the unopenable keys, found "no active key" and created new ones in the shared
store (keys the other nodes cannot open), and the rotation schedule would then have retired the other nodes'
keys. Now it refuses with :class:`KeyringUnavailable` and changes nothing.
"""

from __future__ import annotations

import base64
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from broker.cli.main import main
from broker.clock import FixedClock
from broker.credentials.envelope import Envelope
from broker.service.keyring import PURPOSES, KeyringService, KeyringUnavailable
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import ACCOUNT, SeededEntropy


def _rows(store: SqlStore) -> list[tuple[str, object, object]]:
    with store.transaction() as tx:
        return [(r.key_id, r.activated_at, r.retired_at) for r in tx.security.list_keys()]


def test_wrong_master_key_refuses_to_create_or_rotate(store: SqlStore, clock: FixedClock, envelope: Envelope,
                                                      entropy: SeededEntropy) -> None:
    good = KeyringService(store, envelope, clock, entropy)
    good.ensure()
    before = _rows(store)
    assert len(before) == len(PURPOSES)

    wrong = KeyringService(store, Envelope(b"\x42" * 32, entropy), clock, entropy, rotate_after=timedelta(seconds=1))
    with pytest.raises(KeyringUnavailable, match="cannot be opened with this BROKER_MASTER_KEY"):
        wrong.ensure()
    clock.advance(10)
    assert wrong.maybe_rotate() == []
    with pytest.raises(KeyringUnavailable):
        wrong.rotate("session-token")
    assert _rows(store) == before  # nothing created, nothing retired

    # The node with the right key is unaffected and still rotates on its schedule.
    assert good.rotate("session-token").key_id not in {kid for kid, _, _ in before}


def test_message_names_keys_but_no_material(store: SqlStore, clock: FixedClock, envelope: Envelope,
                                            entropy: SeededEntropy) -> None:
    KeyringService(store, envelope, clock, entropy).ensure()
    wrong = KeyringService(store, Envelope(b"\x07" * 32, entropy), clock, entropy)
    with pytest.raises(KeyringUnavailable) as info:
        wrong.ensure()
    text = str(info.value)
    for kid, _, _ in _rows(store):
        assert kid in text
    assert "\\x07" not in text and "0707" not in text


def test_nodes_starting_together_create_one_key_per_purpose(store: SqlStore, clock: FixedClock, envelope: Envelope,
                                                            entropy: SeededEntropy) -> None:
    nodes = [KeyringService(store, envelope, clock, SeededEntropy()) for _ in range(4)]
    barrier = threading.Barrier(len(nodes))
    errors: list[BaseException] = []

    def start(node: KeyringService) -> None:
        try:
            barrier.wait(5)
            node.ensure()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(n,)) for n in nodes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    rows = _rows(store)
    assert len(rows) == len(PURPOSES)
    for node in nodes:
        node.load()
        for purpose in PURPOSES:
            assert node.keyring.current(purpose, clock.now()).key_id in {kid for kid, _, _ in rows}


def test_cli_with_the_wrong_master_key_exits_2_and_changes_nothing(
    store: SqlStore, clock: FixedClock, envelope: Envelope, entropy: SeededEntropy, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    KeyringService(store, envelope, clock, entropy).ensure()
    before = _rows(store)
    monkeypatch.setenv("BROKER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BROKER_DATABASE_URL", store.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("BROKER_MASTER_KEY", base64.b64encode(b"\x42" * 32).decode())
    monkeypatch.setenv("BROKER_ACCOUNT_ID", ACCOUNT)
    for argv in (["keys", "list"], ["keys", "rotate", "session-token"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "cannot be opened with this BROKER_MASTER_KEY" in err and "Traceback" not in err
    assert _rows(store) == before
