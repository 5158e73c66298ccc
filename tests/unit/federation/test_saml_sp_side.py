"""AuthnRequest (Redirect binding, signed) and broker's SP metadata, checked against the fixture IdP's
independent decoder/verifier and python3-saml's metadata parser."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree

from broker.federation.saml.authn_request import ECDSA_SHA256, RSA_SHA256, AuthnRequest, redirect_url
from broker.federation.saml.sp_metadata import sp_metadata_xml
from idp_fixtures.saml import SamlIdp, generate_key_pair

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
REQ = AuthnRequest("_abc123", NOW, "https://broker.example/saml/metadata", "https://broker.example/saml/acs",
                   "https://idp.example/sso")


@pytest.mark.parametrize(("kind", "alg"), [("rsa", RSA_SHA256), ("ec", ECDSA_SHA256)])
def test_signed_redirect_verifies_at_the_idp(kind: str, alg: str) -> None:
    keys = generate_key_pair("sp", kind=kind)
    url = redirect_url(REQ, relay_state="r/1 &x", signing_key_pem=keys.key_pem)
    idp = SamlIdp(sp_cert_pem=keys.cert_pem)
    info = idp.read_authn_request(urlsplit(url).query)
    assert (info.id, info.issuer, info.acs_url, info.destination) == (
        "_abc123", "https://broker.example/saml/metadata", "https://broker.example/saml/acs", "https://idp.example/sso"
    )
    assert info.relay_state == "r/1 &x"
    assert info.sig_alg == alg
    assert info.signature_valid is True


def test_signature_breaks_when_relay_state_changes() -> None:
    keys = generate_key_pair("sp")
    url = redirect_url(REQ, relay_state="one", signing_key_pem=keys.key_pem)
    idp = SamlIdp(sp_cert_pem=keys.cert_pem)
    tampered = urlsplit(url).query.replace("RelayState=one", "RelayState=two")
    assert idp.read_authn_request(tampered).signature_valid is False


def test_unsigned_request_and_existing_query() -> None:
    req = AuthnRequest("_x", NOW, "sp", "acs", "https://idp.example/sso?tenant=a")
    url = redirect_url(req, relay_state=None, signing_key_pem=None)
    assert url.startswith("https://idp.example/sso?tenant=a&SAMLRequest=")
    assert "Signature" not in parse_qs(urlsplit(url).query)


def test_relay_state_limit() -> None:
    with pytest.raises(ValueError, match="80 bytes"):
        redirect_url(REQ, relay_state="x" * 81, signing_key_pem=None)


def test_request_xml_escapes_and_times() -> None:
    req = AuthnRequest('_a"b', NOW, "https://sp/<x>", "https://sp/acs?a=1&b=2", "https://idp/sso")
    root = etree.fromstring(req.xml())
    assert root.get("ID") == '_a"b'
    assert root.get("IssueInstant") == "2026-01-02T03:04:05Z"
    assert root.get("AssertionConsumerServiceURL") == "https://sp/acs?a=1&b=2"
    assert root.findtext("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer") == "https://sp/<x>"


def test_sp_metadata_lists_signing_and_encryption_certificates() -> None:
    sign, enc = generate_key_pair("s"), generate_key_pair("e")
    xml = sp_metadata_xml(entity_id="https://b/saml/metadata", acs_url="https://b/saml/acs",
                          signing_certificates=[_der(sign.cert_b64)], encryption_certificates=[_der(enc.cert_b64)])
    root = etree.fromstring(xml.encode())
    md = "{urn:oasis:names:tc:SAML:2.0:metadata}"
    assert root.get("entityID") == "https://b/saml/metadata"
    sp = root.find(f"{md}SPSSODescriptor")
    assert sp is not None and sp.get("AuthnRequestsSigned") == "true" and sp.get("WantAssertionsSigned") == "true"
    uses = [(k.get("use"), "".join(k.itertext()).strip()) for k in sp.findall(f"{md}KeyDescriptor")]
    assert uses == [("signing", sign.cert_b64), ("encryption", enc.cert_b64)]
    acs = sp.find(f"{md}AssertionConsumerService")
    assert acs is not None and acs.get("Location") == "https://b/saml/acs"
    assert acs.get("Binding") == "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


def _der(b64: str) -> bytes:
    return base64.b64decode(b64)
