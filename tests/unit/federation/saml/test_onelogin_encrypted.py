"""python3-saml's second opinion on encrypted assertions (broker/federation/saml/onelogin.py, validate.py).

The shared path (python3-saml checks broker's parse, broker's decrypted copy and broker's signature
verification) must reach the same verdict, with the same reason, as python3-saml decoding, decrypting (with
the same SP key) and verifying on its own — over a corpus of accepted and refused encrypted Responses — and
the default validator must refuse, for an encrypted Response, what only python3-saml checks.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML
from saml_factory import IDP_ENTITY, NOW, SP, idp_key, spec, trust

from broker.federation.saml import onelogin
from broker.federation.saml.config import SpConfig, sp_config
from broker.federation.saml.errors import SamlError
from broker.federation.saml.sp_keys import generate_sp_key_pair
from broker.federation.saml.validate import Checked, IdpTrust, SamlValidator, check_structure_and_signatures
from broker.federation.saml.xmlsafe import parse_message
from idp_fixtures.saml.response import (
    NS_SAML,
    SignOptions,
    _assertion,
    _response,
    encrypt_assertion,
    new_id,
    sign_element,
)

RELAXED = sp_config("https://broker.example.com", want_assertions_signed=False)
PAIR = generate_sp_key_pair(SP.entity_id, NOW)
OTHER = generate_sp_key_pair(SP.entity_id, NOW)
KEYS = (PAIR.private_key_pem,)
CERT_PEM = x509.load_der_x509_certificate(PAIR.certificate_der).public_bytes(Encoding.PEM)

Mutate = Callable[[etree._Element, etree._Element], None]


def encrypted(mutate: Mutate | None = None, *, sign: str = "assertion", algorithm: str = "aes256-gcm",
              key: Any = None, options: dict[str, Any] | None = None, **changes: Any) -> str:
    """A Response whose assertion, changed by ``mutate`` before signing, is signed, then encrypted to PAIR."""
    s = spec(**changes)
    response = _response(s, new_id())
    assertion = _assertion(s, new_id())
    response.append(assertion)
    if mutate is not None:
        mutate(response, assertion)
    opts = SignOptions(key=key or idp_key(), sign=sign, **(options or {}))  # type: ignore[arg-type]
    if sign in ("assertion", "both"):
        sign_element(assertion, opts)
    encrypt_assertion(response, assertion, CERT_PEM, algorithm)
    if sign in ("response", "both"):
        sign_element(response, opts)
    return base64.b64encode(etree.tostring(response)).decode("ascii")


def _unknown_attribute(_: etree._Element, assertion: etree._Element) -> None:
    assertion.set("Unexpected", "x")  # not allowed by saml:AssertionType


def _issuer_last(_: etree._Element, assertion: etree._Element) -> None:
    assertion.append(assertion[0])  # Issuer must come first


Case = tuple[str, str, SpConfig, IdpTrust, datetime, str | None]


@cache
def corpus() -> tuple[Case, ...]:
    return tuple(_corpus())


def _corpus() -> Iterator[Case]:
    late = NOW + timedelta(hours=2)
    yield "assertion signed", encrypted(), SP, trust(), NOW, None
    yield "assertion signed, aes128-cbc", encrypted(algorithm="aes128-cbc"), SP, trust(), NOW, None
    yield "both signed", encrypted(sign="both"), SP, trust(), NOW, None
    yield "response signed, assertions must be signed", encrypted(sign="response"), SP, trust(), NOW, None
    yield "response signed, relaxed", encrypted(sign="response"), RELAXED, trust(), NOW, None
    yield "ecdsa", encrypted(key=idp_key("ec", "ec"), options={"signature_algorithm": "ecdsa-sha256"}), SP, \
        trust(idp_key("ec", "ec")), NOW, None
    yield "rollover, second certificate", encrypted(key=idp_key("next")), SP, trust(idp_key(), idp_key("next")), \
        NOW, None
    yield "no AttributeStatement", encrypted(attributes={}), SP, trust(), NOW, None
    yield "unknown attribute (schema)", encrypted(_unknown_attribute), SP, trust(), NOW, None
    yield "Issuer out of order (schema)", encrypted(_issuer_last), SP, trust(), NOW, None
    yield "wrong audience", encrypted(audience="https://other.example/saml/metadata"), SP, trust(), NOW, None
    yield "recipient with a suffix", encrypted(recipient=SP.acs_url + "/x"), SP, trust(), NOW, None
    yield "wrong assertion issuer", encrypted(assertion_issuer="https://evil.example/"), SP, trust(), NOW, None
    yield "expired", encrypted(), SP, trust(), late, None
    yield "session ended", encrypted(session_not_on_or_after=NOW - timedelta(minutes=5)), SP, trust(), NOW, None
    yield "sp-initiated, matching", encrypted(in_response_to="_req1"), SP, trust(), NOW, "_req1"
    yield "sp-initiated, other request", encrypted(in_response_to="_req1"), SP, trust(), NOW, "_req2"


def _verdict(fn: Callable[[], None]) -> tuple[str, ...]:
    try:
        fn()
    except SamlError as exc:
        return ("refused", *exc.problems)
    return ("accepted",)


def _checked(message: str, idp: IdpTrust | None = None) -> Checked:
    return check_structure_and_signatures(parse_message(base64.b64decode(message)), idp or trust(), lambda: KEYS)


def _shared(message: str, checked: Checked, **kw: Any) -> tuple[str, ...]:
    return _verdict(lambda: onelogin.cross_check(message, document=checked.document, verified=checked.verified,
                                                 decrypted=checked.decrypted, sp_private_key=checked.sp_key, **kw))


@pytest.mark.parametrize("case", corpus(), ids=lambda c: c[0])
def test_cross_check_of_an_encrypted_response_equals_python3_saml_decrypting_alone(case: Case) -> None:
    _, message, sp, idp, now, irt = case
    checked = _checked(message, idp)
    assert checked.decrypted is not None and checked.sp_key == PAIR.private_key_pem
    kw: dict[str, Any] = {"sp": sp, "idp": idp, "now": now, "expected_in_response_to": irt}
    alone = _verdict(lambda: onelogin.cross_check(message, sp_private_key=PAIR.private_key_pem, **kw))
    assert _shared(message, checked, **kw) == alone


def test_the_encrypted_corpus_holds_accepted_and_refused_responses() -> None:
    verdicts = {name: _verdict(lambda m=m, s=s, i=i, n=n, r=r: onelogin.cross_check(
        m, sp=s, idp=i, now=n, expected_in_response_to=r, sp_private_key=PAIR.private_key_pem))
        for name, m, s, i, n, r in corpus()}
    assert verdicts["assertion signed"] == ("accepted",)
    assert verdicts["response signed, relaxed"] == ("accepted",)
    assert verdicts["no AttributeStatement"][0] == "refused"
    assert "saml-schema-protocol" in verdicts["unknown attribute (schema)"][1]
    assert sum(v == ("accepted",) for v in verdicts.values()) >= 5
    assert sum(v[0] == "refused" for v in verdicts.values()) >= 9


def test_brokers_decrypted_copy_is_the_one_python3_saml_builds() -> None:
    for _, message, sp, idp, _, _ in corpus():
        settings = onelogin._settings_with_key(sp, IDP_ENTITY, tuple(idp.certificates), PAIR.private_key_pem)
        library = OneLogin_Saml2_Response(settings, message)
        checked = _checked(message, idp)
        assert checked.decrypted is not None
        ours = onelogin._ParsedResponse(settings, checked.document, checked.decrypted)
        assert set(vars(ours)) == set(vars(library)) and ours.encrypted is library.encrypted is True
        assert etree.tostring(ours.decrypted_document, method="c14n") == etree.tostring(
            library.decrypted_document, method="c14n")
        assert etree.tostring(ours.document, method="c14n") == etree.tostring(library.document, method="c14n")


def test_every_query_on_an_encrypted_response_equals_the_librarys(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[str] = set()

    def both(dom: Any, query: str, context: Any = None, tagid: str | None = None) -> Any:
        fast = onelogin._query(dom, query, context, tagid)
        assert fast == onelogin._library_query(dom, query, context, tagid)
        seen.add(query)
        return fast

    monkeypatch.setattr(OneLogin_Saml2_XML, "query", staticmethod(both))
    for _, message, sp, idp, now, irt in corpus():
        _shared(message, _checked(message, idp), sp=sp, idp=idp, now=now, expected_in_response_to=irt)
    assert len(seen) >= 20


# --- the default validator: the second opinion now covers encrypted assertions ---------------------


def test_the_default_validator_refuses_for_an_encrypted_response_what_only_python3_saml_checks() -> None:
    for message in (encrypted(attributes={}), encrypted(_unknown_attribute)):
        SamlValidator(SP, sp_private_keys=lambda: KEYS, cross_check=False).validate(message, idp=trust(), now=NOW)
        with pytest.raises(SamlError) as info:
            SamlValidator(SP, sp_private_keys=lambda: KEYS).validate(message, idp=trust(), now=NOW)
        assert info.value.problems[0].startswith("python3-saml refused the response")


def test_the_default_validator_cross_checks_an_encrypted_response(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    real = onelogin.cross_check

    def spy(message: str, **kw: Any) -> None:
        calls.append(kw)
        real(message, **kw)

    monkeypatch.setattr(onelogin, "cross_check", spy)
    result = SamlValidator(SP, sp_private_keys=lambda: (OTHER.private_key_pem, PAIR.private_key_pem)).validate(
        encrypted(), idp=trust(), now=NOW)
    assert result.encrypted
    (kw,) = calls
    assert kw["decrypted"] is not None and kw["sp_private_key"] == PAIR.private_key_pem  # the key that opened it
    assert len(kw["verified"]) == 1 and kw["verified"][0][0].getparent() is not None


# --- the shared answers are never a blanket "yes" -----------------------------------------------------


def test_the_assertion_signature_must_be_one_broker_verified_in_the_decrypted_copy() -> None:
    message = encrypted(sign="both")
    checked = _checked(message)
    assert checked.decrypted is not None and len(checked.verified) == 2
    response_only = tuple(v for v in checked.verified if v[0].getparent() is checked.document)
    verdict = _verdict(lambda: onelogin.cross_check(
        message, sp=SP, idp=trust(), now=NOW, expected_in_response_to=None, document=checked.document,
        verified=response_only, decrypted=checked.decrypted))
    assert verdict == ("refused", "python3-saml refused the response: Signature validation failed. SAML Response "
                                  "rejected")


def test_a_decrypted_copy_from_another_parse_is_not_accepted() -> None:
    message = encrypted()
    checked, foreign = _checked(message), _checked(message)  # same bytes, other trees: identity is what counts
    verdict = _verdict(lambda: onelogin.cross_check(
        message, sp=SP, idp=trust(), now=NOW, expected_in_response_to=None, document=checked.document,
        verified=checked.verified, decrypted=foreign.decrypted))
    assert verdict[0] == "refused"


def test_an_encrypted_document_without_its_decrypted_copy_is_refused() -> None:
    message = encrypted()
    checked = _checked(message)
    verdict = _verdict(lambda: onelogin.cross_check(
        message, sp=SP, idp=trust(), now=NOW, expected_in_response_to=None, document=checked.document,
        verified=checked.verified))
    assert verdict == ("refused", "python3-saml cross-check: an encrypted Response needs its decrypted copy")


def test_a_decrypted_copy_beside_a_plain_response_is_refused() -> None:
    from saml_factory import signed

    message = signed()
    root = parse_message(base64.b64decode(message))
    plain = check_structure_and_signatures(root, trust(), lambda: ())
    other = _checked(encrypted())
    verdict = _verdict(lambda: onelogin.cross_check(
        message, sp=SP, idp=trust(), now=NOW, expected_in_response_to=None, document=plain.document,
        verified=plain.verified, decrypted=other.decrypted))
    assert verdict[0] == "refused"


def test_the_decrypted_copy_refuses_ids_that_collide_with_the_response() -> None:
    def same_id(response: etree._Element, assertion: etree._Element) -> None:
        assertion.set("ID", str(response.get("ID")))

    with pytest.raises(SamlError, match="duplicate ID"):
        _checked(encrypted(same_id))


# --- without the adapter: python3-saml decrypts on its own --------------------------------------------


def test_without_the_adapter_python3_saml_decrypts_with_the_key_broker_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onelogin, "ADAPTED", False)
    message = encrypted()
    checked = _checked(message)
    bogus = ((etree.Element("x"), b"nothing"),)  # ignored by the general path
    kw: dict[str, Any] = {"sp": SP, "idp": trust(), "now": NOW, "expected_in_response_to": None}
    assert _verdict(lambda: onelogin.cross_check(message, document=checked.document, verified=bogus,
                                                 decrypted=checked.decrypted, sp_private_key=checked.sp_key,
                                                 **kw)) == ("accepted",)
    # no key, or another key: python3-saml cannot decrypt, and refuses
    assert _verdict(lambda: onelogin.cross_check(message, **kw))[0] == "refused"
    assert _verdict(lambda: onelogin.cross_check(message, sp_private_key=OTHER.private_key_pem, **kw))[0] == "refused"
    SamlValidator(SP, sp_private_keys=lambda: KEYS).validate(message, idp=trust(), now=NOW)
    with pytest.raises(SamlError, match="python3-saml refused"):
        SamlValidator(SP, sp_private_keys=lambda: KEYS).validate(encrypted(attributes={}), idp=trust(), now=NOW)


def test_python3_saml_alone_refuses_a_tampered_ciphertext() -> None:
    raw = base64.b64decode(encrypted()).decode()
    start = raw.index("<xenc:CipherValue>", raw.index("</xenc:EncryptedKey>")) + len("<xenc:CipherValue>")
    flipped = raw[:start + 10] + ("A" if raw[start + 10] != "A" else "B") + raw[start + 11:]
    message = base64.b64encode(flipped.encode()).decode()
    assert _verdict(lambda: onelogin.cross_check(message, sp=SP, idp=trust(), now=NOW, expected_in_response_to=None,
                                                 sp_private_key=PAIR.private_key_pem))[0] == "refused"
    with pytest.raises(SamlError):
        SamlValidator(SP, sp_private_keys=lambda: KEYS).validate(message, idp=trust(), now=NOW)


def test_the_received_response_is_left_as_received() -> None:
    message = encrypted()
    checked = _checked(message)
    assert checked.assertion.tag == f"{{{NS_SAML}}}Assertion" and checked.assertion.getparent() is checked.decrypted
    received = parse_message(base64.b64decode(message))
    assert etree.tostring(checked.document, method="c14n") == etree.tostring(received, method="c14n")
