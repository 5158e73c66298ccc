"""The python3-saml adapter (broker/federation/saml/onelogin.py) equals the library as shipped.

Each shortcut has its proof here: compiled XPath returns what ``element.xpath`` returns, the timestamp
parser returns (or raises) what ``parse_SAML_to_time`` does, and the cross-check on broker's tree with
broker's signature verification reaches the same verdict, with the same reason, as python3-saml parsing
and verifying on its own — over a corpus of accepted and refused Responses.
"""

from __future__ import annotations

import base64
import calendar
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest
from lxml import etree
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML
from saml_factory import IDP_ENTITY, NOW, SP, idp_key, signed, spec, trust

from broker.federation.saml import onelogin
from broker.federation.saml.config import SpConfig, sp_config
from broker.federation.saml.errors import SamlError
from broker.federation.saml.signature import check_unique_ids, verify_signatures
from broker.federation.saml.validate import IdpTrust, SamlValidator, _single_assertion
from broker.federation.saml.xmlsafe import parse_message
from idp_fixtures.saml.response import NS_SAML, SignOptions, _assertion, _response, new_id, sign_element

RELAXED = sp_config("https://broker.example.com", want_assertions_signed=False)


def test_the_installed_python3_saml_is_the_adapted_version() -> None:
    assert onelogin.ADAPTED, "python3-saml changed: re-read its internals, re-run these tests, extend TESTED_VERSIONS"
    assert OneLogin_Saml2_XML.query is onelogin._query
    assert OneLogin_Saml2_Utils.validate_node_sign is onelogin._validate_node_sign


# --- timestamps ------------------------------------------------------------------------------------

_TIMES = [
    "2026-03-01T12:00:00Z", "2026-03-01T12:00:00.5Z", "2026-03-01T12:00:00.123456Z", "2026-03-01T12:00:00.1234567Z",
    "2026-03-01T12:00:00", "2026-03-01t12:00:00z", "2026-3-1T1:2:3Z", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z",
    "2026-03-01T24:00:00Z", "2026-03-01T23:60:00Z", "2026-03-01T23:59:60Z", "2026-03-01T23:59:61Z",
    "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2026-03-01T12:00:00+00:00",
    "2026-03-01T12:00:00.Z", "", "garbage", " 2026-03-01T12:00:00Z", "2026-03-01T12:00:00Z ",
    "٢٠٢٦-03-01T12:00:00Z", "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2026-03-01T12:00:00ZZ",
]


def _outcome(fn: Callable[[], object]) -> tuple[str, object]:
    try:
        return "ok", fn()
    except Exception as exc:  # the type and message are what is compared
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("text", _TIMES)
def test_timestamp_parser_equals_the_library(text: str) -> None:
    assert _outcome(lambda: onelogin._parse_saml_time(text)) == _outcome(lambda: onelogin._library_parse_time(text))


def test_timestamp_parser_equals_the_library_on_random_instants() -> None:
    rng = random.Random(6)
    for _ in range(2000):
        when = datetime(1971, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(0, 4_000_000_000))
        text = when.strftime("%Y-%m-%dT%H:%M:%S") + rng.choice(["", ".0", ".123", ".999999"]) + "Z"
        fast = onelogin._parse_saml_time(text)
        assert fast == onelogin._library_parse_time(text) == calendar.timegm(when.utctimetuple())


# --- the corpus ------------------------------------------------------------------------------------


def _hand_signed(mutate: Callable[[etree._Element, etree._Element], None], sign: str = "assertion") -> str:
    """A Response changed by ``mutate(response, assertion)`` *before* signing (so the signature is valid)."""
    s = spec()
    response = _response(s, new_id())
    assertion = _assertion(s, new_id())
    response.append(assertion)
    mutate(response, assertion)
    options = SignOptions(key=idp_key(), sign=sign)  # type: ignore[arg-type]
    if sign in ("assertion", "both"):
        sign_element(assertion, options)
    if sign in ("response", "both"):
        sign_element(response, options)
    return base64.b64encode(etree.tostring(response)).decode("ascii")


def _unknown_attribute(_: etree._Element, assertion: etree._Element) -> None:
    assertion.set("Unexpected", "x")  # not allowed by saml:AssertionType


def _issuer_last(_: etree._Element, assertion: etree._Element) -> None:
    assertion.append(assertion[0])  # Issuer must come first


def _second_subject_confirmation(_: etree._Element, assertion: etree._Element) -> None:
    subject = assertion.find(f"{{{NS_SAML}}}Subject")
    assert subject is not None
    extra = etree.SubElement(subject, f"{{{NS_SAML}}}SubjectConfirmation",
                             Method="urn:oasis:names:tc:SAML:2.0:cm:holder-of-key")
    etree.SubElement(extra, f"{{{NS_SAML}}}SubjectConfirmationData", Recipient="https://elsewhere.example/")


Case = tuple[str, str, SpConfig, IdpTrust, datetime, str | None]


@cache
def corpus() -> tuple[Case, ...]:
    return tuple(_corpus())


def _corpus() -> Iterator[Case]:
    late = NOW + timedelta(hours=2)
    yield "assertion signed", signed(), SP, trust(), NOW, None
    yield "both signed", signed("both"), SP, trust(), NOW, None
    yield "response signed, assertions must be signed", signed("response"), SP, trust(), NOW, None
    yield "response signed, relaxed", signed("response"), RELAXED, trust(), NOW, None
    yield "ecdsa", signed(key=idp_key("ec", "ec"), options={"signature_algorithm": "ecdsa-sha256"}), SP, \
        trust(idp_key("ec", "ec")), NOW, None
    yield "sha512", signed(options={"signature_algorithm": "rsa-sha512", "digest_algorithm": "sha512"}), SP, \
        trust(), NOW, None
    yield "rollover, second certificate", signed(key=idp_key("next")), SP, trust(idp_key(), idp_key("next")), \
        NOW, None
    yield "rollover, first certificate", signed(), SP, trust(idp_key(), idp_key("next")), NOW, None
    yield "no AttributeStatement", signed(attributes={}), SP, trust(), NOW, None
    yield "unknown attribute (schema)", _hand_signed(_unknown_attribute), SP, trust(), NOW, None
    yield "Issuer out of order (schema)", _hand_signed(_issuer_last), SP, trust(), NOW, None
    yield "extra holder-of-key confirmation", _hand_signed(_second_subject_confirmation), SP, trust(), NOW, None
    yield "wrong audience", signed(audience="https://other.example/saml/metadata"), SP, trust(), NOW, None
    yield "no audience", signed(include_audience=False), SP, trust(), NOW, None
    yield "recipient with a suffix", signed(recipient=SP.acs_url + "/x"), SP, trust(), NOW, None
    yield "destination with a suffix", signed(destination=SP.acs_url + "x"), SP, trust(), NOW, None
    yield "wrong issuer", signed(issuer="https://evil.example/"), SP, trust(), NOW, None
    yield "wrong assertion issuer", signed(assertion_issuer="https://evil.example/"), SP, trust(), NOW, None
    yield "expired", signed(), SP, trust(), late, None
    yield "not yet valid", signed(not_before=NOW + timedelta(minutes=30)), SP, trust(), NOW, None
    yield "session ended", signed(session_not_on_or_after=NOW - timedelta(minutes=5)), SP, trust(), NOW, None
    yield "status failure", signed(status="urn:oasis:names:tc:SAML:2.0:status:Requester"), SP, trust(), NOW, None
    yield "sp-initiated, matching", signed(in_response_to="_req1"), SP, trust(), NOW, "_req1"
    yield "sp-initiated, other request", signed(in_response_to="_req1"), SP, trust(), NOW, "_req2"
    yield "unsolicited carrying InResponseTo", signed(in_response_to="_req1"), SP, trust(), NOW, None
    yield "fractional timestamps", _hand_signed(_fractional_times), SP, trust(), NOW, None


def _fractional_times(response: etree._Element, _: etree._Element) -> None:
    for element in response.iter():
        for name in ("IssueInstant", "NotBefore", "NotOnOrAfter", "AuthnInstant"):
            value = element.get(name)
            if value is not None:
                element.set(name, value[:-1] + ".250Z")


def _verdict(fn: Callable[[], None]) -> tuple[str, ...]:
    try:
        fn()
    except SamlError as exc:
        return ("refused", *exc.problems)
    return ("accepted",)


@pytest.mark.parametrize("case", corpus(), ids=lambda c: c[0])
def test_cross_check_on_brokers_tree_equals_python3_saml_alone(case: Case) -> None:
    _, message, sp, idp, now, irt = case
    root = parse_message(base64.b64decode(message))
    check_unique_ids(root)
    parts = verify_signatures(root, _single_assertion(root), idp.certificates)
    assert parts.verified
    kw: dict[str, Any] = {"sp": sp, "idp": idp, "now": now, "expected_in_response_to": irt}
    alone = _verdict(lambda: onelogin.cross_check(message, **kw))
    shared = _verdict(lambda: onelogin.cross_check(message, document=root, verified=parts.verified, **kw))
    assert shared == alone


def test_corpus_holds_accepted_and_refused_responses() -> None:
    verdicts = {name: _verdict(lambda m=m, s=s, i=i, n=n, r=r: onelogin.cross_check(
        m, sp=s, idp=i, now=n, expected_in_response_to=r)) for name, m, s, i, n, r in corpus()}
    assert verdicts["assertion signed"] == ("accepted",)
    assert verdicts["response signed, relaxed"] == ("accepted",)
    assert verdicts["no AttributeStatement"][0] == "refused"
    assert "saml-schema-protocol" in verdicts["unknown attribute (schema)"][1]
    assert "saml-schema-protocol" in verdicts["Issuer out of order (schema)"][1]


def test_every_query_of_a_validation_equals_the_librarys(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[str] = set()

    def both(dom: Any, query: str, context: Any = None, tagid: str | None = None) -> Any:
        fast = onelogin._query(dom, query, context, tagid)
        assert fast == onelogin._library_query(dom, query, context, tagid)
        seen.add(query)
        return fast

    monkeypatch.setattr(OneLogin_Saml2_XML, "query", staticmethod(both))
    for _, message, sp, idp, now, irt in corpus():
        kw: dict[str, Any] = {"sp": sp, "idp": idp, "now": now, "expected_in_response_to": irt}
        _verdict(lambda m=message, k=kw: onelogin.cross_check(m, **k))  # type: ignore[misc]
        root = parse_message(base64.b64decode(message))
        verified = verify_signatures(root, _single_assertion(root), idp.certificates).verified
        # shared tree: repeated queries come from the call's memo, and must still equal the library's answer
        _verdict(lambda m=message, k=kw, d=root, v=verified: onelogin.cross_check(  # type: ignore[misc]
            m, document=d, verified=v, **k))
    assert len(seen) >= 20


# --- the shared signature answer is never a blanket "yes" -----------------------------------------


def _parsed(message: str) -> tuple[etree._Element, tuple[tuple[etree._Element, bytes], ...]]:
    root = parse_message(base64.b64decode(message))
    return root, verify_signatures(root, _single_assertion(root), trust().certificates).verified


def test_cross_check_refuses_a_signature_broker_did_not_verify() -> None:
    message = signed("both")
    root, verified = _parsed(message)
    response_only = tuple(v for v in verified if v[0].getparent() is root)
    problems = _verdict(lambda: onelogin.cross_check(message, sp=SP, idp=trust(), now=NOW,
                                                     expected_in_response_to=None, document=root,
                                                     verified=response_only))
    assert problems == ("refused", "python3-saml refused the response: Signature validation failed. SAML Response "
                                   "rejected")


def test_cross_check_refuses_a_signature_verified_by_another_certificate() -> None:
    message = signed()
    root, verified = _parsed(message)
    other = tuple((node, trust(idp_key("next")).certificates[0]) for node, _ in verified)
    verdict = _verdict(lambda: onelogin.cross_check(message, sp=SP, idp=trust(), now=NOW,
                                                    expected_in_response_to=None, document=root, verified=other))
    assert verdict[0] == "refused"


def test_signature_elements_from_another_parse_are_not_accepted() -> None:
    message = signed()
    root, _ = _parsed(message)
    _, foreign = _parsed(message)  # same bytes, another tree: identity, not equality, is what counts
    verdict = _verdict(lambda: onelogin.cross_check(message, sp=SP, idp=trust(), now=NOW,
                                                    expected_in_response_to=None, document=root, verified=foreign))
    assert verdict[0] == "refused"


def test_outside_the_cross_check_python3_saml_verifies_on_its_own() -> None:
    tampered = base64.b64decode(signed()).replace(b">alice<", b">admin<")
    settings = onelogin._settings(SP, IDP_ENTITY, tuple(base64.b64encode(c).decode() for c in trust().certificates))
    response = OneLogin_Saml2_Response(settings, base64.b64encode(tampered).decode())
    token = onelogin._now.set(calendar.timegm(NOW.utctimetuple()))
    try:
        assert not response.is_valid(onelogin.request_data(SP.acs_url))
    finally:
        onelogin._now.reset(token)
    assert "Signature validation failed" in str(response.get_error())


def test_without_the_adapter_the_cross_check_runs_the_library_as_shipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onelogin, "ADAPTED", False)
    message = signed()
    root, _ = _parsed(message)
    # A verification record that would be refused if it were used: the general path ignores it.
    bogus = ((etree.Element("x"), b"nothing"),)
    assert _verdict(lambda: onelogin.cross_check(message, sp=SP, idp=trust(), now=NOW,
                                                 expected_in_response_to=None, document=root,
                                                 verified=bogus)) == ("accepted",)


def test_parsed_response_sets_what_the_library_constructor_sets() -> None:
    message = signed()
    settings = onelogin._settings(SP, IDP_ENTITY, tuple(base64.b64encode(c).decode() for c in trust().certificates))
    library = OneLogin_Saml2_Response(settings, message)
    ours = onelogin._ParsedResponse(settings, parse_message(base64.b64decode(message)))
    assert set(vars(ours)) == set(vars(library))


def test_the_default_validator_still_refuses_what_only_python3_saml_checks() -> None:
    # broker's own checks accept both; the cross-check (on by default) refuses them.
    for message in (signed(attributes={}), _hand_signed(_unknown_attribute)):
        SamlValidator(SP, cross_check=False).validate(message, idp=trust(), now=NOW)
        with pytest.raises(SamlError) as info:
            SamlValidator(SP).validate(message, idp=trust(), now=NOW)
        assert info.value.problems[0].startswith("python3-saml refused the response")
