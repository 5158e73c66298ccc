"""The local PDP's refresher and construction from settings (SQLite store, same master key as broker)."""

from __future__ import annotations

import base64
from pathlib import Path

from pydantic import SecretStr

from broker.config import Settings
from broker.pdp import PolicyRefresher, open_local_pdp
from tests.unit.pdp.conftest import ACCOUNT, World

THING = "arn:aws:example:::thing/1"


def test_refresher_starts_a_generation_when_iam_moves_or_time_is_up(world: World) -> None:
    refresher = PolicyRefresher(world.store, world.keyring, world.authorizer, world.clock, poll_seconds=1,
                                policy_refresh_seconds=30)
    start = world.authorizer.generation
    assert refresher.tick() is False  # the first tick records the counter; the interval has not passed
    with world.store.transaction() as tx:
        tx.security.bump("iam")
    assert refresher.tick() is True
    assert refresher.tick() is False
    world.clock.advance(30)
    assert refresher.tick() is True
    assert world.authorizer.generation == start + 2


def test_refresher_follows_keyring_rotation(world: World) -> None:
    from broker.service.keyring import KeyringService

    other_node = KeyringService(world.store, world.envelope, world.clock, world.entropy)
    other_node.load()
    before = {k.key_id for k in world.keyring.keyring.keys}
    rotated = other_node.rotate("session-token")
    refresher = PolicyRefresher(world.store, world.keyring, world.authorizer, world.clock)
    refresher.tick()
    assert rotated.key_id in {k.key_id for k in world.keyring.keyring.keys} - before


def test_open_local_pdp_decides_from_the_store(world: World, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, account_id=ACCOUNT, master_key=SecretStr(base64.b64encode(bytes(range(32)))
                                                                                .decode()))
    local = open_local_pdp(settings, store=world.store, clock=world.clock, audiences=["https://svc.example"])
    creds = world.assume()
    result = local.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING)
    assert result.decision == "Allow"
    assert local.pdp.bearer is not None and local.pdp.bearer.issuer == "http://127.0.0.1:8000"
    with local:  # refreshers run and stop with the context
        assert local.refresher._thread is not None
    assert local.refresher._thread is None
