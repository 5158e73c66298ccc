"""Response-only SAML signatures, per provider, by operator choice (BROKER_SAML_RESPONSE_SIGNED_PROVIDERS).

Two providers share one IdP (same metadata): ``Listed`` is named in the SP's response-signed set, ``Unlisted`` is
not. A Response whose only signature is the Response's is accepted for ``Listed`` (and the audit event says so)
and refused for ``Unlisted`` exactly as before (same AWS code, same message, nothing minted, one audit event);
for ``Listed`` every other check still holds: an unsigned Response, the XSW family, a tampered or foreign
signature are refused. Runs on both stores through the dispatcher.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from broker.arn import ArnFactory
from broker.clock import FixedClock
from broker.credentials.envelope import Envelope
from broker.errors import BrokerError, InvalidIdentityToken
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
from idp_fixtures.saml.faults import tamper_name_id, xsw_after, xsw_before, xsw_extensions, xsw_inside
from tests.contract.conftest import ACCOUNT, START, SeededEntropy, count_rows

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "federation" / "saml"))
from saml_factory import IDP_ENTITY, SP, b64, idp_key, response_element, signed

LISTED = f"arn:aws:iam::{ACCOUNT}:saml-provider/Listed"
UNLISTED = f"arn:aws:iam::{ACCOUNT}:saml-provider/Unlisted"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SamlAdmin"
ROLE_ATTR = "https://aws.amazon.com/SAML/Attributes/Role"
NAME_ATTR = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
DS, SAML = "http://www.w3.org/2000/09/xmldsig#", "urn:oasis:names:tc:SAML:2.0:assertion"
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"


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


class World:
    def __init__(self, store: SqlStore, envelope: Envelope, entropy: SeededEntropy) -> None:
        self.store = store
        self.requests = 0
        self.clock = FixedClock(START.replace(month=3, hour=12))
        self.arns = ArnFactory(account=ACCOUNT)
        keyring = KeyringService(store, envelope, self.clock, entropy)
        keyring.ensure()
        ops = {**IAM, **make_operations(ProviderSettings())}
        self.sp = SamlSp.build(SP, keyring.codec, response_signed_providers={"Listed"})
        ops["AssumeRoleWithSAML"] = lambda env, params: assume_role_with_saml(self.sp, env, params)
        self.dispatcher = Dispatcher(store=store, operations=ops, authorizer=PolicyAuthorizer(store), arns=self.arns,
                                     entropy=entropy, envelope=envelope, audit=build_event)
        self.root = Principal(kind="root", arn=self.arns.root(), account=ACCOUNT, user_id=ACCOUNT, name="root",
                              identity_arn=self.arns.root())

    def run(self, action: str, principal: Principal | None = None, **params: Any) -> dict[str, Any]:
        self.requests += 1
        call = CallContext(request_id=f"req-{self.requests}", now=self.clock.now(), principal=principal,
                           source_ip="192.0.2.1")
        return dict(self.dispatcher.run(call, "sts" if action.startswith("Assume") else "iam", action, params))

    def assume(self, message: str, provider: str) -> dict[str, Any]:
        return self.run("AssumeRoleWithSAML", None, RoleArn=ROLE, PrincipalArn=provider, SAMLAssertion=message)

    def last_saml_event(self) -> dict[str, Any]:
        with self.store.transaction() as tx:
            return dict(tx.audit.list(event_name="AssumeRoleWithSAML")[-1])


@pytest.fixture
def world(store: SqlStore, envelope: Envelope, entropy: SeededEntropy) -> World:
    w = World(store, envelope, entropy)
    for name in ("Listed", "Unlisted"):
        w.run("CreateSAMLProvider", w.root, Name=name, SAMLMetadataDocument=_metadata())
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Federated": [LISTED, UNLISTED]}, "Action": "sts:AssumeRoleWithSAML"}]}
    w.run("CreateRole", w.root, RoleName="SamlAdmin", AssumeRolePolicyDocument=json.dumps(trust))
    return w


def _attributes(provider: str) -> dict[str, list[str]]:
    return {ROLE_ATTR: [f"{ROLE},{provider}"], NAME_ATTR: ["alice@example.org"]}


def _message(world: World, provider: str, sign: str = "response") -> str:
    return signed(sign, attributes=_attributes(provider), now=world.clock.now())


def _xml(world: World, provider: str, sign: str = "response") -> bytes:
    return etree.tostring(response_element(sign, attributes=_attributes(provider), now=world.clock.now()))


def _refused(world: World, message: str, provider: str) -> BrokerError:
    audits = count_rows(world.store, "audit_events")
    with pytest.raises(InvalidIdentityToken) as info:
        world.assume(message, provider)
    assert count_rows(world.store, "replay_cache") == 0
    assert count_rows(world.store, "audit_events") == audits + 1
    return info.value


def test_listed_provider_accepts_a_response_only_signature_and_the_audit_says_so(world: World) -> None:
    out = world.assume(_message(world, LISTED), LISTED)
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/SamlAdmin/alice@example.org"
    assert count_rows(world.store, "replay_cache") == 1
    extra = world.last_saml_event()["additionalEventData"]
    assert extra["samlSigned"] == {"response": True, "assertion": False}
    assert extra["samlResponseSignatureAccepted"] == (
        "the Assertion is unsigned; the Response signature covering it was accepted because SAML provider "
        "Listed is listed in BROKER_SAML_RESPONSE_SIGNED_PROVIDERS"
    )


@pytest.mark.parametrize("sign", ["assertion", "both"])
def test_listed_provider_still_accepts_signed_assertions_without_the_note(world: World, sign: str) -> None:
    world.assume(_message(world, LISTED, sign), LISTED)
    extra = world.last_saml_event()["additionalEventData"]
    assert extra == {"samlSigned": {"response": sign == "both", "assertion": True}}


def test_unlisted_provider_refuses_a_response_only_signature_as_before(world: World) -> None:
    error = _refused(world, _message(world, UNLISTED), UNLISTED)
    assert (error.code, error.message) == ("InvalidIdentityToken", "Response signature invalid")
    assert error.detail == (
        "the Assertion is not signed (broker requires signed assertions); SAML provider Unlisted signs only the "
        "Response: the operator can accept that by listing it in BROKER_SAML_RESPONSE_SIGNED_PROVIDERS"
    )
    event = world.last_saml_event()
    assert event["errorCode"] == "InvalidIdentityToken"
    assert "samlResponseSignatureAccepted" not in json.dumps(event)


def test_unlisted_provider_still_accepts_signed_assertions(world: World) -> None:
    world.assume(_message(world, UNLISTED, "both"), UNLISTED)
    assert "samlResponseSignatureAccepted" not in world.last_saml_event()["additionalEventData"]


def test_listed_provider_refuses_an_unsigned_response(world: World) -> None:
    error = _refused(world, _message(world, LISTED, "none"), LISTED)
    assert error.message == "Response signature invalid"
    assert error.detail == "the SAML Response is not signed (Response signature invalid)"


Fault = Callable[[bytes], bytes]


def _response_in_extensions(xml: bytes) -> bytes:
    """XSW on the Response signature: a forged, unsigned Response (its ID changed, another subject) carrying
    the signed original in its ``Extensions``, so the signature still verifies over the original."""
    root = etree.fromstring(xml)
    forged = copy.deepcopy(root)
    forged.remove(forged.find(f"{{{DS}}}Signature"))
    forged.set("ID", "_forged-response")
    forged.find(f".//{{{SAML}}}NameID").text = "admin"
    forged.find(f"{{{SAML}}}Assertion").set("ID", "_forged-assertion")
    extensions = etree.Element(f"{{{SAMLP}}}Extensions")
    extensions.append(root)
    forged.insert(1, extensions)
    return etree.tostring(forged)


def _response_signature_moved(xml: bytes) -> bytes:
    """The Response signature kept, the Response's ID changed so its reference no longer names it."""
    root = etree.fromstring(xml)
    root.set("ID", "_moved")
    return etree.tostring(root)


@pytest.mark.parametrize("fault", [xsw_before, xsw_after, xsw_inside, xsw_extensions, _response_in_extensions])
def test_listed_provider_refuses_signature_wrapping_of_a_signed_response(world: World, fault: Fault) -> None:
    error = _refused(world, b64(fault(_xml(world, LISTED))), LISTED)
    assert error.detail == "the Response must contain exactly one assertion, found 2"


def test_listed_provider_refuses_a_response_signature_that_names_another_element(world: World) -> None:
    error = _refused(world, b64(_response_signature_moved(_xml(world, LISTED))), LISTED)
    assert error.message == "Response signature invalid"


def test_listed_provider_refuses_a_tampered_response(world: World) -> None:
    error = _refused(world, b64(tamper_name_id(_xml(world, LISTED))), LISTED)
    assert error.message == "Response signature invalid"


def test_listed_provider_refuses_a_response_signed_by_a_key_not_in_metadata(world: World) -> None:
    message = signed("response", key=idp_key("attacker"), attributes=_attributes(LISTED), now=world.clock.now())
    assert _refused(world, message, LISTED).message == "Response signature invalid"
