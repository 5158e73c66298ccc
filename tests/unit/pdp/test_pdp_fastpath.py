"""The hot path gives exactly what the general path gives: same principal, same request context."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from broker import policy
from broker.principal import CallContext, Principal
from broker.service.authorize import PolicyAuthorizer
from tests.unit.pdp.conftest import World, doc

THING = "arn:aws:example:::thing/1"


def _contexts(world: World, principal: Principal, call: CallContext, extra: dict[str, Any] | None,
              monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    seen: list[policy.Request] = []
    real = policy.evaluate

    def spy(request: policy.Request, pset: policy.PolicySet) -> policy.Decision:
        seen.append(request)
        return real(request, pset)

    monkeypatch.setattr(policy, "evaluate", spy)
    PolicyAuthorizer.decide(world.authorizer, call, principal, "example:GetThing", THING, extra)
    world.authorizer.decide(call, principal, "example:GetThing", THING, extra)
    assert len(seen) == 2
    return seen[0].ctx, seen[1].ctx


@pytest.mark.parametrize("extra", [None, {"example:color": "blue", "AWS:SourceIp": "192.0.2.1"}])
def test_prepared_context_equals_request_context(world: World, monkeypatch: pytest.MonkeyPatch,
                                                 extra: dict[str, Any] | None) -> None:
    world.run("TagRole", RoleName="app", Tags=[{"Key": "team", "Value": "red"}, {"Key": "env", "Value": "prod"}])
    creds = world.assume(Tags=[{"Key": "team", "Value": "blue"}], SourceIdentity="alice")
    principal = world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING).principal
    assert principal is not None
    calls = [
        CallContext(request_id="r", now=world.clock.now(), principal=principal),
        CallContext(request_id="r", now=world.clock.now() + timedelta(seconds=7), principal=principal,
                    source_ip="10.9.8.7", user_agent="ua/1", secure_transport=True, region="eu-west-1"),
    ]
    for call in calls:
        general, fast = _contexts(world, principal, call, extra, monkeypatch)
        assert fast == general
        monkeypatch.undo()
    assert general["aws:principaltag/team"] == "blue"
    assert general["aws:principaltag/env"] == "prod"
    assert general["aws:sourceidentity"] == "alice"


def test_mfa_age_is_per_call(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    base = world.pdp.authorize_sigv4(world.signed(world.assume()), "example:GetThing", THING).principal
    assert base is not None
    from dataclasses import replace

    principal = replace(base, mfa_present=True, mfa_authenticated_at=world.clock.now() - timedelta(seconds=90))
    call = CallContext(request_id="r", now=world.clock.now(), principal=principal)
    general, fast = _contexts(world, principal, call, None, monkeypatch)
    assert fast == general
    assert fast["aws:multifactorauthage"] == "90"


def test_session_principal_equals_the_authenticators(world: World) -> None:
    creds = world.assume(Tags=[{"Key": "team", "Value": "blue"}],
                         Policy=doc({"Effect": "Allow", "Action": "example:*", "Resource": "*"}))
    request = world.signed(creds)
    auth = world.authenticator.parse(request)
    expected = world.authenticator.authenticate(request, auth, service="example", now=world.clock.now())
    first = world.pdp.authorize_sigv4(request, "example:GetThing", THING).principal
    second = world.pdp.authorize_sigv4(request, "example:GetThing", THING).principal
    assert first == expected
    assert second is first  # kept per token


def test_generation_change_reprepares(world: World) -> None:
    creds = world.assume()
    assert world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING).decision == "Allow"
    world.run("PutRolePolicy", RoleName="app", PolicyName="deny", PolicyDocument=doc(
        {"Sid": "Stop", "Effect": "Deny", "Action": "*", "Resource": "*"}))
    assert world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING).decision == "Allow"
    world.authorizer.invalidate()
    denied = world.pdp.authorize_sigv4(world.signed(creds), "example:GetThing", THING)
    assert denied.decision == "ExplicitDeny"
    assert [m.sid for m in denied.matched_statements] == ["Stop"]
