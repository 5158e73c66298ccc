"""Revocation on both engines: the AWSRevokeOlderSessions policy, store epochs, the in-memory set and its
propagation to a second node (a second store on the same database) through LISTEN/NOTIFY or polling."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from broker.clock import FixedClock
from broker.errors import AccessDenied, NoSuchEntity, ValidationError
from broker.policy import validate
from broker.principal import Principal
from broker.service import revocation as rv
from broker.service.iam import OPERATIONS as IAM
from broker.service.revocation_set import RevocationSet, subject_key
from broker.store.sqlalchemy.engine import make_engine
from broker.store.sqlalchemy.notify import listener_for
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import ACCOUNT, START, Caller, EnvFactory, count_rows

ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ops/deployer"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}],
    }
)


@pytest.fixture
def role(call: Caller) -> str:
    call(IAM["CreateRole"], RoleName="deployer", Path="/ops/", AssumeRolePolicyDocument=TRUST)
    return "deployer"


def _run(store: SqlStore, make_env: EnvFactory, fn: object, *args: str, principal: Principal | None = None) -> object:
    with store.transaction() as tx:
        env = make_env(tx) if principal is None else make_env(tx, principal)
        return fn(env, *args)  # type: ignore[operator]


def test_revoke_role_puts_the_console_policy_and_an_epoch(
    store: SqlStore, make_env: EnvFactory, call: Caller, role: str, clock: FixedClock
) -> None:
    record = _run(store, make_env, rv.revoke_role_sessions, role)
    assert (record.scope_kind, record.scope_value, record.not_before) == ("role", ROLE_ARN, START)  # type: ignore[attr-defined]
    got = call(IAM["GetRolePolicy"], RoleName=role, PolicyName="AWSRevokeOlderSessions")
    doc = json.loads(got["PolicyDocument"])
    assert doc == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": ["*"],
                "Resource": ["*"],
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2026-01-01T12:00:00.000Z"}},
            }
        ],
    }
    assert validate(got["PolicyDocument"], "identity") == []
    clock.advance(90.25)
    _run(store, make_env, rv.revoke_role_sessions, role)  # pressing it again refreshes the timestamp
    doc = json.loads(call(IAM["GetRolePolicy"], RoleName=role, PolicyName="AWSRevokeOlderSessions")["PolicyDocument"])
    assert doc["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"] == "2026-01-01T12:01:30.250Z"
    assert call(IAM["ListRolePolicies"], RoleName=role)["PolicyNames"] == ["AWSRevokeOlderSessions"]
    with store.transaction() as tx:
        (only,) = tx.security.list_revocations()
    assert only.not_before == START + timedelta(seconds=90.25)


def test_revoke_unknown_role_is_no_such_entity_and_writes_nothing(store: SqlStore, make_env: EnvFactory) -> None:
    with pytest.raises(NoSuchEntity) as err:
        _run(store, make_env, rv.revoke_role_sessions, "ghost")
    assert err.value.message == "The role with name ghost cannot be found."
    assert count_rows(store, "revocations") == 0


def test_revoke_needs_authorization(store: SqlStore, make_env: EnvFactory, role: str) -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:user/mallory"
    mallory = Principal(kind="user", arn=arn, account=ACCOUNT, user_id="AIDAMALLORY", name="mallory", identity_arn=arn)
    with pytest.raises(AccessDenied) as err:
        _run(store, make_env, rv.revoke_role_sessions, role, principal=mallory)
    assert f"iam:PutRolePolicy on resource: {ROLE_ARN}" in err.value.message
    for fn, args in ((rv.revoke_session, ("s-1",)), (rv.revoke_provider, ("accounts.google.com",))):
        with pytest.raises(AccessDenied):
            _run(store, make_env, fn, *args, principal=mallory)
    assert count_rows(store, "revocations") == 0
    assert count_rows(store, "iam_inline_policies") == 0


def test_revoke_unknown_provider_is_no_such_entity(store: SqlStore, make_env: EnvFactory) -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/idp.example/realms/x"
    with pytest.raises(NoSuchEntity) as err:
        _run(store, make_env, rv.revoke_provider, arn)
    assert err.value.message == f"Provider {arn} does not exist."
    with pytest.raises(NoSuchEntity):
        _run(store, make_env, rv.revoke_subject, f"arn:aws:iam::{ACCOUNT}:saml-provider/corp", "alice")
    with pytest.raises(ValidationError):
        _run(store, make_env, rv.revoke_session, "")
    assert count_rows(store, "revocations") == 0


def test_set_answers_every_scope(store: SqlStore, make_env: EnvFactory, role: str, clock: FixedClock) -> None:
    google = "accounts.google.com"
    _run(store, make_env, rv.revoke_role_sessions, role)
    _run(store, make_env, rv.revoke_session, "sess-1")
    _run(store, make_env, rv.revoke_subject, google, "user-7")
    _run(store, make_env, rv.revoke_provider, "cognito-identity.amazonaws.com")
    revoked = RevocationSet(store, clock=clock)
    assert revoked.refresh() == 4
    before, at, after = START - timedelta(microseconds=1), START, START + timedelta(seconds=1)
    assert revoked.is_revoked(ROLE_ARN, None, None, None, before)
    assert not revoked.is_revoked(ROLE_ARN, None, None, None, at)  # DateLessThan: issued at T is not void
    assert not revoked.is_revoked(ROLE_ARN.replace("deployer", "other"), None, None, None, before)
    assert revoked.is_revoked(None, "sess-1", None, None, before)
    assert not revoked.is_revoked(None, "sess-2", None, None, before)
    assert revoked.is_revoked(None, None, google, "user-7", before)
    assert not revoked.is_revoked(None, None, google, "user-8", before)
    assert not revoked.is_revoked(None, None, "other.idp", "user-7", before)
    assert revoked.is_revoked("arn:x", "s", "cognito-identity.amazonaws.com", "anyone", before)
    assert not revoked.is_revoked(ROLE_ARN, "sess-1", google, "user-7", after)
    assert revoked.refresh() == 0  # nothing new
    assert revoked.change == 4
    assert revoked.size == 4
    assert "user-7" not in repr(revoked)
    assert subject_key(google, "user-7") == "accounts.google.com user-7"


def test_set_takes_later_epochs_only(store: SqlStore, make_env: EnvFactory, clock: FixedClock) -> None:
    revoked = RevocationSet(store, clock=clock)
    _run(store, make_env, rv.revoke_session, "s")
    revoked.refresh()
    clock.advance(60)
    _run(store, make_env, rv.revoke_session, "s")
    assert revoked.refresh() == 1
    assert revoked.is_revoked(None, "s", None, None, START + timedelta(seconds=59))
    assert revoked.forget_older_than(START + timedelta(hours=36, seconds=59)) == 0
    assert revoked.forget_older_than(START + timedelta(hours=36, seconds=61)) == 1
    assert not revoked.is_revoked(None, "s", None, None, START)


@pytest.fixture
def second_store(store: SqlStore) -> Iterator[SqlStore]:
    """Another node: its own engine and pool on the same database (and schema)."""
    other = SqlStore(make_engine(store.engine.url.render_as_string(hide_password=False)))
    yield other
    other.dispose()


def test_revocation_reaches_another_node(
    store: SqlStore, second_store: SqlStore, make_env: EnvFactory, role: str
) -> None:
    """Node B learns of node A's revocation without being asked. On PostgreSQL the poll is set to 60 s, so
    only LISTEN/NOTIFY can make it within the deadline; on SQLite polling (0.05 s) does it."""
    listener = listener_for(second_store.engine, rv.REVOCATIONS_CHANNEL)
    poll = 60.0 if listener is not None else 0.05
    node_b = RevocationSet(second_store, listener=listener, poll_seconds=poll)
    node_b.start()
    try:
        assert node_b.healthy and node_b.size == 0
        time.sleep(0.2)  # let B's LISTEN start (the start-up refresh covers anything earlier)
        started = time.monotonic()
        _run(store, make_env, rv.revoke_role_sessions, role)
        deadline = started + 5
        while not node_b.is_revoked(ROLE_ARN, None, None, None, START - timedelta(seconds=1)):
            assert time.monotonic() < deadline, "node B did not see the revocation within 5 s"
            time.sleep(0.005)
        print(f"\npropagation ({store.engine.dialect.name}): {(time.monotonic() - started) * 1000:.1f} ms")
    finally:
        node_b.stop()
    assert node_b._thread is None


def test_set_survives_store_outage(store: SqlStore, make_env: EnvFactory) -> None:
    _run(store, make_env, rv.revoke_session, "s")
    revoked = RevocationSet(store)
    revoked.refresh()

    class Broken:
        def transaction(self) -> object:
            raise RuntimeError("store down")

    revoked.store = Broken()  # type: ignore[assignment]
    revoked._safe_refresh()
    assert not revoked.healthy
    assert revoked.is_revoked(None, "s", None, None, START - timedelta(seconds=1))


def test_epochs_older_than_any_session_are_purged_by_the_next_revocation(
    store: SqlStore, make_env: EnvFactory, clock: FixedClock
) -> None:
    _run(store, make_env, rv.revoke_session, "old")
    clock.advance(36 * 3600)  # exactly the longest session: "old" could still void a session issued at START
    _run(store, make_env, rv.revoke_session, "mid")
    assert count_rows(store, "revocations") == 2
    clock.advance(1)  # now nothing issued before "old"'s epoch can still be alive
    _run(store, make_env, rv.revoke_session, "new")
    with store.transaction() as tx:
        kept = sorted(r.scope_value for r in tx.security.list_revocations())
    assert kept == ["mid", "new"]
