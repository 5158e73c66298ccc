"""The fixture SAML IdP: its responses verify under an independent implementation (python3-saml with every
check on), every signing/encryption option round-trips, faults break what they should, rollover keeps old
certificates in metadata, and the Redirect binding is decoded with a bound."""

from __future__ import annotations

import base64
import re
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from lxml import etree
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from idp_fixtures.saml import FAULTS, SamlIdp, User, decode_redirect_message, generate_key_pair

SP = "https://sp.example.com"
ACS = SP + "/saml/acs"
ENTITY = SP + "/saml/metadata"
ROLE = "arn:aws:iam::123456789012:role/demo"
PROVIDER = "arn:aws:iam::123456789012:saml-provider/fixture"
SP_KEYS = generate_key_pair("sp")


def _idp(**kwargs: Any) -> SamlIdp:
    idp = SamlIdp(entity_id="https://idp.example.com/saml", sp_entity_id=ENTITY, sp_acs_url=ACS, **kwargs)
    idp.add_user(User.aws("alice", [(ROLE, PROVIDER)]))
    return idp


def _check(idp: SamlIdp, b64: str, *, want_assertion_signed: bool = True) -> tuple[bool, str | None]:
    settings = OneLogin_Saml2_Settings({
        "strict": True,
        "sp": {"entityId": ENTITY, "assertionConsumerService": {"url": ACS},
               "x509cert": SP_KEYS.cert_pem.decode(), "privateKey": SP_KEYS.key_pem.decode()},
        "idp": {"entityId": idp.entity_id, "singleSignOnService": {"url": "https://idp.example.com/sso"},
                "x509certMulti": {"signing": [k.cert_b64 for k in idp.keys]}},
        "security": {"wantAssertionsSigned": want_assertion_signed, "rejectDeprecatedAlgorithm": True},
    }, sp_validation_only=True)
    response = OneLogin_Saml2_Response(settings, b64)
    ok = response.is_valid({"https": "on", "http_host": "sp.example.com", "script_name": "/saml/acs"},
                           raise_exceptions=False)
    return bool(ok), response.get_error()


@pytest.mark.parametrize("sign", ["assertion", "both"])
@pytest.mark.parametrize("encrypt", [None, "aes256-cbc", "aes128-gcm"])
def test_signed_and_encrypted_responses_verify_independently(sign: str, encrypt: str | None) -> None:
    idp = _idp(sign=sign)  # type: ignore[arg-type]
    if encrypt:
        idp.encrypt_to_cert_pem, idp.encryption_algorithm = SP_KEYS.cert_pem, encrypt
    assert _check(idp, idp.response_b64()) == (True, None)


def test_response_only_signature_verifies_when_assertion_signature_not_required() -> None:
    idp = _idp(sign="response")
    assert _check(idp, idp.response_b64(), want_assertion_signed=False) == (True, None)
    ok, error = _check(idp, idp.response_b64())
    assert not ok and "Assertion of the Response is not signed" in (error or "")


@pytest.mark.parametrize("algs", [("rsa-sha384", "sha384"), ("rsa-sha512", "sha512")])
def test_signature_algorithms(algs: tuple[str, str]) -> None:
    idp = _idp(signature_algorithm=algs[0], digest_algorithm=algs[1])
    assert _check(idp, idp.response_b64()) == (True, None)
    assert algs[0].split("-")[1] in idp.response_xml().decode()


def test_sha1_is_produced_when_asked_and_refused_by_a_strict_verifier() -> None:
    idp = _idp(signature_algorithm="rsa-sha1", digest_algorithm="sha1")
    assert b"xmldsig#rsa-sha1" in idp.response_xml()
    ok, error = _check(idp, idp.response_b64())
    assert not ok and "Deprecated signature algorithm" in (error or "")


def test_unsigned_and_foreign_key_are_refused() -> None:
    assert not _check(_idp(sign="none"), _idp(sign="none").response_b64())[0]
    idp = _idp(foreign_key=generate_key_pair("evil"))
    assert not _check(idp, idp.response_b64())[0]


def test_rollover_keeps_the_old_certificate_in_metadata_and_signs_with_the_new() -> None:
    idp = _idp()
    old = idp.keys[0]
    new = idp.rollover()
    meta = idp.metadata()
    assert old.cert_b64 in meta and new.cert_b64 in meta
    assert new.cert_b64 in re.sub(r"\s", "", idp.response_xml().decode())
    assert _check(idp, idp.response_b64()) == (True, None)
    idp.rollover(drop_old=True)
    assert old.cert_b64 not in idp.metadata()


@pytest.mark.parametrize("override", [
    {"issuer": "https://other.example.com"},
    {"audience": "https://sp.example.com/saml/metadataX"},
    {"recipient": "https://sp.example.com/other/acs"},
    {"destination": "https://sp.example.com/saml"},
    {"now": datetime(2020, 1, 1, tzinfo=UTC)},
])
def test_value_faults_are_refused_by_a_strict_verifier(override: dict[str, Any]) -> None:
    idp = _idp(sign="both")
    idp.overrides.update(override)
    assert not _check(idp, idp.response_b64())[0]


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_post_signing_faults_change_the_document(fault: str) -> None:
    idp = _idp(sign="assertion")
    clean = idp.response_xml()
    idp.fault = fault
    broken = idp.response_xml()
    assert broken != clean
    if fault in ("tamper-nameid", "xsw-before", "xsw-after", "xsw-extensions", "xsw-object", "xsw-inside"):
        assert not _check(idp, base64.b64encode(broken).decode())[0]


def test_xsw_before_puts_an_unsigned_assertion_first() -> None:
    idp = _idp(fault="xsw-before")
    root = etree.fromstring(idp.response_xml())
    assertions = root.findall("{urn:oasis:names:tc:SAML:2.0:assertion}Assertion")
    assert len(assertions) == 2
    assert assertions[0].find("{http://www.w3.org/2000/09/xmldsig#}Signature") is None
    assert assertions[1].find("{http://www.w3.org/2000/09/xmldsig#}Signature") is not None


def test_redirect_message_is_bounded() -> None:
    small = zlib.compress(b"<x/>")[2:-4]
    assert decode_redirect_message(base64.b64encode(small).decode()) == b"<x/>"
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = bomb.compress(b"A" * 10_000_000) + bomb.flush()
    with pytest.raises(ValueError, match="too large"):
        decode_redirect_message(base64.b64encode(data).decode())


def test_python3_saml_recipient_check_is_a_substring_match() -> None:
    """Why broker re-checks Recipient itself (issue 6 item 2): python3-saml accepts ACS + "/extra"."""
    idp = _idp(sign="both")
    idp.overrides["recipient"] = ACS + "/extra"
    assert _check(idp, idp.response_b64()) == (True, None)


def test_in_response_to_and_metadata_shape() -> None:
    idp = _idp()
    xml = idp.response_xml(in_response_to="_req1")
    assert xml.count(b'InResponseTo="_req1"') == 2
    meta = etree.fromstring(idp.metadata().encode())
    assert meta.get("entityID") == idp.entity_id
