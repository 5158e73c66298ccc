"""Responses from pysaml2 (an implementation that is not ours, signing with the xmlsec1 program) are accepted
by broker's validator — assertion signed, response signed, both — and its refusals still hold."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest
from lxml import etree
from pysaml2_idp import XMLSEC1, make_idp, response_b64
from saml_factory import ROLE_ATTR, SESSION_ATTR, SP, der, idp_key

from broker.clock import SystemClock
from broker.federation.saml.errors import SamlError
from broker.federation.saml.validate import IdpTrust, SamlValidator

pytestmark = pytest.mark.skipif(XMLSEC1 is None, reason="the xmlsec1 program is not installed (.ci/run installs it)")

ENTITY = "https://pysaml2-idp.example.org/metadata"
ATTRS = {ROLE_ATTR: ["arn:aws:iam::123456789012:role/R,arn:aws:iam::123456789012:saml-provider/P"],
         SESSION_ATTR: ["alice"]}
CLOCK = SystemClock()  # pysaml2 stamps wall time


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> object:
    return make_idp(tmp_path_factory.mktemp("pysaml2"), ENTITY, idp_key("pysaml2"), SP, der(idp_key("sp")))


TRUST = IdpTrust(ENTITY, (der(idp_key("pysaml2")),))


@pytest.mark.parametrize(("sign_response", "sign_assertion"), [(False, True), (True, True)])
def test_signed_assertion_from_pysaml2_is_accepted(idp: object, sign_response: bool, sign_assertion: bool) -> None:
    message = response_b64(idp, SP, name_id="alice-1", attributes=ATTRS, sign_response=sign_response,  # type: ignore[arg-type]
                           sign_assertion=sign_assertion)
    result = SamlValidator(SP).validate(message, idp=TRUST, now=CLOCK.now())
    assert (result.issuer, result.name_id, result.assertion_signed) == (ENTITY, "alice-1", True)
    assert result.response_signed is sign_response
    assert result.attributes[ROLE_ATTR] == tuple(ATTRS[ROLE_ATTR])
    assert result.attributes[SESSION_ATTR] == ("alice",)


def test_response_only_signature_from_pysaml2(idp: object) -> None:
    message = response_b64(idp, SP, name_id="alice-2", attributes=ATTRS, sign_response=True,  # type: ignore[arg-type]
                           sign_assertion=False)
    with pytest.raises(SamlError) as info:
        SamlValidator(SP).validate(message, idp=TRUST, now=CLOCK.now())
    assert info.value.problems == ["the Assertion is not signed (broker requires signed assertions)"]
    relaxed = SamlValidator(dataclasses.replace(SP, want_assertions_signed=False))
    result = relaxed.validate(message, idp=TRUST, now=CLOCK.now())
    assert result.response_signed and not result.assertion_signed


def test_sp_initiated_response_from_pysaml2(idp: object) -> None:
    message = response_b64(idp, SP, name_id="alice-3", attributes=ATTRS, sign_response=True,  # type: ignore[arg-type]
                           sign_assertion=True, in_response_to="_req-42")
    result = SamlValidator(SP).validate(message, idp=TRUST, now=CLOCK.now(), expected_in_response_to="_req-42")
    assert result.in_response_to == "_req-42"


def test_pysaml2_sha1_signature_is_refused(idp: object) -> None:
    message = response_b64(idp, SP, name_id="alice-4", attributes=ATTRS, sign_response=False,  # type: ignore[arg-type]
                           sign_assertion=True, algorithm="sha1")
    with pytest.raises(SamlError) as info:
        SamlValidator(SP).validate(message, idp=TRUST, now=CLOCK.now())
    assert info.value.problems == [
        "the Assertion signature uses a refused algorithm 'http://www.w3.org/2000/09/xmldsig#rsa-sha1' "
        "(SHA-2 RSA or ECDSA required)",
        "the Assertion signature uses a refused digest 'http://www.w3.org/2000/09/xmldsig#sha1' "
        "(SHA-256 or stronger required)",
    ]


def test_pysaml2_response_with_a_tampered_name_id_is_refused(idp: object) -> None:
    message = response_b64(idp, SP, name_id="alice-5", attributes=ATTRS, sign_response=True,  # type: ignore[arg-type]
                           sign_assertion=True)
    root = etree.fromstring(base64.b64decode(message))
    for nid in root.iter("{urn:oasis:names:tc:SAML:2.0:assertion}NameID"):
        nid.text = "admin"
    with pytest.raises(SamlError) as info:
        SamlValidator(SP).validate(base64.b64encode(etree.tostring(root)).decode(), idp=TRUST, now=CLOCK.now())
    assert info.value.problems == [
        "the Response signature is invalid or not made by a certificate in the provider's metadata",
        "the Assertion signature is invalid or not made by a certificate in the provider's metadata",
    ]


def test_pysaml2_response_for_another_idp_key_is_refused(idp: object, tmp_path: Path) -> None:
    other = make_idp(tmp_path, ENTITY, idp_key("pysaml2-other"), SP, der(idp_key("sp")))
    message = response_b64(other, SP, name_id="alice-6", attributes=ATTRS, sign_response=False, sign_assertion=True)
    with pytest.raises(SamlError) as info:
        SamlValidator(SP).validate(message, idp=TRUST, now=CLOCK.now())
    assert info.value.problems == [
        "the Assertion signature is invalid or not made by a certificate in the provider's metadata"
    ]
