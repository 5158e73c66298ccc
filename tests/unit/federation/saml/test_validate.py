"""SAML Response validation: accepted shapes and one test per bad-input class (issue 6, "Bad input").

Each refusal asserts the exact kind (→ AWS code) and the exact reason broker records.
"""

from __future__ import annotations

import base64
import zlib
from datetime import timedelta

import pytest
from lxml import etree
from saml_factory import IDP_ENTITY, NOW, SP, b64, idp_key, response_element, signed, trust

from broker.federation.saml.errors import SamlError
from broker.federation.saml.validate import SamlValidator
from idp_fixtures.saml.faults import (
    billion_laughs,
    doctype_entity,
    nameid_comment,
    tamper_name_id,
    xsw_after,
    xsw_before,
    xsw_extensions,
    xsw_inside,
    xsw_object,
)

V = SamlValidator(SP)


def refuse(message: str, *, kind: str = "invalid", expected_irt: str | None = None, validator: SamlValidator = V,
           **kw: object) -> list[str]:
    with pytest.raises(SamlError) as info:
        validator.validate(message, idp=kw.get("idp", trust()), now=kw.get("now", NOW),  # type: ignore[arg-type]
                           expected_in_response_to=expected_irt)
    assert info.value.kind == kind, info.value.problems
    return info.value.problems


def xml_of(sign: str = "assertion", **changes: object) -> bytes:
    return etree.tostring(response_element(sign, **changes))


# --- accepted --------------------------------------------------------------------------------------


@pytest.mark.parametrize("sign", ["assertion", "both"])
def test_signed_assertion_is_accepted_with_every_field(sign: str) -> None:
    result = V.validate(signed(sign, name_id="alice", assertion_id="_a1", response_id="_r1"), idp=trust(), now=NOW)
    assert (result.assertion_id, result.response_id, result.issuer, result.name_id) == ("_a1", "_r1", IDP_ENTITY,
                                                                                      "alice")
    assert result.recipient == "https://broker.example.com/saml/acs"
    assert result.audience == "https://broker.example.com/saml/metadata"
    assert result.assertion_signed and result.response_signed == (sign == "both")
    assert result.not_on_or_after == NOW + timedelta(seconds=300 + 60)  # expiry + skew: the replay horizon
    assert result.attributes["https://aws.amazon.com/SAML/Attributes/RoleSessionName"] == ("alice@example.org",)


def test_response_only_signature_is_accepted_when_the_deployment_allows_it() -> None:
    relaxed = SamlValidator(SP.__class__(**{**_fields(SP), "want_assertions_signed": False}))
    result = relaxed.validate(signed("response"), idp=trust(), now=NOW)
    assert result.response_signed and not result.assertion_signed


def _fields(obj: object) -> dict[str, object]:
    return {name: getattr(obj, name) for name in obj.__slots__}  # type: ignore[attr-defined]


def test_ecdsa_and_sha512_signatures_are_accepted() -> None:
    V.validate(signed(key=idp_key("ec", "ec"), options={"signature_algorithm": "ecdsa-sha256"}),
               idp=trust(idp_key("ec", "ec")), now=NOW)
    V.validate(signed(options={"signature_algorithm": "rsa-sha512", "digest_algorithm": "sha512"}), idp=trust(),
               now=NOW)


def test_certificate_rollover_any_metadata_certificate_verifies() -> None:
    new = idp_key("next")
    assert V.validate(signed(key=new), idp=trust(idp_key(), new), now=NOW).assertion_signed


def test_sp_initiated_in_response_to_matches() -> None:
    result = V.validate(signed(in_response_to="_req1"), idp=trust(), now=NOW, expected_in_response_to="_req1")
    assert result.in_response_to == "_req1"


def test_clock_skew_edges() -> None:
    message = signed()  # valid [NOW-5s, NOW+300s)
    V.validate(message, idp=trust(), now=NOW + timedelta(seconds=359))
    assert refuse(message, kind="expired", now=NOW + timedelta(seconds=360)) == [
        "the assertion expired at 2026-03-01T12:05:00+00:00 (SubjectConfirmationData NotOnOrAfter)",
        "the assertion expired at 2026-03-01T12:05:00+00:00 (Conditions NotOnOrAfter)",
    ]


# --- signatures --------------------------------------------------------------------------------------


def test_unsigned_response_is_refused() -> None:
    assert refuse(signed("none")) == ["the SAML Response is not signed (Response signature invalid)"]


def test_unsigned_assertion_inside_signed_response_is_refused() -> None:
    assert refuse(signed("response")) == ["the Assertion is not signed (broker requires signed assertions)"]


def test_tampered_assertion_is_refused() -> None:
    assert refuse(b64(tamper_name_id(xml_of()))) == [
        "the Assertion signature is invalid or not made by a certificate in the provider's metadata"
    ]


def test_signature_by_a_certificate_in_keyinfo_but_not_in_metadata_is_refused() -> None:
    assert refuse(signed(key=idp_key("attacker"))) == [
        "the Assertion signature is invalid or not made by a certificate in the provider's metadata"
    ]


def test_sha1_signature_is_refused() -> None:
    problems = refuse(signed(options={"signature_algorithm": "rsa-sha1", "digest_algorithm": "sha1"}))
    assert problems == [
        "the Assertion signature uses a refused algorithm 'http://www.w3.org/2000/09/xmldsig#rsa-sha1' "
        "(SHA-2 RSA or ECDSA required)",
        "the Assertion signature uses a refused digest 'http://www.w3.org/2000/09/xmldsig#sha1' "
        "(SHA-256 or stronger required)",
    ]


def test_sha1_digest_under_sha256_signature_is_refused() -> None:
    assert refuse(signed(options={"digest_algorithm": "sha1"})) == [
        "the Assertion signature uses a refused digest 'http://www.w3.org/2000/09/xmldsig#sha1' "
        "(SHA-256 or stronger required)"
    ]


# --- signature wrapping ------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [xsw_before, xsw_after])
def test_second_assertion_beside_the_signed_one_is_refused(fault: object) -> None:
    assert refuse(b64(fault(xml_of()))) == ["the Response must contain exactly one assertion, found 2"]  # type: ignore[operator]


def test_second_assertion_inside_the_signed_one_is_refused() -> None:
    assert refuse(b64(xsw_inside(xml_of()))) == ["the Response must contain exactly one assertion, found 2"]


def test_signed_assertion_moved_into_extensions_is_refused() -> None:
    assert refuse(b64(xsw_extensions(xml_of()))) == ["the Response must contain exactly one assertion, found 2"]


def test_signed_assertion_moved_into_signature_object_is_refused() -> None:
    assert refuse(b64(xsw_object(xml_of()))) == ["the Response must contain exactly one assertion, found 2"]


def test_single_assertion_moved_into_extensions_is_refused() -> None:
    root = response_element()
    assertion = root.find("{urn:oasis:names:tc:SAML:2.0:assertion}Assertion")
    ext = etree.SubElement(root, "{urn:oasis:names:tc:SAML:2.0:protocol}Extensions")
    ext.append(assertion)
    assert refuse(b64(root)) == ["the assertion must be a direct child of the Response"]


def test_duplicate_ids_are_refused() -> None:
    root = response_element(assertion_id="_same", response_id="_same")
    assert refuse(b64(root)) == ["duplicate ID '_same' in the SAML message"]


def test_signature_referencing_another_element_is_refused() -> None:
    root = response_element()
    ref = root.find(".//{http://www.w3.org/2000/09/xmldsig#}Reference")
    ref.set("URI", "#" + root.get("ID"))
    problems = refuse(b64(root))
    assert problems == ["the Assertion signature does not reference the element that contains it"]


# --- comments, entities, sizes -------------------------------------------------------------------------


def test_comment_inside_name_id_is_refused() -> None:
    assert refuse(b64(nameid_comment(xml_of(name_id="admin@example.org.evil")))) == [
        "XML comments are not allowed in SAML messages"
    ]


def test_comment_inside_attribute_value_is_refused() -> None:
    xml = xml_of().replace(b"alice@example.org", b"alice<!-- x -->@example.org", 1)
    assert refuse(b64(xml)) == ["XML comments are not allowed in SAML messages"]


@pytest.mark.parametrize("fault", [doctype_entity, billion_laughs])
def test_doctype_and_entity_expansion_are_refused(fault: object) -> None:
    assert refuse(b64(fault(xml_of()))) == [  # type: ignore[operator]
        "DOCTYPE and ENTITY declarations are not allowed in SAML messages"
    ]


def test_external_entity_is_refused() -> None:
    xxe = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + xml_of().replace(b"alice<", b"&x;<", 1)
    assert refuse(b64(xxe)) == ["DOCTYPE and ENTITY declarations are not allowed in SAML messages"]


def test_oversized_message_is_refused_before_decoding() -> None:
    assert refuse("A" * 100_004) == ["the SAML message is longer than 100000 characters"]


def test_deflate_bomb_stops_at_the_inflated_limit() -> None:
    bomb = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    data = bomb.compress(b"<" + b"a" * 50_000_000) + bomb.flush()
    text = base64.b64encode(data).decode()
    with pytest.raises(SamlError) as info:
        V.decode(text, "redirect")
    assert info.value.problems == ["the inflated SAML message is larger than 262144 bytes"]


def test_not_base64_is_refused() -> None:
    assert refuse("not base64 at all!") == ["the SAML message is not valid base64"]


def test_not_xml_is_refused() -> None:
    assert refuse(base64.b64encode(b"<samlp:Response").decode())[0].startswith(
        "the SAML message is not well-formed XML"
    )


# --- issuer, audience, recipient, destination ---------------------------------------------------------

ACS = "https://broker.example.com/saml/acs"
AUD = "https://broker.example.com/saml/metadata"


@pytest.mark.parametrize("issuer", [IDP_ENTITY + "x", IDP_ENTITY[:-1], "https://evil.example.org/saml"])
def test_wrong_issuer_is_refused(issuer: str) -> None:
    problems = refuse(signed(issuer=issuer))
    assert problems == [
        f"the Response Issuer {issuer!r} is not the provider's entity id {IDP_ENTITY!r}",
        f"the Assertion Issuer {issuer!r} is not the provider's entity id {IDP_ENTITY!r}",
    ]


@pytest.mark.parametrize("audience", [AUD + "/x", AUD[:-1], "https://broker.example.com", "urn:amazon:webservices"])
def test_wrong_audience_is_refused(audience: str) -> None:
    assert refuse(signed(audience=audience)) == [f"the Response does not contain the required audience {AUD!r}"]


def test_missing_audience_restriction_is_refused() -> None:
    assert refuse(signed(include_audience=False)) == [
        "the Assertion has no AudienceRestriction (Response does not contain the required audience)"
    ]


@pytest.mark.parametrize("recipient", [ACS + "/evil", ACS[:-1], "https://evil.example/?" + ACS, ACS + "?x=1"])
def test_recipient_prefix_and_substring_variants_are_refused(recipient: str) -> None:
    assert refuse(signed(recipient=recipient)) == [
        f"the SubjectConfirmationData Recipient {recipient!r} is not {ACS!r}"
    ]


@pytest.mark.parametrize("destination", [ACS + "x", "https://broker.example.com/saml", "http://broker.example.com/saml/acs"])
def test_destination_prefix_variants_are_refused(destination: str) -> None:
    assert refuse(signed(destination=destination)) == [f"the Response Destination {destination!r} is not {ACS!r}"]


# --- time, InResponseTo -------------------------------------------------------------------------------


def test_expired_assertion_is_refused_as_expired() -> None:
    problems = refuse(signed(now=NOW - timedelta(hours=1)), kind="expired")
    assert problems[0] == "the assertion expired at 2026-03-01T11:05:00+00:00 (SubjectConfirmationData NotOnOrAfter)"


def test_not_yet_valid_assertion_is_refused_as_expired() -> None:
    problems = refuse(signed(not_before=NOW + timedelta(seconds=120)), kind="expired")
    assert problems == ["the assertion is not valid before 2026-03-01T12:02:00+00:00"]


def test_session_not_on_or_after_passed_is_refused() -> None:
    problems = refuse(signed(session_not_on_or_after=NOW - timedelta(minutes=5)), kind="expired")
    assert problems == ["the IdP session ended at 2026-03-01T11:55:00+00:00 (SessionNotOnOrAfter)"]


def test_unsolicited_response_with_in_response_to_is_refused() -> None:
    assert refuse(signed(in_response_to="_req1")) == [
        "an unsolicited (IdP-initiated) Response must not carry InResponseTo",
        "an unsolicited (IdP-initiated) assertion must not carry InResponseTo",
    ]


def test_sp_initiated_response_must_answer_our_request() -> None:
    assert refuse(signed(in_response_to="_other"), expected_irt="_req1") == [
        "the Response InResponseTo does not match the authentication request",
        "the SubjectConfirmationData InResponseTo does not match the authentication request",
    ]
    assert refuse(signed(), expected_irt="_req1") == [
        "the Response InResponseTo does not match the authentication request",
        "the SubjectConfirmationData InResponseTo does not match the authentication request",
    ]


def test_failed_status_is_refused() -> None:
    problems = refuse(signed(status="urn:oasis:names:tc:SAML:2.0:status:Responder"))
    assert problems == ["the Response status is not Success (urn:oasis:names:tc:SAML:2.0:status:Responder)"]
