"""Security tables on both engines: change counters, keyring, revocations, replay cache, MFA devices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from broker.store.sqlalchemy.store import SqlStore

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_change_counter_starts_at_zero_and_bumps(store: SqlStore) -> None:
    with store.transaction() as tx:
        assert tx.security.counter("roles") == 0
        assert tx.security.bump("roles") == 1
        assert tx.security.bump("roles") == 2
        assert tx.security.bump("policies") == 1
    with store.transaction() as tx:
        assert tx.security.counters() == {"roles": 2, "policies": 1}


def test_change_counter_bump_rolls_back_with_its_transaction(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.security.bump("roles")
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.security.bump("roles")
        raise RuntimeError("abort")
    with store.transaction() as tx:
        assert tx.security.counter("roles") == 1


def test_keyring_add_activate_retire_and_list(store: SqlStore) -> None:
    with store.transaction() as tx:
        k1 = tx.security.add_key("k1", "session-token", "A256GCM", b"sealed-1", T0, activated_at=T0)
        tx.security.add_key("k2", "jwt-signing", "ES256", b"sealed-2", T0 + timedelta(seconds=1))
        tx.security.add_key("k3", "session-token", "A256GCM", b"sealed-3", T0 + timedelta(seconds=2))
        assert "sealed-1" not in repr(k1)
    with store.transaction() as tx:
        assert tx.security.activate_key("k3", T0 + timedelta(minutes=1)) is True
        assert tx.security.retire_key("k1", T0 + timedelta(hours=1)) is True
        assert tx.security.retire_key("missing", T0) is False
    with store.transaction() as tx:
        keys = tx.security.list_keys("session-token")
        assert [k.key_id for k in keys] == ["k1", "k3"]
        assert keys[0].retired_at == T0 + timedelta(hours=1)
        assert keys[0].sealed_key == b"sealed-1"
        assert keys[1].activated_at == T0 + timedelta(minutes=1)
        assert [k.key_id for k in tx.security.list_keys()] == ["k1", "k2", "k3"]
        got = tx.security.get_key("k2")
        assert got is not None and got.purpose == "jwt-signing" and got.algorithm == "ES256"
        assert got.created_at.tzinfo is not None
        assert tx.security.counter("keyring") == 5  # 3 adds, 1 activate, 1 retire; the miss does not bump
    with store.transaction() as tx:
        assert tx.security.delete_key("k2") is True
        assert tx.security.get_key("k2") is None


def test_keyring_refuses_unknown_purpose(store: SqlStore) -> None:
    with store.transaction() as tx, pytest.raises(ValueError, match="unknown key purpose"):
        tx.security.add_key("k1", "signing", "ES256", b"x", T0)  # type: ignore[arg-type]


def test_revocations_since_returns_only_newer_changes(store: SqlStore) -> None:
    with store.transaction() as tx:
        rows, cursor = tx.security.revocations_since(0)
        assert rows == [] and cursor == 0
        tx.security.revoke("role", "arn:aws:iam::123456789012:role/R", T0, T0)
        tx.security.revoke("subject", "idp.example/x:alice", T0, T0)
    with store.transaction() as tx:
        rows, cursor = tx.security.revocations_since(0)
        assert [(r.scope_kind, r.scope_value) for r in rows] == [
            ("role", "arn:aws:iam::123456789012:role/R"),
            ("subject", "idp.example/x:alice"),
        ]
        assert cursor == 2
        tx.security.revoke("session", "ASIAEXAMPLE", T0 + timedelta(seconds=5), T0)
    with store.transaction() as tx:
        rows, cursor2 = tx.security.revocations_since(cursor)
        assert [(r.scope_kind, r.scope_value, r.not_before) for r in rows] == [
            ("session", "ASIAEXAMPLE", T0 + timedelta(seconds=5))
        ]
        assert cursor2 == 3
        assert tx.security.revocations_since(cursor2) == ([], 3)


def test_revoke_same_scope_moves_epoch_forward_only(store: SqlStore) -> None:
    role = "arn:aws:iam::123456789012:role/R"
    with store.transaction() as tx:
        tx.security.revoke("role", role, T0 + timedelta(hours=1), T0)
        again = tx.security.revoke("role", role, T0, T0 + timedelta(hours=2))
        assert again.not_before == T0 + timedelta(hours=1)
    with store.transaction() as tx:
        later = tx.security.revoke("role", role, T0 + timedelta(hours=3), T0 + timedelta(hours=3))
        assert later.not_before == T0 + timedelta(hours=3)
        rows, _ = tx.security.revocations_since(0)
        assert len(rows) == 1 and rows[0].change == 3


def test_revoke_refuses_unknown_scope(store: SqlStore) -> None:
    with store.transaction() as tx, pytest.raises(ValueError, match="unknown revocation scope"):
        tx.security.revoke("user", "x", T0, T0)  # type: ignore[arg-type]


def test_purge_revocations(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.security.revoke("role", "old", T0, T0)
        tx.security.revoke("role", "new", T0 + timedelta(days=2), T0)
        assert tx.security.purge_revocations(T0 + timedelta(days=1)) == 1
        rows, _ = tx.security.revocations_since(0)
        assert [r.scope_value for r in rows] == ["new"]


def test_remember_once_refuses_replay(store: SqlStore) -> None:
    exp = T0 + timedelta(minutes=5)
    with store.transaction() as tx:
        assert tx.security.remember_once("saml", "_abc", exp, T0) is True
        assert tx.security.remember_once("saml", "_abc", exp, T0) is False
        assert tx.security.remember_once("jti", "_abc", exp, T0) is True  # namespaces are separate
    with store.transaction() as tx:
        assert tx.security.remember_once("saml", "_abc", exp, T0 + timedelta(minutes=4)) is False


def test_remember_once_accepts_again_after_expiry(store: SqlStore) -> None:
    exp = T0 + timedelta(minutes=5)
    with store.transaction() as tx:
        assert tx.security.remember_once("saml", "_abc", exp, T0) is True
    with store.transaction() as tx:
        # exactly at expiry the old entry is gone
        assert tx.security.remember_once("saml", "_abc", exp + timedelta(minutes=5), exp) is True


def test_remember_once_across_two_transactions_only_one_wins(store: SqlStore) -> None:
    exp = T0 + timedelta(minutes=5)
    with store.transaction() as tx:
        assert tx.security.remember_once("saml", "_race", exp, T0) is True
    with store.transaction() as tx2:
        assert tx2.security.remember_once("saml", "_race", exp, T0) is False


def test_remember_once_rolled_back_is_forgotten(store: SqlStore) -> None:
    exp = T0 + timedelta(minutes=5)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        assert tx.security.remember_once("saml", "_x", exp, T0) is True
        raise RuntimeError("abort")
    with store.transaction() as tx:
        assert tx.security.remember_once("saml", "_x", exp, T0) is True


SERIAL = "arn:aws:iam::123456789012:mfa/alice-phone"


def test_mfa_device_lifecycle(store: SqlStore) -> None:
    with store.transaction() as tx:
        dev = tx.security.create_mfa_device(SERIAL, b"sealed-seed", T0)
        assert dev.user_name is None and dev.enabled_at is None and dev.last_used_step is None
        assert "sealed-seed" not in repr(dev)
        assert [d.serial_number for d in tx.security.list_mfa_devices(assigned=False)] == [SERIAL]
    with store.transaction() as tx:
        assert tx.security.enable_mfa_device(SERIAL, "alice", T0, 100) is True
        assert tx.security.enable_mfa_device(SERIAL, "bob", T0, 100) is False  # already assigned
    with store.transaction() as tx:
        dev2 = tx.security.get_mfa_device(SERIAL)
        assert dev2 is not None and dev2.user_name == "alice" and dev2.last_used_step == 100
        assert [d.serial_number for d in tx.security.list_mfa_devices("alice")] == [SERIAL]
        assert tx.security.list_mfa_devices(assigned=False) == []
        assert [d.serial_number for d in tx.security.mfa_devices_of(["alice", "bob"])] == [SERIAL]
        assert tx.security.mfa_devices_of([]) == []
    with store.transaction() as tx:
        assert tx.security.deactivate_mfa_device(SERIAL) is True
        assert tx.security.deactivate_mfa_device(SERIAL) is False
        assert tx.security.delete_mfa_device(SERIAL) is True
        assert tx.security.get_mfa_device(SERIAL) is None


def test_mfa_code_step_is_used_once(store: SqlStore) -> None:
    with store.transaction() as tx:
        tx.security.create_mfa_device(SERIAL, b"s", T0)
        tx.security.enable_mfa_device(SERIAL, "alice", T0, 100)
    with store.transaction() as tx:
        assert tx.security.use_mfa_step(SERIAL, 100) is False  # the enabling codes cannot be reused
        assert tx.security.use_mfa_step(SERIAL, 101) is True
        assert tx.security.use_mfa_step(SERIAL, 101) is False
        assert tx.security.use_mfa_step(SERIAL, 99) is False
        assert tx.security.use_mfa_step("arn:aws:iam::123456789012:mfa/none", 5) is False
    with store.transaction() as tx:
        assert tx.security.resync_mfa_device(SERIAL, 50) is True
        assert tx.security.use_mfa_step(SERIAL, 51) is True


def test_remember_once_concurrent_transactions_exactly_one_wins(store: SqlStore) -> None:
    """Two open transactions (two nodes) remember the same id: the second waits, then sees the replay."""
    import threading

    exp = T0 + timedelta(minutes=5)
    results: dict[str, bool] = {}
    first_inserted = threading.Event()
    release_first = threading.Event()

    def first() -> None:
        with store.transaction() as tx:
            results["first"] = tx.security.remember_once("saml", "_concurrent", exp, T0)
            first_inserted.set()
            release_first.wait(timeout=30)

    def second() -> None:
        first_inserted.wait(timeout=30)
        with store.transaction() as tx:
            results["second"] = tx.security.remember_once("saml", "_concurrent", exp, T0)

    t1 = threading.Thread(target=first)
    t2 = threading.Thread(target=second)
    t1.start()
    t2.start()
    first_inserted.wait(timeout=30)
    t2.join(timeout=0.5)  # the second is blocked behind the first's uncommitted insert
    assert "second" not in results
    release_first.set()
    t1.join(timeout=30)
    t2.join(timeout=30)
    assert results == {"first": True, "second": False}
