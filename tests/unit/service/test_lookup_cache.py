"""ChangeGatedCache: values live only while the change counters they were read under stand still."""

from __future__ import annotations

from typing import Any

from broker.service.lookup_cache import ChangeGatedCache


class FakeSecurity:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.reads = 0

    def counters(self) -> dict[str, int]:
        self.reads += 1
        return dict(self.values)


class FakeTx:
    def __init__(self, security: FakeSecurity) -> None:
        self.security = security


def _tx(**values: int) -> Any:
    security = FakeSecurity()
    security.values.update(values)
    return FakeTx(security)


def test_hit_while_counters_stand_still() -> None:
    cache = ChangeGatedCache()
    assert cache.view(_tx(iam=1, providers=2)).get("k", lambda: "v1") == "v1"
    assert cache.view(_tx(iam=1, providers=2)).get("k", lambda: "v2") == "v1"
    assert cache.loads == 1


def test_any_counter_moving_drops_everything() -> None:
    cache = ChangeGatedCache()
    cache.view(_tx(iam=1, providers=2)).get("k", lambda: "v1")
    assert cache.view(_tx(iam=1, providers=3)).get("k", lambda: "v2") == "v2"
    assert cache.view(_tx(iam=2, providers=3)).get("k", lambda: "v3") == "v3"
    assert cache.view(_tx(iam=2, providers=3)).get("k", lambda: "v4") == "v3"


def test_other_topics_do_not_matter() -> None:
    cache = ChangeGatedCache()
    cache.view(_tx(iam=1, revocations=1)).get("k", lambda: "v1")
    assert cache.view(_tx(iam=1, revocations=9)).get("k", lambda: "v2") == "v1"


def test_absent_values_are_not_cached() -> None:
    cache = ChangeGatedCache()
    view = cache.view(_tx())
    assert view.get("k", lambda: None) is None
    assert view.get("k", lambda: "found") == "found"
    assert cache.loads == 2


def test_an_older_snapshot_neither_reads_nor_fills_the_cache() -> None:
    cache = ChangeGatedCache()
    cache.view(_tx(iam=5)).get("k", lambda: "new")
    old = cache.view(_tx(iam=4))
    assert old.usable is False
    assert old.get("k", lambda: "old") == "old"
    assert old.get("j", lambda: "old-j") == "old-j"
    current = cache.view(_tx(iam=5))
    assert current.get("k", lambda: "x") == "new"
    assert current.get("j", lambda: "fresh-j") == "fresh-j"


def test_a_view_filed_under_a_superseded_stamp_does_not_fill() -> None:
    cache = ChangeGatedCache()
    first = cache.view(_tx(iam=1))
    cache.view(_tx(iam=2))  # another transaction saw a change meanwhile
    assert first.get("k", lambda: "stale") == "stale"
    assert cache.view(_tx(iam=2)).get("k", lambda: "fresh") == "fresh"


def test_counters_are_read_once_per_view() -> None:
    cache = ChangeGatedCache()
    tx = _tx(iam=1)
    view = cache.view(tx)
    view.get("a", lambda: 1)
    view.get("b", lambda: 2)
    assert tx.security.reads == 1


def test_bounded() -> None:
    cache = ChangeGatedCache(max_entries=2)
    view = cache.view(_tx())
    for key in ("a", "b", "c"):
        view.get(key, lambda: 1)
    assert cache.loads == 3
    assert view.get("c", lambda: 2) == 1  # the newest survived the reset
    assert view.get("a", lambda: 2) == 2


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_counters_are_reused_for_max_staleness_then_read_again() -> None:
    clock = FakeMonotonic()
    cache = ChangeGatedCache(max_staleness=1.0, monotonic=clock)
    first = _tx(iam=1, providers=1)
    assert cache.view(first).get("k", lambda: "v1") == "v1"
    moved = _tx(iam=2, providers=1)  # another node changed something
    clock.now += 0.999
    assert cache.view(moved).get("k", lambda: "v2") == "v1"  # within the bound: not read
    assert moved.security.reads == 0
    clock.now += 0.001
    assert cache.view(moved).get("k", lambda: "v2") == "v2"  # the bound reached: read, moved, reloaded
    assert moved.security.reads == 1
    assert cache.counter_reads == 2


def test_fresh_view_needs_a_recent_read() -> None:
    clock = FakeMonotonic()
    cache = ChangeGatedCache(max_staleness=1.0, monotonic=clock)
    assert cache.fresh_view() is None  # never read
    cache.view(_tx(iam=1))
    view = cache.fresh_view()
    assert view is not None and view.stamp == (1, 0)
    clock.now -= 5  # a clock that went backwards is not trusted
    assert cache.fresh_view() is None
    assert ChangeGatedCache().fresh_view() is None  # max_staleness 0: always read


def test_expire_forces_the_next_read() -> None:
    clock = FakeMonotonic()
    cache = ChangeGatedCache(max_staleness=1.0, monotonic=clock)
    cache.view(_tx(iam=1)).get("k", lambda: "v1")
    cache.expire()  # a change committed through this node
    assert cache.fresh_view() is None
    assert cache.view(_tx(iam=2)).get("k", lambda: "v2") == "v2"


def test_a_read_overtaken_by_expire_is_not_fresh() -> None:
    clock = FakeMonotonic()
    cache = ChangeGatedCache(max_staleness=1.0, monotonic=clock)

    class Racing(FakeSecurity):
        def counters(self) -> dict[str, int]:
            out = super().counters()
            cache.expire()  # a local change commits while this (older) read is in flight
            return out

    security = Racing()
    security.values["iam"] = 1
    tx = FakeTx(security)
    cache.view(tx)
    assert cache.fresh_view() is None
