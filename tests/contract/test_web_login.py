"""The login service on both stores: provider lookup, the role picker agreeing with the assume call, clamping."""

from __future__ import annotations

import pytest

from broker.clock import FixedClock
from broker.credentials.envelope import Envelope
from broker.errors import InvalidParameterValue
from broker.principal import CallContext
from broker.service.env import OpEnv
from broker.service.web_identity import verify_web_identity
from broker.service.web_login import admitted_roles, find_oidc_provider, login_session, session_name_for
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import ACCOUNT, SeededEntropy
from tests.contract.test_web_identity import ISSUER, PINNED, PROVIDER, ROLE, P, World, _trust

OTHER = f"arn:aws:iam::{ACCOUNT}:role/other"
TAGGED = f"arn:aws:iam::{ACCOUNT}:role/tagged"


@pytest.fixture
def world(store: SqlStore, clock: FixedClock, envelope: Envelope, entropy: SeededEntropy) -> World:
    w = World(store, clock, envelope, entropy)
    w.iam("CreateRole", RoleName="deploy", AssumeRolePolicyDocument=_trust(PINNED), MaxSessionDuration=7200)
    w.iam("CreateRole", RoleName="other", AssumeRolePolicyDocument=_trust(
        {"StringEquals": {f"{P}:sub": "repo:someone/else:ref:refs/heads/main"}}))
    w.iam("CreateRole", RoleName="tagged", AssumeRolePolicyDocument=_trust(PINNED, tag=True))
    return w


def env_of(world: World, tx: object) -> OpEnv:
    call = CallContext(request_id="r", now=world.clock.now())
    return OpEnv(tx, call, world.authorizer, world.arns, world.entropy, world.envelope)


def roles_for(world: World, token: str) -> list[str]:
    with world.store.transaction() as tx:
        env = env_of(world, tx)
        identity = verify_web_identity(env, world.services, token)
        return [r.role_arn for r in admitted_roles(env, identity, session_name_for(identity))]


def test_picker_lists_exactly_the_roles_whose_trust_admits_the_token(world: World) -> None:
    assert roles_for(world, world.token()) == [ROLE, TAGGED]
    tags = {"https://aws.amazon.com/tags": {"principal_tags": {"team": ["blue"]}}}
    assert roles_for(world, world.token(claims=tags)) == [TAGGED]  # deploy's trust lacks sts:TagSession
    assert roles_for(world, world.token(sub="repo:evil/x:ref:refs/heads/main")) == []


def test_every_listed_role_can_be_assumed_and_others_cannot(world: World) -> None:
    token = world.token()
    listed = roles_for(world, token)
    for role in (ROLE, OTHER, TAGGED):
        with world.store.transaction() as tx:
            try:
                login_session(env_of(world, tx), world.services, token=token, role_arn=role, session_name="s",
                              duration_seconds=None)
                ok = True
            except Exception:
                ok = False
        assert ok == (role in listed), role


def test_login_clamps_the_duration_and_says_why(world: World) -> None:
    with world.store.transaction() as tx:
        result = login_session(env_of(world, tx), world.services, token=world.token(), role_arn=ROLE,
                               session_name="s", duration_seconds=9000)
    assert result.duration_seconds == 7200
    assert result.duration_reason == "requested 9000 s exceeds the role's MaxSessionDuration; clamped to 7200 s"
    assert (result.minted.expiration - world.clock.now().replace(microsecond=0)).total_seconds() == 7200
    with world.store.transaction() as tx:
        within = login_session(env_of(world, tx), world.services, token=world.token(), role_arn=ROLE,
                               session_name="s", duration_seconds=7200)
    assert within.duration_seconds == 7200 and within.duration_reason is None


@pytest.mark.parametrize("ref", [PROVIDER, ISSUER, P, f" {P} "])
def test_provider_by_arn_issuer_or_name(world: World, ref: str) -> None:
    with world.store.transaction() as tx:
        assert find_oidc_provider(env_of(world, tx), ref).arn == PROVIDER


@pytest.mark.parametrize("ref", [ISSUER + "/", "token.actions.githubusercontent.com/x",
                                 PROVIDER.replace(ACCOUNT, "999999999999"), "arn:bad", "HTTPS://" + P])
def test_unknown_provider(world: World, ref: str) -> None:
    with world.store.transaction() as tx, pytest.raises(InvalidParameterValue) as info:
        find_oidc_provider(env_of(world, tx), ref)
    assert info.value.message == f"No OpenID Connect provider {ref.strip()} is registered in this account"


def test_session_names(world: World) -> None:
    def name(**claims: object) -> str:
        with world.store.transaction() as tx:
            return session_name_for(verify_web_identity(env_of(world, tx), world.services,
                                                        world.token(claims=claims)))

    assert name(email="a.b+c@example.com") == "a.b+c@example.com"
    assert name(preferred_username="ann smith") == "ann-smith"
    assert name() == "repo-octo-org-octo-repo-ref-refs-heads-main"
