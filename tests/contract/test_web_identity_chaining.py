"""Role chaining from a web-identity session, on both stores: the second role's trust policy sees the carried
web-identity keys (``PREFIX:sub``, ``:aud``, ``:amr``) and ``aws:FederatedProvider``; the chained session carries
them into its later requests and into a further chain; trust-time-only claims stay behind."""

from __future__ import annotations

import json
from typing import Any

import pytest

from broker.clock import FixedClock
from broker.credentials.envelope import Envelope
from broker.errors import AccessDenied
from broker.principal import CallContext, Principal
from broker.service.authn import session_principal
from broker.service.authorize import request_context
from broker.service.env import OpEnv
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import ACCOUNT, SeededEntropy
from tests.contract.test_web_identity import PINNED, PROVIDER, ROLE, P, World, _trust

MAIN = "repo:octo-org/octo-repo:ref:refs/heads/main"
DEV = "repo:octo-org/octo-repo:ref:refs/heads/dev"
PROD = f"arn:aws:iam::{ACCOUNT}:role/prod"
AUDIT = f"arn:aws:iam::{ACCOUNT}:role/audit"


def _doc(statement: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _chain_trust(from_role: str, condition: dict[str, Any]) -> str:
    return _doc({"Effect": "Allow", "Principal": {"AWS": from_role}, "Action": "sts:AssumeRole",
                 "Condition": condition})


@pytest.fixture
def wi(store: SqlStore, clock: FixedClock, envelope: Envelope, entropy: SeededEntropy) -> World:
    w = World(store, clock, envelope, entropy)
    w.iam("CreateRole", RoleName="deploy", AssumeRolePolicyDocument=_trust(PINNED))
    w.iam("PutRolePolicy", RoleName="deploy", PolicyName="chain",
          PolicyDocument=_doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}))
    w.iam("CreateRole", RoleName="prod", AssumeRolePolicyDocument=_chain_trust(ROLE, {
        "StringEquals": {f"{P}:sub": MAIN, f"{P}:aud": "sts.amazonaws.com", "aws:FederatedProvider": PROVIDER},
        "ForAnyValue:StringEquals": {f"{P}:amr": "mfa"}}))
    w.iam("PutRolePolicy", RoleName="prod", PolicyName="main-only", PolicyDocument=_doc({
        "Effect": "Allow", "Action": ["iam:GetRole", "sts:AssumeRole"], "Resource": "*",
        "Condition": {"StringEquals": {f"{P}:sub": MAIN, "aws:FederatedProvider": PROVIDER}}}))
    return w


def _web_session(wi: World, sub: str) -> Principal:
    out = wi.assume(wi.token(sub=sub, claims={"amr": ["pwd", "mfa"]}))
    return session_principal(wi.keyring.codec.open_at(out["Credentials"]["SessionToken"], wi.clock.now()), wi.arns)


def _chain(wi: World, caller: Principal, role_arn: str, name: str = "chained") -> Principal:
    params = {"RoleArn": role_arn, "RoleSessionName": name}
    with wi.store.transaction() as tx:
        call = CallContext(request_id="chain", now=wi.clock.now(), principal=caller)
        out = wi.ops["AssumeRole"](OpEnv(tx, call, wi.authorizer, wi.arns, wi.entropy, wi.envelope), params)
    return session_principal(wi.keyring.codec.open_at(out["Credentials"]["SessionToken"], wi.clock.now()), wi.arns)


def _call(wi: World, principal: Principal, action: str, resource: str) -> None:
    wi.authorizer.authorize(CallContext(request_id="later", now=wi.clock.now(), principal=principal), action, resource)


def test_second_trust_policy_sees_the_carried_keys(wi: World) -> None:
    chained = _chain(wi, _web_session(wi, MAIN), PROD)
    assert chained.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/prod/chained"
    assert chained.chain_depth == 2


def test_second_trust_policy_refuses_another_subject(wi: World) -> None:
    with pytest.raises(AccessDenied) as info:
        _chain(wi, _web_session(wi, DEV), PROD)
    assert info.value.message.startswith(
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/deploy/ci is not authorized to perform: sts:AssumeRole")


def test_chained_session_carries_the_keys_into_later_requests(wi: World) -> None:
    chained = _chain(wi, _web_session(wi, MAIN), PROD)
    assert dict(chained.federated_keys) == {f"{P}:sub": MAIN, f"{P}:aud": "sts.amazonaws.com",
                                            f"{P}:amr": ("pwd", "mfa")}
    assert chained.federated_provider == PROVIDER
    assert chained.federated_subject == MAIN
    ctx = request_context(CallContext(request_id="later", now=wi.clock.now(), principal=chained), chained, {})
    assert ctx[f"{P}:sub"] == MAIN and ctx["aws:FederatedProvider"] == PROVIDER
    assert ctx[f"{P}:amr"] == ["pwd", "mfa"]
    assert f"{P}:repository" not in ctx  # trust-time only on the first hop, so not carried either
    _call(wi, chained, "iam:GetRole", PROD)  # the role policy's condition on HOST:sub holds


def test_keys_survive_a_second_chain(wi: World) -> None:
    wi.iam("CreateRole", RoleName="audit", AssumeRolePolicyDocument=_chain_trust(PROD, {
        "StringEquals": {f"{P}:sub": MAIN, "aws:FederatedProvider": PROVIDER}}))
    third = _chain(wi, _chain(wi, _web_session(wi, MAIN), PROD), AUDIT, "third")
    assert third.chain_depth == 3
    assert dict(third.federated_keys)[f"{P}:sub"] == MAIN
    assert third.federated_provider == PROVIDER


def test_a_chain_from_a_user_carries_no_web_identity_keys(wi: World) -> None:
    wi.iam("CreateUser", UserName="alice")
    wi.iam("PutUserPolicy", UserName="alice", PolicyName="chain",
           PolicyDocument=_doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}))
    wi.iam("CreateRole", RoleName="plain", AssumeRolePolicyDocument=_doc({
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}))
    alice = Principal(kind="user", arn=f"arn:aws:iam::{ACCOUNT}:user/alice", account=ACCOUNT,
                      user_id="AIDAALICE", name="alice", identity_arn=f"arn:aws:iam::{ACCOUNT}:user/alice")
    session = _chain(wi, alice, f"arn:aws:iam::{ACCOUNT}:role/plain", "alice")
    assert dict(session.federated_keys) == {} and session.federated_provider is None
    with pytest.raises(AccessDenied):  # a web-identity-conditioned trust never admits it
        _chain(wi, session, PROD)
