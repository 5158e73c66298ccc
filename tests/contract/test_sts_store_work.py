"""Per-request store work of the role-assuming calls, on both stores: RoleLastUsed is written at most once a
minute per role and node, and web identity's provider/role/tag lookups are cached per node until the store's
``iam``/``providers`` change counters move (changes take effect at the next request on every node)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from broker.clock import FixedClock
from broker.credentials.envelope import Envelope
from broker.errors import AccessDenied, InvalidIdentityToken
from broker.service.dispatch import IAM_COUNTER
from broker.service.sts import sts_operations
from broker.service.web_identity import WebIdentityServices
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import SeededEntropy
from tests.contract.test_web_identity import ISSUER, PINNED, PROVIDER, ROLE, World, _trust


class Node:
    """A second broker node on the same store: its own caches and throttle."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.services = WebIdentityServices(keyring=world.keyring, keys=world.keys)
        self.ops = sts_operations(world.keyring, self.services)

    def assume(self, token: str, **params: Any) -> dict[str, Any]:
        merged = {"RoleArn": ROLE, "RoleSessionName": "ci", "WebIdentityToken": token, **params}
        return self.world.run(self.ops["AssumeRoleWithWebIdentity"], merged)


def _change(world: World, action: str, **params: Any) -> dict[str, Any]:
    """An IAM change as the dispatcher makes it: the op, then the ``iam`` counter bump (World.iam does both)."""
    before = _iam_counter(world)
    out = world.iam(action, **params)
    assert _iam_counter(world) == before + 1
    return out


def _iam_counter(world: World) -> int:
    with world.store.transaction() as tx:
        return int(tx.security.counter(IAM_COUNTER))


@pytest.fixture
def world(store: SqlStore, clock: FixedClock, envelope: Envelope, entropy: SeededEntropy) -> World:
    w = World(store, clock, envelope, entropy)
    _change(w, "CreateRole", RoleName="deploy", AssumeRolePolicyDocument=_trust(PINNED), MaxSessionDuration=7200)
    return w


def _last_used(world: World) -> Any:
    with world.store.transaction() as tx:
        role = tx.iam.get_role("deploy")
        assert role is not None
        return role.last_used_at, role.last_used_region


def test_role_last_used_is_written_once_a_minute(world: World) -> None:
    start = world.clock.now()
    world.assume(world.token())
    assert _last_used(world)[0] == start
    world.clock.advance(59)
    world.assume(world.token())
    assert _last_used(world)[0] == start
    world.clock.advance(1)
    world.assume(world.token())
    assert _last_used(world)[0] == start + timedelta(seconds=60)


def test_assume_role_shares_the_throttle(world: World) -> None:
    assert world.services.role_use.due("nope", world.clock.now())  # the instance AssumeRole is bound to
    world.assume(world.token())
    role_id = world.iam("GetRole", RoleName="deploy")["Role"]["RoleId"]
    assert world.services.role_use.due(role_id, world.clock.now()) is False


def test_repeated_calls_hit_the_cache(world: World) -> None:
    world.assume(world.token())
    loads = world.services.lookups.loads
    assert loads == 3  # provider, role, role tags
    world.assume(world.token())
    world.assume(world.token())
    assert world.services.lookups.loads == loads


def test_deleted_role_is_refused_at_once_on_every_node(world: World) -> None:
    other = Node(world)
    world.assume(world.token())
    other.assume(world.token())
    _change(world, "DeleteRole", RoleName="deploy")
    for node in (world, other):
        with pytest.raises(AccessDenied) as info:
            node.assume(world.token())
        assert info.value.code == "AccessDenied"
        assert "does not exist" in (info.value.detail or "")


def test_changed_trust_policy_takes_effect_at_once(world: World) -> None:
    other = Node(world)
    world.assume(world.token())
    other.assume(world.token())
    pinned_elsewhere = {"StringEquals": {f"{PINNED_PREFIX}:sub": "repo:someone/else:ref:refs/heads/main"}}
    _change(world, "UpdateAssumeRolePolicy", RoleName="deploy", PolicyDocument=_trust(pinned_elsewhere))
    for node in (world, other):
        with pytest.raises(AccessDenied) as info:
            node.assume(world.token())
        assert info.value.message.startswith("Not authorized to perform sts:AssumeRoleWithWebIdentity")


def test_role_tags_changes_take_effect_at_once(world: World) -> None:
    tagged = {"StringEquals": {"aws:ResourceTag/stage": "prod"}}
    _change(world, "UpdateAssumeRolePolicy", RoleName="deploy", PolicyDocument=_trust(tagged))
    with pytest.raises(AccessDenied):
        world.assume(world.token())
    _change(world, "TagRole", RoleName="deploy", Tags=[{"Key": "stage", "Value": "prod"}])
    world.assume(world.token())
    _change(world, "UntagRole", RoleName="deploy", TagKeys=["stage"])
    with pytest.raises(AccessDenied):
        world.assume(world.token())


def test_deleted_provider_is_refused_at_once_on_every_node(world: World) -> None:
    other = Node(world)
    world.assume(world.token())
    other.assume(world.token())
    with world.store.transaction() as tx:  # the provider repository bumps "providers" itself
        tx.providers.delete_oidc(PROVIDER)
    for node in (world, other):
        with pytest.raises(InvalidIdentityToken) as info:
            node.assume(world.token())
        assert info.value.message == f"No OpenIDConnect provider found in your account for {ISSUER}"


def test_changed_client_ids_take_effect_at_once(world: World) -> None:
    other = Node(world)
    other.assume(world.token())
    with world.store.transaction() as tx:
        tx.providers.update_oidc(PROVIDER, client_ids=["someone-else"])
    with pytest.raises(InvalidIdentityToken):
        other.assume(world.token())


PINNED_PREFIX = "token.actions.githubusercontent.com"
