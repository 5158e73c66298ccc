"""AssumeRoleWithSAML on both stores, through the dispatcher (one transaction, audit event per call).

Every refusal ends with the AWS code, nothing minted, no replay-cache row and exactly one audit event.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from broker.arn import ArnFactory
from broker.clock import FixedClock
from broker.credentials.envelope import Envelope
from broker.errors import (
    AccessDenied,
    BrokerError,
    ExpiredTokenException,
    InvalidIdentityToken,
    ValidationError,
)
from broker.principal import CallContext, Principal
from broker.service.audit import build_event
from broker.service.authorize import PolicyAuthorizer
from broker.service.dispatch import Dispatcher
from broker.service.iam import OPERATIONS as IAM
from broker.service.keyring import KeyringService
from broker.service.providers import ProviderSettings, make_operations
from broker.service.saml_session import SamlSp
from broker.service.sts.saml import assume_role_with_saml
from broker.store.sqlalchemy.store import SqlStore
from tests.contract.conftest import ACCOUNT, START, SeededEntropy, count_rows

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "federation" / "saml"))
from saml_factory import IDP_ENTITY, SP, idp_key, signed

PROVIDER = f"arn:aws:iam::{ACCOUNT}:saml-provider/Corp"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SamlAdmin"
ROLE_ATTR = "https://aws.amazon.com/SAML/Attributes/Role"
NAME_ATTR = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
A = "https://aws.amazon.com/SAML/Attributes/"


def _metadata() -> str:
    cert = idp_key().cert_b64
    return f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
 xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{IDP_ENTITY}">
 <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
  <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate>
  </ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
  <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
   Location="https://idp.example.org/sso"/>
 </md:IDPSSODescriptor>
</md:EntityDescriptor>""" + " " * 600  # CreateSAMLProvider wants at least 1,000 characters


def _trust(*conditions: Mapping[str, Any], actions: tuple[str, ...] = ("sts:AssumeRoleWithSAML",)) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Federated": PROVIDER}, "Action": list(actions)}
    if conditions:
        statement["Condition"] = conditions[0]
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


class World:
    def __init__(self, store: SqlStore, envelope: Envelope, entropy: SeededEntropy) -> None:
        self.store, self.entropy, self.envelope = store, entropy, envelope
        self.requests = 0
        self.clock = FixedClock(START.replace(month=3, hour=12))
        self.arns = ArnFactory(account=ACCOUNT)
        self.keyring = KeyringService(store, envelope, self.clock, entropy)
        self.keyring.ensure()
        ops = {**IAM, **make_operations(ProviderSettings())}
        sp = SamlSp.build(SP, self.keyring.codec)
        ops["AssumeRoleWithSAML"] = lambda env, params: assume_role_with_saml(sp, env, params)
        self.dispatcher = Dispatcher(store=store, operations=ops, authorizer=PolicyAuthorizer(store), arns=self.arns,
                                     entropy=entropy, envelope=envelope, audit=build_event)
        self.root = Principal(kind="root", arn=self.arns.root(), account=ACCOUNT, user_id=ACCOUNT, name="root",
                              identity_arn=self.arns.root())

    def run(self, action: str, principal: Principal | None = None, **params: Any) -> dict[str, Any]:
        self.requests += 1
        call = CallContext(request_id=f"req-{self.requests}", now=self.clock.now(), principal=principal,
                           source_ip="192.0.2.1")
        return dict(self.dispatcher.run(call, "sts" if action.startswith("Assume") else "iam", action, params))

    def assume(self, message: str, **params: Any) -> dict[str, Any]:
        return self.run("AssumeRoleWithSAML", None, RoleArn=ROLE, PrincipalArn=PROVIDER, SAMLAssertion=message,
                        **params)


@pytest.fixture
def world(store: SqlStore, envelope: Envelope, entropy: SeededEntropy) -> World:
    w = World(store, envelope, entropy)
    w.run("CreateSAMLProvider", w.root, Name="Corp", SAMLMetadataDocument=_metadata())
    w.run("CreateRole", w.root, RoleName="SamlAdmin", MaxSessionDuration=7200, AssumeRolePolicyDocument=_trust())
    return w


def _message(world: World, **changes: Any) -> str:
    changes.setdefault("now", world.clock.now())
    attrs = {ROLE_ATTR: [f"{ROLE},{PROVIDER}"], NAME_ATTR: ["alice@example.org"]}
    attrs.update(changes.pop("attributes", {}))
    return signed(attributes={k: v for k, v in attrs.items() if v is not None}, **changes)


def _refused(world: World, error: type[BrokerError], message: str, saml: str, **params: Any) -> BrokerError:
    audits, replays = count_rows(world.store, "audit_events"), count_rows(world.store, "replay_cache")
    used = world.run("GetRole", world.root, RoleName="SamlAdmin")["Role"].get("RoleLastUsed", {})
    audits += 1  # the GetRole above
    with pytest.raises(error) as info:
        world.assume(saml, **params)
    assert info.value.message == message
    assert count_rows(world.store, "replay_cache") == replays
    assert count_rows(world.store, "audit_events") == audits + 1
    assert world.run("GetRole", world.root, RoleName="SamlAdmin")["Role"].get("RoleLastUsed", {}) == used
    return info.value


def test_assume_role_with_saml_returns_aws_shape(world: World) -> None:
    out = world.assume(_message(world, name_id="alice-id"))
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["SecretAccessKey"]) == 40
    assert creds["Expiration"] == world.clock.now() + timedelta(hours=1)
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/SamlAdmin/alice@example.org"
    assert out["AssumedRoleUser"]["AssumedRoleId"].endswith(":alice@example.org")
    assert (out["Subject"], out["SubjectType"], out["Issuer"]) == ("alice-id", "persistent", IDP_ENTITY)
    assert out["Audience"] == "https://broker.example.com/saml/acs"
    digest = hashlib.sha1((IDP_ENTITY + ACCOUNT + "/Corp").encode(), usedforsecurity=False).digest()
    assert out["NameQualifier"] == base64.b64encode(digest).decode()
    assert "PackedPolicySize" not in out and "SourceIdentity" not in out
    assert count_rows(world.store, "replay_cache") == 1


def test_role_pair_in_either_order_and_among_several(world: World) -> None:
    other = f"arn:aws:iam::{ACCOUNT}:role/Other"
    out = world.assume(_message(world, attributes={ROLE_ATTR: [f"{other},{PROVIDER}", f"{PROVIDER},{ROLE}"]}))
    assert out["AssumedRoleUser"]["Arn"].endswith("assumed-role/SamlAdmin/alice@example.org")


def test_replay_of_the_same_assertion_is_refused(world: World) -> None:
    message = _message(world)
    world.assume(message)
    audits = count_rows(world.store, "audit_events")
    with pytest.raises(InvalidIdentityToken) as info:
        world.assume(message)
    assert info.value.detail == "the SAML assertion has already been used (replay)"
    assert count_rows(world.store, "replay_cache") == 1 and count_rows(world.store, "audit_events") == audits + 1


def test_duration_session_duration_and_session_not_on_or_after(world: World) -> None:
    out = world.assume(_message(world), DurationSeconds=7200)
    assert out["Credentials"]["Expiration"] == world.clock.now() + timedelta(seconds=7200)
    out = world.assume(_message(world, attributes={A + "SessionDuration": ["1800"]}), DurationSeconds=7200)
    assert out["Credentials"]["Expiration"] == world.clock.now() + timedelta(seconds=1800)
    capped = world.assume(_message(world, session_not_on_or_after=world.clock.now() + timedelta(seconds=1000)))
    assert capped["Credentials"]["Expiration"] == world.clock.now() + timedelta(seconds=1000)
    _refused(world, ValidationError,
             "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
             _message(world), DurationSeconds=7201)


def test_source_identity_and_tags_need_their_trust_actions(world: World) -> None:
    extra = {A + "SourceIdentity": ["alice"], A + "PrincipalTag:Team": ["blue"], A + "TransitiveTagKeys": ["Team"]}
    _refused(world, AccessDenied, "Not authorized to perform sts:AssumeRoleWithSAML",
             _message(world, attributes=extra))
    world.run("UpdateAssumeRolePolicy", world.root, RoleName="SamlAdmin", PolicyDocument=_trust(
        actions=("sts:AssumeRoleWithSAML", "sts:TagSession", "sts:SetSourceIdentity")))
    out = world.assume(_message(world, attributes=extra))
    assert out["SourceIdentity"] == "alice" and out["PackedPolicySize"] >= 1


def test_trust_conditions_see_saml_keys(world: World) -> None:
    cond = {"StringEquals": {"saml:aud": "https://broker.example.com/saml/acs", "saml:iss": IDP_ENTITY,
                             "saml:sub": "alice", "saml:sub_type": "persistent", "saml:doc": f"{ACCOUNT}/Corp"},
            "ForAnyValue:StringEquals": {"saml:edupersonaffiliation": "staff"}}
    world.run("UpdateAssumeRolePolicy", world.root, RoleName="SamlAdmin", PolicyDocument=_trust(cond))
    affiliation = {"urn:oid:1.3.6.1.4.1.5923.1.1.1.1": ["member", "staff"]}
    world.assume(_message(world, attributes=affiliation))
    _refused(world, AccessDenied, "Not authorized to perform sts:AssumeRoleWithSAML",
             _message(world, attributes={"urn:oid:1.3.6.1.4.1.5923.1.1.1.1": ["member"]}))
    _refused(world, AccessDenied, "Not authorized to perform sts:AssumeRoleWithSAML",
             _message(world, name_id="mallory", attributes=affiliation))


def test_role_missing_from_role_attribute_is_access_denied(world: World) -> None:
    other = f"arn:aws:iam::{ACCOUNT}:role/Other"
    error = _refused(world, AccessDenied, "Not authorized to perform sts:AssumeRoleWithSAML",
                     _message(world, attributes={ROLE_ATTR: [f"{other},{PROVIDER}"]}))
    assert error.detail == "the Role attribute does not contain the requested role and provider"


@pytest.mark.parametrize("value", [ROLE, f"{ROLE},{PROVIDER},{ROLE}", f"{ROLE};{PROVIDER}", f"{ROLE},{ROLE}"])
def test_role_values_that_break_the_pair_are_invalid(world: World, value: str) -> None:
    _refused(world, InvalidIdentityToken, "Invalid SAML response", _message(world, attributes={ROLE_ATTR: [value]}))


@pytest.mark.parametrize("name", ["a", "x" * 65, "alice smith", "alice/evil", "é-user"])
def test_session_names_outside_the_pattern_are_refused(world: World, name: str) -> None:
    _refused(world, InvalidIdentityToken, "RoleSessionName in AuthnResponse must match [a-zA-Z_0-9+=,.@-]{2,64}",
             _message(world, attributes={NAME_ATTR: [name]}))


def test_missing_session_name_is_refused(world: World) -> None:
    _refused(world, InvalidIdentityToken, "RoleSessionName is required in AuthnResponse",
             _message(world, attributes={NAME_ATTR: None}))


def test_invalid_and_expired_assertions_map_to_aws_codes(world: World) -> None:
    _refused(world, InvalidIdentityToken, "Response signature invalid", _message(world, key=idp_key("attacker")))
    _refused(world, InvalidIdentityToken, "Issuer not present in specified provider",
             _message(world, issuer="https://evil.example.org"))
    _refused(world, InvalidIdentityToken, "Response does not contain the required audience",
             _message(world, audience="urn:amazon:webservices"))
    _refused(world, ExpiredTokenException, "Token is expired or not yet valid",
             _message(world, now=world.clock.now() - timedelta(hours=2)))


def test_unknown_provider_is_refused(world: World) -> None:
    with pytest.raises(InvalidIdentityToken) as info:
        world.run("AssumeRoleWithSAML", None, RoleArn=ROLE, PrincipalArn=f"arn:aws:iam::{ACCOUNT}:saml-provider/X",
                  SAMLAssertion=_message(world))
    assert info.value.message == f"No SAML provider found in your account for arn:aws:iam::{ACCOUNT}:saml-provider/X"


def test_trust_without_the_provider_is_access_denied(world: World) -> None:
    world.run("UpdateAssumeRolePolicy", world.root, RoleName="SamlAdmin", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {
            "Federated": f"arn:aws:iam::{ACCOUNT}:saml-provider/Other"}, "Action": "sts:AssumeRoleWithSAML"}]}))
    _refused(world, AccessDenied, "Not authorized to perform sts:AssumeRoleWithSAML", _message(world))
