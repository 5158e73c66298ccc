"""The web-identity keys AWS carries into later requests (IAM User Guide, "Available keys for AWS OIDC federation"):
``PREFIX:sub``, ``:aud``, ``:amr`` and ``aws:FederatedProvider`` are in the request context of calls made with a
web-identity session, so role and session policies can be conditioned on them; the other claims are not."""

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
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import SeededEntropy
from tests.contract.test_web_identity import PINNED, PROVIDER, ROLE, P, World, _trust

MAIN = "repo:octo-org/octo-repo:ref:refs/heads/main"
DEV = "repo:octo-org/octo-repo:ref:refs/heads/dev"


@pytest.fixture
def wi(store: SqlStore, clock: FixedClock, envelope: Envelope, entropy: SeededEntropy) -> World:
    w = World(store, clock, envelope, entropy)
    w.iam("CreateRole", RoleName="deploy", AssumeRolePolicyDocument=_trust(PINNED))
    return w


def _policy(action: str, condition: dict[str, Any] | None = None) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": "*"}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _session(wi: World, sub: str, **params: Any) -> Principal:
    out = wi.assume(wi.token(sub=sub, claims={"amr": ["pwd", "mfa"]}), **params)
    claims = wi.keyring.codec.open_at(out["Credentials"]["SessionToken"], wi.clock.now())
    return session_principal(claims, wi.arns)


def _call(wi: World, principal: Principal, action: str) -> None:
    call = CallContext(request_id="later", now=wi.clock.now(), principal=principal)
    wi.authorizer.authorize(call, action, ROLE)


def test_carried_keys_are_in_the_later_request_context(wi: World) -> None:
    principal = _session(wi, MAIN)
    assert dict(principal.federated_keys) == {f"{P}:sub": MAIN, f"{P}:aud": "sts.amazonaws.com",
                                              f"{P}:amr": ("pwd", "mfa")}
    ctx = request_context(CallContext(request_id="later", now=wi.clock.now(), principal=principal), principal, {})
    assert ctx[f"{P}:sub"] == MAIN
    assert ctx[f"{P}:aud"] == "sts.amazonaws.com"
    assert ctx[f"{P}:amr"] == ["pwd", "mfa"]
    assert ctx["aws:FederatedProvider"] == PROVIDER
    assert f"{P}:repository" not in ctx and f"{P}:ref" not in ctx  # trust-time only, as in AWS


def test_role_policy_conditioned_on_the_subject(wi: World) -> None:
    wi.iam("PutRolePolicy", RoleName="deploy", PolicyName="main-only", PolicyDocument=_policy(
        "iam:GetRole", {"StringEquals": {f"{P}:sub": MAIN, "aws:FederatedProvider": PROVIDER},
                        "ForAnyValue:StringEquals": {f"{P}:amr": "mfa"}}))
    _call(wi, _session(wi, MAIN), "iam:GetRole")
    with pytest.raises(AccessDenied) as info:
        _call(wi, _session(wi, DEV), "iam:GetRole")
    assert info.value.message == (f"User: arn:aws:sts::123456789012:assumed-role/deploy/ci is not authorized to "
                                  f"perform: iam:GetRole on resource: {ROLE} because no identity-based policy "
                                  "allows the iam:GetRole action")


def test_session_policy_conditioned_on_the_subject(wi: World) -> None:
    wi.iam("PutRolePolicy", RoleName="deploy", PolicyName="all", PolicyDocument=_policy("iam:*"))
    session_policy = _policy("iam:GetRole", {"StringLike": {f"{P}:sub": "*:ref:refs/heads/main"}})
    _call(wi, _session(wi, MAIN, Policy=session_policy), "iam:GetRole")
    with pytest.raises(AccessDenied) as info:
        _call(wi, _session(wi, DEV, Policy=session_policy), "iam:GetRole")
    assert info.value.message.endswith("because no session policy allows the iam:GetRole action")


def test_claims_not_carried_cannot_grant_later(wi: World) -> None:
    wi.iam("PutRolePolicy", RoleName="deploy", PolicyName="by-repo", PolicyDocument=_policy(
        "iam:GetRole", {"StringEquals": {f"{P}:repository": "octo-org/octo-repo"}}))
    with pytest.raises(AccessDenied):
        _call(wi, _session(wi, MAIN), "iam:GetRole")
