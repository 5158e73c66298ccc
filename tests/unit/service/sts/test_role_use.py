"""RoleUse: at most one RoleLastUsed write per role per node per interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from broker.service.sts.role_use import ROLE_USE_INTERVAL, RoleUse

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class FakeIam:
    def __init__(self) -> None:
        self.writes: list[tuple[str, datetime, str]] = []

    def record_role_use(self, name: str, when: datetime, region: str) -> None:
        self.writes.append((name, when, region))


class FakeTx:
    def __init__(self) -> None:
        self.iam = FakeIam()


def test_interval_is_sixty_seconds() -> None:
    assert ROLE_USE_INTERVAL == timedelta(seconds=60)


def test_second_use_within_the_interval_is_not_written() -> None:
    tx: Any = FakeTx()
    use = RoleUse()
    assert use.record(tx, "AROA1", "deploy", T0, "us-east-1") is True
    assert use.record(tx, "AROA1", "deploy", T0 + timedelta(seconds=59), "eu-west-1") is False
    assert tx.iam.writes == [("deploy", T0, "us-east-1")]


def test_use_after_the_interval_is_written_again() -> None:
    tx: Any = FakeTx()
    use = RoleUse()
    use.record(tx, "AROA1", "deploy", T0, "us-east-1")
    assert use.record(tx, "AROA1", "deploy", T0 + timedelta(seconds=60), "eu-west-1") is True
    assert tx.iam.writes[-1] == ("deploy", T0 + timedelta(seconds=60), "eu-west-1")


def test_roles_are_throttled_independently_by_id() -> None:
    tx: Any = FakeTx()
    use = RoleUse()
    use.record(tx, "AROA1", "deploy", T0, "us-east-1")
    assert use.record(tx, "AROA2", "audit", T0, "us-east-1") is True
    # a role deleted and created again under the same name has a new id: written at once
    assert use.record(tx, "AROA3", "deploy", T0 + timedelta(seconds=1), "us-east-1") is True
    assert [w[0] for w in tx.iam.writes] == ["deploy", "audit", "deploy"]


def test_clock_going_backwards_writes() -> None:
    tx: Any = FakeTx()
    use = RoleUse()
    use.record(tx, "AROA1", "deploy", T0, "us-east-1")
    assert use.record(tx, "AROA1", "deploy", T0 - timedelta(seconds=5), "us-east-1") is True
    assert len(tx.iam.writes) == 2


def test_separate_nodes_each_write() -> None:
    tx: Any = FakeTx()
    RoleUse().record(tx, "AROA1", "deploy", T0, "us-east-1")
    RoleUse().record(tx, "AROA1", "deploy", T0, "us-east-1")
    assert len(tx.iam.writes) == 2
