"""AssumeRoleWithWebIdentity on the event loop from node caches (``service/fast_path.py``), its audit event
group-committed (``service/audit_writer.py``), on both stores: the cache-only path answers and audits exactly
as the general path does, touches no store inside the operation, falls back on every miss, defers RoleLastUsed
into the batch, and fails closed when its event cannot be stored."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from broker.clock import FixedClock
from broker.credentials.envelope import Envelope
from broker.errors import AccessDenied, InternalFailure
from broker.principal import CallContext, Principal
from broker.service.audit import HIDDEN, build_event
from broker.service.audit_writer import AuditWriter
from broker.service.dispatch import Dispatcher
from broker.service.lookup_cache import ChangeGatedCache
from broker.service.operations import all_operations
from broker.service.web_identity import RecentKeys, WebIdentityServices
from broker.store.sqlalchemy.repositories.audit import AuditRepository
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import ACCOUNT, SeededEntropy
from tests.contract.test_web_identity import PINNED, ROLE, World, _trust

ACTION = "AssumeRoleWithWebIdentity"


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Node:
    """One broker node over the shared store: its own caches, writer and dispatcher, wired as create_app does."""

    def __init__(self, world: World, monotonic: Monotonic) -> None:
        self.world = world
        self.services = WebIdentityServices(
            keyring=world.keyring, keys=world.keys,
            lookups=ChangeGatedCache(max_staleness=1.0, monotonic=monotonic),
            recent_keys=RecentKeys(max_age=1.0, monotonic=monotonic),
        )
        self.events: list[Mapping[str, Any]] = []
        self.writer = AuditWriter(world.store)
        self.dispatcher = Dispatcher(
            store=world.store, operations=all_operations(keyring=world.keyring, web_identity=self.services),
            authorizer=world.authorizer, arns=world.arns, entropy=world.entropy, envelope=world.envelope,
            audit=build_event, sinks=(self.events.append,), on_iam_change=(self.services.lookups.expire,),
            writer=self.writer,
        )
        self.requests = 0

    def call(self, token: str, **params: Any) -> dict[str, Any]:
        self.requests += 1
        merged = {"RoleArn": ROLE, "RoleSessionName": "ci", "WebIdentityToken": token, **params}
        call = CallContext(request_id=f"req-{id(self)}-{self.requests}", now=self.world.clock.now())
        return dict(asyncio.run(self.dispatcher.run_async(call, "sts", ACTION, merged)))

    def general(self, token: str) -> dict[str, Any]:
        self.requests += 1
        merged = {"RoleArn": ROLE, "RoleSessionName": "ci", "WebIdentityToken": token}
        call = CallContext(request_id=f"req-{id(self)}-{self.requests}", now=self.world.clock.now())
        return dict(self.dispatcher.run(call, "sts", ACTION, merged))

    def iam(self, action: str, **params: Any) -> Any:
        root = Principal(kind="root", arn=self.world.arns.root(), account=ACCOUNT, user_id=ACCOUNT, name="root",
                         identity_arn=self.world.arns.root())
        call = CallContext(request_id=f"iam-{id(self)}-{self.requests}", now=self.world.clock.now(), principal=root)
        self.requests += 1
        return asyncio.run(self.dispatcher.run_async(call, "iam", action, params))


@pytest.fixture
def world(store: SqlStore, clock: FixedClock, envelope: Envelope, entropy: SeededEntropy) -> World:
    w = World(store, clock, envelope, entropy)
    w.iam("CreateRole", RoleName="deploy", AssumeRolePolicyDocument=_trust(PINNED), MaxSessionDuration=7200)
    return w


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()


@pytest.fixture
def node(world: World, monotonic: Monotonic) -> Node:
    return Node(world, monotonic)


def _stored(world: World, request_id: str) -> dict[str, Any]:
    with world.store.transaction() as tx:
        (event,) = tx.audit.list(request_id=request_id)
        return event


def _comparable(out: Mapping[str, Any]) -> dict[str, Any]:
    creds = dict(out["Credentials"])
    assert creds.pop("AccessKeyId").startswith("ASIA")
    assert creds.pop("SecretAccessKey") and creds.pop("SessionToken")
    return {**out, "Credentials": creds}


def _event_shape(event: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in event.items() if k not in ("requestID", "eventID")}
    creds = dict(out["responseElements"]["Credentials"])
    assert creds["SecretAccessKey"] == HIDDEN and creds["SessionToken"] == HIDDEN
    creds.pop("AccessKeyId")
    out["responseElements"] = {**out["responseElements"], "Credentials": creds}
    return out


def test_first_call_falls_back_then_the_loop_answers(node: Node, world: World) -> None:
    node.call(world.token())
    assert node.dispatcher.fallbacks == 1  # cold caches: the general path filled them
    for _ in range(3):
        node.call(world.token())
    assert node.dispatcher.fallbacks == 1
    assert node.writer.events == 3  # the three loop answers' events went through the writer


def test_cache_only_path_equals_the_general_path(node: Node, world: World) -> None:
    token = world.token()
    general = node.general(token)
    fast = node.call(token)
    assert node.dispatcher.fallbacks == 0  # the general call warmed every cache
    assert _comparable(fast) == _comparable(general)
    events = [_stored(world, f"req-{id(node)}-{n}") for n in (1, 2)]
    assert _event_shape(events[0]) == _event_shape(events[1])
    assert [e["requestID"] for e in node.events] == [e["requestID"] for e in events]  # sinks saw both


def test_the_operation_touches_no_store_on_the_loop(node: Node, world: World, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
    node.call(world.token())
    opened: list[int] = []
    appended: list[int] = []
    real, real_append = world.store.transaction, world.store.append_audit
    def transaction() -> Any:
        opened.append(1)
        return real()

    def append_audit(events: Any) -> Any:
        appended.append(1)
        return real_append(events)

    monkeypatch.setattr(world.store, "transaction", transaction)
    monkeypatch.setattr(world.store, "append_audit", append_audit)
    for _ in range(5):
        node.call(world.token())
    assert node.dispatcher.fallbacks == 1
    assert opened == []  # no session, no transaction: the operation read nothing from the store
    assert len(appended) == node.writer.batches == 5  # only the writer's batches (sequential calls)


def test_refusal_on_the_loop_is_audited_through_the_writer(node: Node, world: World) -> None:
    node.call(world.token())
    with pytest.raises(AccessDenied):
        node.call(world.token(sub="repo:someone/else:ref:refs/heads/main"))
    assert node.dispatcher.fallbacks == 1
    event = _stored(world, f"req-{id(node)}-2")
    assert event["errorCode"] == "AccessDenied" and event["responseElements"] is None
    assert node.events[-1]["errorCode"] == "AccessDenied"


def test_role_last_used_is_written_with_the_batch(node: Node, world: World) -> None:
    node.call(world.token())  # general path (cold): writes RoleLastUsed in its transaction
    world.clock.advance(120)
    node.call(world.token())  # loop path: the write is deferred into the writer's batch
    assert node.dispatcher.fallbacks == 1
    with world.store.transaction() as tx:
        role = tx.iam.get_role("deploy")
        assert role is not None and role.last_used_at == world.clock.now()


def test_failed_audit_write_fails_the_request(node: Node, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    node.call(world.token())

    def broken(self: Any, events: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(AuditRepository, "record_many", broken)
    monkeypatch.setattr(SqlStore, "append_audit", broken)
    with pytest.raises(InternalFailure) as info:
        node.call(world.token())
    assert "audit write failed" in (info.value.detail or "")
    assert len(node.events) == 1  # the sinks never saw an event that was not stored


def test_unknown_kid_takes_the_general_path(node: Node, world: World) -> None:
    node.call(world.token())
    world.idp.rotate()
    node.call(world.token())  # a new kid: the loop may not fetch keys
    assert node.dispatcher.fallbacks == 2
    node.call(world.token())
    assert node.dispatcher.fallbacks == 2


def test_keys_and_counters_are_read_again_after_a_second(node: Node, world: World, monotonic: Monotonic) -> None:
    node.call(world.token())
    monotonic.now += 0.499
    node.call(world.token())  # younger than half the bound: nothing read ahead
    assert node.dispatcher.fallbacks == 1 and node.dispatcher.refreshes == 0
    monotonic.now += 0.501  # a second after they were read, and no request asked for them earlier
    node.call(world.token())
    assert node.dispatcher.fallbacks == 2  # counters and keys re-read on the general path
    assert node.services.lookups.counter_reads == 2


def test_keys_and_counters_are_read_ahead_once_half_their_age(node: Node, world: World, monotonic: Monotonic
                                                            ) -> None:
    node.call(world.token())  # the general path reads them at t
    monotonic.now += 0.5
    node.call(world.token())  # answered from the caches, then both read again off the loop
    assert node.dispatcher.refreshes == 1 and node.services.lookups.counter_reads == 2
    monotonic.now += 0.9  # 1.4 s after the first read, 0.9 s after the second
    node.call(world.token())
    assert node.dispatcher.fallbacks == 1  # only the first call took the general path
    monotonic.now += 1.0  # nobody asked for them in the last second: the bound holds
    node.call(world.token())
    assert node.dispatcher.fallbacks == 2


def test_a_failed_read_ahead_leaves_the_caches_to_expire(node: Node, world: World, monotonic: Monotonic,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    node.call(world.token())
    monotonic.now += 0.6
    real = world.store.transaction

    def down() -> Any:
        raise RuntimeError("store down")

    monkeypatch.setattr(world.store, "transaction", down)
    monkeypatch.setattr(world.store, "append_audit", lambda events: None)  # the batch itself still succeeds
    out = node.call(world.token())  # answered: the read ahead fails after the answer, on its own
    assert out["Credentials"]["AccessKeyId"].startswith("ASIA")
    assert node.dispatcher.refreshes == 0 and node.services.lookups.counter_reads == 1
    monkeypatch.setattr(world.store, "transaction", real)
    monotonic.now += 0.4  # a second after the only read
    node.call(world.token())
    assert node.dispatcher.fallbacks == 2


def test_own_change_takes_effect_at_once_other_node_within_the_bound(
    node: Node, world: World, monotonic: Monotonic
) -> None:
    other = Node(world, monotonic)
    node.call(world.token())
    other.call(world.token())
    node.iam("DeleteRole", RoleName="deploy")  # through this node's dispatcher: its caches expire at once
    with pytest.raises(AccessDenied):
        node.call(world.token())
    other.call(world.token())  # the other node may still answer for up to a second ...
    monotonic.now += 1.0
    with pytest.raises(AccessDenied) as info:  # ... and no longer
        other.call(world.token())
    assert "does not exist" in (info.value.detail or "")


def test_writer_batches_and_isolates_a_bad_event(world: World) -> None:
    import threading

    writer = AuditWriter(world.store)
    gate, started = threading.Event(), threading.Event()

    def hold(tx: object) -> None:  # the first batch is being written: everything below queues behind it
        started.set()
        gate.wait(10)

    call = CallContext(request_id="w-0", now=world.clock.now())
    first = writer.submit(build_event(call, "sts", ACTION, {}, {}, None), [hold])
    assert started.wait(10)  # without this the writer thread may wake late and take the first with the rest
    events = [build_event(CallContext(request_id=f"w-{n}", now=world.clock.now()), "sts", ACTION, {}, {}, None)
              for n in range(1, 21)]
    futures = [writer.submit(e) for e in events]
    duplicate = writer.submit(events[3])  # same eventID as one in the same batch: refused by the store
    gate.set()
    first.result(10)
    for future in futures:
        assert future.result(10) is None
    with pytest.raises(Exception):  # noqa: B017 (the store's IntegrityError, whatever the driver)
        duplicate.result(10)
    assert writer.batches == 1 + 20  # the first alone; the failed batch retried one event at a time
    writer.close()
    with world.store.transaction() as tx:
        assert len(tx.audit.list(event_name=ACTION)) == 21
    again = build_event(CallContext(request_id="w-again", now=world.clock.now()), "sts", ACTION, {}, {}, None)
    assert writer.submit(again).result(10) is None  # a closed writer starts again (an app started twice)
    writer.close()


def test_close_stores_what_is_queued(world: World) -> None:
    writer = AuditWriter(world.store)
    futures = [writer.submit(build_event(CallContext(request_id=f"c-{n}", now=world.clock.now()), "sts", ACTION,
                                         {}, {}, None)) for n in range(30)]
    writer.close()
    assert all(f.done() and f.exception() is None for f in futures)
    assert writer.events == 30


def test_writes_of_one_loop_iteration_share_a_batch_and_keep_their_own_outcome(world: World) -> None:
    writer = AuditWriter(world.store)
    events = [build_event(CallContext(request_id=f"t-{n}", now=world.clock.now()), "sts", ACTION, {}, {}, None)
              for n in range(10)]

    async def main() -> list[Any]:
        return await asyncio.gather(*(writer.write(e) for e in events), return_exceptions=True)

    assert asyncio.run(main()) == [None] * 10
    assert writer.batches == 1
    again = [events[0], build_event(CallContext(request_id="t-new", now=world.clock.now()), "sts", ACTION, {}, {},
                                    None)]

    async def duplicate() -> list[Any]:
        return await asyncio.gather(*(writer.write(e) for e in again), return_exceptions=True)

    first, second = asyncio.run(duplicate())
    assert isinstance(first, Exception) and second is None  # the stored duplicate fails alone
    writer.close()
    with world.store.transaction() as tx:
        assert len(tx.audit.list(event_name=ACTION)) == 11


def test_core_batch_stores_the_same_row_as_the_repository(world: World) -> None:
    from sqlalchemy import select

    from broker.store.sqlalchemy.models.audit import AuditEventRow

    principal = Principal(kind="root", arn=world.arns.root(), account=ACCOUNT, user_id=ACCOUNT, name="root",
                          identity_arn=world.arns.root())
    a = build_event(CallContext(request_id="core-a", now=world.clock.now(), principal=principal), "sts", ACTION,
                    {"RoleArn": ROLE}, {"Provider": "x"}, None)
    b = build_event(CallContext(request_id="core-b", now=world.clock.now(), principal=principal), "sts", ACTION,
                    {"RoleArn": ROLE}, {"Provider": "x"}, None)
    world.store.append_audit([a])  # the writer's path for a batch of events alone
    with world.store.transaction() as tx:
        tx.audit.record(b)
    with world.store.transaction() as tx:
        rows = {r.request_id: r for r in tx.session.scalars(select(AuditEventRow))}

    def columns(row: Any) -> tuple[Any, ...]:
        event = dict(row.event)
        event.pop("requestID"), event.pop("eventID")
        return (row.event_time, row.event_source, row.event_name, row.principal_arn, row.error_code, event)

    assert columns(rows["core-a"]) == columns(rows["core-b"])
    assert rows["core-a"].event_id == a["eventID"]


def test_a_request_that_saw_the_ages_before_a_read_ahead_does_not_repeat_it(
    node: Node, world: World, monotonic: Monotonic, monkeypatch: pytest.MonkeyPatch
) -> None:
    node.call(world.token())
    monotonic.now += 0.6  # both requests below find the caches half their age before either answers
    real_write = node.writer.write
    writes = 0

    async def write(event: Mapping[str, Any], deferred: Any = ()) -> None:
        nonlocal writes
        writes += 1
        if writes == 2:  # the second answer comes after the first one's read-ahead has finished
            while node.dispatcher._refresh_future is None or not node.dispatcher._refresh_future.done():
                await asyncio.sleep(0.001)
        await real_write(event, deferred)

    monkeypatch.setattr(node.writer, "write", write)
    params = {"RoleArn": ROLE, "RoleSessionName": "ci", "WebIdentityToken": world.token()}

    async def both() -> None:
        await asyncio.gather(*(node.dispatcher.run_async(
            CallContext(request_id=f"both-{n}", now=world.clock.now()), "sts", ACTION, params) for n in range(2)))

    asyncio.run(both())
    assert writes == 2 and node.dispatcher.fallbacks == 1
    assert node.dispatcher.refreshes == 1 and node.services.lookups.counter_reads == 2  # read ahead once
    monotonic.now += 0.6  # half their age again: the next request asks once more
    node.call(world.token())
    assert node.dispatcher.refreshes == 2 and node.dispatcher.fallbacks == 1
