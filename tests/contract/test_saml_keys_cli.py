"""SAML SP key rotation through ``broker keys rotate saml-sp [--promote]`` and ``broker keys list``, on SQLite
and PostgreSQL: the command as an operator runs it (``broker.cli.main.main`` with ``BROKER_*`` settings), and
a running node over the same store (publishing metadata, decrypting) following each step."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from broker.clock import FixedClock, SystemClock
from broker.credentials.envelope import Envelope
from broker.service.saml_sp_keys import StoreSpKeys
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import ACCOUNT, MASTER_KEY, SeededEntropy
from tests.contract.test_saml_sp_keys import SP, _second_store, decrypts, encrypted_to, metadata_certificates, saml_rows


@pytest.fixture
def operator(store: SqlStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``BROKER_*`` environment of an operator's shell on a node of this store."""
    monkeypatch.setenv("BROKER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BROKER_DATABASE_URL", store.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("BROKER_MASTER_KEY", base64.b64encode(MASTER_KEY).decode())
    monkeypatch.setenv("BROKER_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("BROKER_PUBLIC_URL", "https://broker.example.com")


def broker(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    from broker.cli.main import main

    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def sp_lines(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, str]]:
    status, out, _ = broker(capsys, "keys", "list")
    assert status == 0
    lines = [json.loads(line) for line in out.splitlines()]
    return {line["key_id"]: line for line in lines if line["purpose"] == "saml-sp"}


def running_node(store: SqlStore) -> StoreSpKeys:
    entropy = SeededEntropy(7)
    return StoreSpKeys(store, Envelope(MASTER_KEY, entropy), SystemClock(), entropy, entity_id=SP.entity_id,
                       poll_seconds=0)


def now() -> FixedClock:
    return FixedClock(datetime.now(UTC))


@pytest.mark.usefixtures("operator")
def test_prepare_then_promote_through_the_cli(store: SqlStore, capsys: pytest.CaptureFixture[str]) -> None:
    node = running_node(store)
    first = node.ensure()  # the node served a SAML request: its key exists

    status, out, _ = broker(capsys, "keys", "rotate", "saml-sp")
    assert status == 0 and "is prepared as the next key" in out
    listing = sp_lines(capsys)
    assert {k: v["state"] for k, v in listing.items()} == {first.key_id: "active", **{
        k: "next" for k in listing if k != first.key_id}}
    (prepared,) = (k for k, v in listing.items() if v["state"] == "next")
    assert prepared in out and listing[prepared]["fingerprint"] in out

    # the running node publishes it as a second encryption certificate and decrypts with it; it does not sign
    following = node.next_key()
    assert following is not None and following.key_id == prepared
    assert metadata_certificates(node, "encryption") == [first.pair.certificate_der, following.pair.certificate_der]
    assert metadata_certificates(node, "signing") == [first.pair.certificate_der]
    clock = now()
    assert decrypts(node, encrypted_to(following.pair.certificate_der, clock), clock)

    # step 1 again: the same prepared key, no new row
    status, out, _ = broker(capsys, "keys", "rotate", "saml-sp")
    assert status == 0 and f"{prepared} was already prepared" in out
    assert len(saml_rows(store)) == 2

    status, out, _ = broker(capsys, "keys", "rotate", "saml-sp", "--promote")
    assert status == 0 and f"saml-sp key {prepared} is now active" in out and first.key_id in out
    listing = sp_lines(capsys)
    assert {k: v["state"] for k, v in listing.items()} == {first.key_id: "retired", prepared: "active"}
    assert listing[first.key_id]["retired_at"] is not None
    assert metadata_certificates(node, "signing") == [following.pair.certificate_der]
    assert metadata_certificates(node, "encryption") == [following.pair.certificate_der]
    clock = now()
    assert decrypts(node, encrypted_to(first.pair.certificate_der, clock), clock)  # retired: still decrypts

    # nothing prepared any more: --promote refuses and changes nothing
    before = saml_rows(store)
    status, out, err = broker(capsys, "keys", "rotate", "saml-sp", "--promote")
    assert (status, out) == (1, "") and "no next key is prepared" in err
    assert saml_rows(store) == before


@pytest.mark.usefixtures("operator")
def test_the_first_cli_step_on_a_fresh_store_creates_the_active_key_too(
    store: SqlStore, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, _ = broker(capsys, "keys", "rotate", "saml-sp")
    assert status == 0
    assert sorted(v["state"] for v in sp_lines(capsys).values()) == ["active", "next"]
    assert running_node(store).current().key_id in sp_lines(capsys)


@pytest.mark.usefixtures("operator")
def test_token_key_rotation_is_unchanged(store: SqlStore, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = broker(capsys, "keys", "rotate", "session-token")
    assert status == 0 and "session-token key" in out and "is now active" in out
    assert sp_lines(capsys) == {}  # token commands never create the SAML SP key
    status, _, err = broker(capsys, "keys", "rotate", "session-token", "--promote")
    assert status == 2 and "--promote applies to saml-sp only" in err


def test_two_promotions_at_once_promote_once(store: SqlStore, clock: FixedClock) -> None:
    other = _second_store(store)
    try:
        a = StoreSpKeys(store, Envelope(MASTER_KEY, SeededEntropy(1)), clock, SeededEntropy(1),
                        entity_id=SP.entity_id, poll_seconds=0)
        b = StoreSpKeys(other, Envelope(MASTER_KEY, SeededEntropy(2)), clock, SeededEntropy(2),
                        entity_id=SP.entity_id, poll_seconds=0)
        first = a.ensure()
        following = a.prepare_next()
        barrier = threading.Barrier(2, timeout=30)
        outcomes: list[str] = []

        def promote(keys: StoreSpKeys) -> None:
            barrier.wait()
            try:
                outcomes.append(keys.promote().key_id)
            except LookupError:
                outcomes.append("nothing prepared")

        threads = [threading.Thread(target=promote, args=(n,)) for n in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(outcomes) == sorted([following.key_id, "nothing prepared"])
        rows = {r.key_id: r for r in saml_rows(store)}
        assert rows[following.key_id].retired_at is None and rows[first.key_id].retired_at is not None
    finally:
        other.dispose()
