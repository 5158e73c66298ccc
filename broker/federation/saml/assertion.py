"""The semantic checks on the single assertion of a verified SAML Response, with broker's clock.

SAML 2.0 Web Browser SSO profile, saml-profiles-2.0-os §4.1.4.2 "<Response> Usage" and §4.1.4.3
"<Response> Message Processing Rules", and saml-core-2.0-os §2.5.1 (Conditions), §2.4.1.2
(SubjectConfirmationData), §3.2.2 (``Destination``, ``InResponseTo``). Checked exactly, never by prefix
or substring:

- the Response ``Destination`` and the bearer ``SubjectConfirmationData/@Recipient`` equal the ACS URL;
- the Response and Assertion ``Issuer`` equal the provider's metadata ``entityID``;
- ``Conditions`` is present with an ``AudienceRestriction`` and every ``AudienceRestriction`` names
  broker's SP entity id; ``NotBefore``/``NotOnOrAfter`` hold with ``BROKER_CLOCK_SKEW_SECONDS``;
- exactly one bearer ``SubjectConfirmation``; its ``NotOnOrAfter`` is required and not passed;
- ``InResponseTo`` (Response and SubjectConfirmationData) equals the request id of an SP-initiated
  login and is absent from an IdP-initiated one (§4.1.5 "Unsolicited Responses");
- ``NameID`` is present and non-empty; ``NameID`` and attribute values are plain text.

AWS's version of the same list: IAM User Guide, "Configure SAML assertions for the authentication
response" (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_saml_assertions.html).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lxml import etree

from broker.federation.saml.config import SpConfig
from broker.federation.saml.errors import SamlError
from broker.federation.saml.metadata import parse_xml_datetime
from broker.federation.saml.signature import NS

__all__ = ["BEARER", "SUCCESS", "ValidatedAssertion", "check_assertion"]

BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
ENTITY_FORMAT = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"

_SAML, _SAMLP = f"{{{NS['saml']}}}", f"{{{NS['samlp']}}}"
_ISSUER, _CONDITIONS, _SUBJECT = f"{_SAML}Issuer", f"{_SAML}Conditions", f"{_SAML}Subject"
_AUDIENCE_RESTRICTION, _AUDIENCE, _NAME_ID = f"{_SAML}AudienceRestriction", f"{_SAML}Audience", f"{_SAML}NameID"
_SUBJECT_CONFIRMATION, _SUBJECT_CONFIRMATION_DATA = f"{_SAML}SubjectConfirmation", f"{_SAML}SubjectConfirmationData"
_ATTRIBUTE_STATEMENT, _ATTRIBUTE = f"{_SAML}AttributeStatement", f"{_SAML}Attribute"
_ATTRIBUTE_VALUE = f"{_SAML}AttributeValue"
_ENCRYPTED_ATTRIBUTE, _AUTHN_STATEMENT = f"{_SAML}EncryptedAttribute", f"{_SAML}AuthnStatement"
_STATUS, _STATUS_CODE = f"{_SAMLP}Status", f"{_SAMLP}StatusCode"


def _all(element: etree._Element, tag: str) -> list[etree._Element]:
    """The child elements named ``tag`` (what ``findall`` returns, without its path parser)."""
    return list(element.iterchildren(tag))


def _first(element: etree._Element | None, tag: str) -> etree._Element | None:
    return None if element is None else next(element.iterchildren(tag), None)


@dataclass(frozen=True, slots=True)
class ValidatedAssertion:
    """What a verified assertion says. ``attributes`` maps each ``Attribute/@Name`` to its values."""

    assertion_id: str
    response_id: str
    issuer: str
    name_id: str
    name_id_format: str | None
    recipient: str
    audience: str
    in_response_to: str | None
    not_on_or_after: datetime
    """The earliest end of validity (bearer confirmation and Conditions) — the replay-cache horizon."""
    session_not_on_or_after: datetime | None
    session_index: str | None
    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    response_signed: bool = False
    assertion_signed: bool = False
    encrypted: bool = False


def _text(element: etree._Element, what: str, problems: list[str]) -> str:
    if len(element):  # any child node: element, comment, PI
        problems.append(f"{what} must be plain text")
        return ""
    return (element.text or "").strip()


def _time(value: str | None, what: str, problems: list[str]) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_xml_datetime(value)
    except ValueError:
        problems.append(f"{what} {value[:40]!r} is not an xs:dateTime")
        return None


def _issuer(element: etree._Element, what: str, expected: str, problems: list[str], required: bool) -> str | None:
    found = _all(element, _ISSUER)
    if not found:
        if required:
            problems.append(f"the {what} has no Issuer")
        return None
    if len(found) > 1:
        problems.append(f"the {what} has more than one Issuer")
        return None
    issuer = found[0]
    fmt = issuer.get("Format")
    if fmt is not None and fmt != ENTITY_FORMAT:
        problems.append(f"the {what} Issuer Format must be {ENTITY_FORMAT}")
    value = _text(issuer, f"the {what} Issuer", problems)
    if value != expected:
        problems.append(f"the {what} Issuer {value[:200]!r} is not the provider's entity id {expected!r}")
    return value


def _status(root: etree._Element, problems: list[str]) -> None:
    code = _first(_first(root, _STATUS), _STATUS_CODE)
    if code is None or code.get("Value") != SUCCESS:
        problems.append(f"the Response status is not Success ({code.get('Value') if code is not None else 'missing'})")


def _conditions(
    assertion: etree._Element, sp: SpConfig, now: datetime, skew: timedelta, problems: list[str], expired: list[str]
) -> datetime | None:
    found = _all(assertion, _CONDITIONS)
    if len(found) != 1:
        problems.append(f"the Assertion must have exactly one Conditions element, found {len(found)}")
        return None
    conditions = found[0]
    restrictions = _all(conditions, _AUDIENCE_RESTRICTION)
    if not restrictions:
        problems.append("the Assertion has no AudienceRestriction (Response does not contain the required audience)")
    for restriction in restrictions:
        audiences = [_text(a, "Audience", problems) for a in _all(restriction, _AUDIENCE)]
        if sp.entity_id not in audiences:
            problems.append(f"the Response does not contain the required audience {sp.entity_id!r}")
    not_before = _time(conditions.get("NotBefore"), "Conditions NotBefore", problems)
    not_after = _time(conditions.get("NotOnOrAfter"), "Conditions NotOnOrAfter", problems)
    if not_before is not None and not_before > now + skew:
        expired.append(f"the assertion is not valid before {not_before.isoformat()}")
    if not_after is not None and now - skew >= not_after:
        expired.append(f"the assertion expired at {not_after.isoformat()} (Conditions NotOnOrAfter)")
    return not_after


def _subject(
    assertion: etree._Element, sp: SpConfig, now: datetime, skew: timedelta, expected_irt: str | None,
    problems: list[str], expired: list[str],
) -> tuple[str, str | None, datetime | None]:
    subject = _first(assertion, _SUBJECT)
    if subject is None:
        problems.append("the Assertion has no Subject")
        return "", None, None
    name_ids = _all(subject, _NAME_ID)
    name_id, fmt = "", None
    if len(name_ids) != 1:
        problems.append(f"the Subject must have exactly one NameID, found {len(name_ids)}")
    else:
        name_id, fmt = _text(name_ids[0], "NameID", problems), name_ids[0].get("Format")
        if not name_id:
            problems.append("the NameID is empty")
    bearers = [c for c in _all(subject, _SUBJECT_CONFIRMATION) if c.get("Method") == BEARER]
    if len(bearers) != 1:
        problems.append(f"the Subject must have exactly one bearer SubjectConfirmation, found {len(bearers)}")
        return name_id, fmt, None
    data = _first(bearers[0], _SUBJECT_CONFIRMATION_DATA)
    if data is None:
        problems.append("the bearer SubjectConfirmation has no SubjectConfirmationData")
        return name_id, fmt, None
    recipient = data.get("Recipient")
    if recipient != sp.acs_url:
        problems.append(f"the SubjectConfirmationData Recipient {str(recipient)[:200]!r} is not {sp.acs_url!r}")
    irt = data.get("InResponseTo")
    if expected_irt is None and irt is not None:
        problems.append("an unsolicited (IdP-initiated) assertion must not carry InResponseTo")
    elif expected_irt is not None and irt != expected_irt:
        problems.append("the SubjectConfirmationData InResponseTo does not match the authentication request")
    not_after = _time(data.get("NotOnOrAfter"), "SubjectConfirmationData NotOnOrAfter", problems)
    if data.get("NotOnOrAfter") is None:
        problems.append("the SubjectConfirmationData has no NotOnOrAfter")
    elif not_after is not None and now - skew >= not_after:
        expired.append(f"the assertion expired at {not_after.isoformat()} (SubjectConfirmationData NotOnOrAfter)")
    not_before = _time(data.get("NotBefore"), "SubjectConfirmationData NotBefore", problems)
    if not_before is not None and not_before > now + skew:
        expired.append(f"the subject confirmation is not valid before {not_before.isoformat()}")
    return name_id, fmt, not_after


def _attributes(assertion: etree._Element, problems: list[str]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    statements = _all(assertion, _ATTRIBUTE_STATEMENT)
    for attribute in (a for st in statements for a in st.iterchildren(_ATTRIBUTE)):
        name = attribute.get("Name")
        if not name:
            problems.append("an Attribute has no Name")
            continue
        values = out.setdefault(name, [])
        for value in attribute.iterchildren(_ATTRIBUTE_VALUE):
            values.append(_text(value, f"the value of attribute {name[:100]!r}", problems))
    if any(_first(st, _ENCRYPTED_ATTRIBUTE) is not None for st in statements):
        problems.append("EncryptedAttribute is not supported")
    return {k: tuple(v) for k, v in out.items()}


def _authn(assertion: etree._Element, problems: list[str]) -> tuple[datetime | None, str | None]:
    statements = _all(assertion, _AUTHN_STATEMENT)
    if len(statements) != 1:
        problems.append(f"the Assertion must have exactly one AuthnStatement, found {len(statements)}")
        return None, None
    st = statements[0]
    return _time(st.get("SessionNotOnOrAfter"), "SessionNotOnOrAfter", problems), st.get("SessionIndex")


def check_assertion(
    root: etree._Element,
    assertion: etree._Element,
    *,
    sp: SpConfig,
    idp_entity_id: str,
    now: datetime,
    expected_in_response_to: str | None,
    response_signed: bool = False,
    assertion_signed: bool = False,
    encrypted: bool = False,
) -> ValidatedAssertion:
    """Every semantic check on ``assertion`` (inside Response ``root``); all problems are collected.

    ``response_signed``, ``assertion_signed`` and ``encrypted`` are recorded in the result as given."""
    problems: list[str] = []
    expired: list[str] = []
    skew = timedelta(seconds=sp.clock_skew_seconds)
    if root.get("Version") != "2.0" or assertion.get("Version") != "2.0":
        problems.append("only SAML 2.0 Responses and Assertions are accepted")
    response_id, assertion_id = root.get("ID") or "", assertion.get("ID") or ""
    if not response_id or not assertion_id:
        problems.append("the Response and the Assertion must each have an ID")
    destination = root.get("Destination")
    if destination != sp.acs_url:
        problems.append(f"the Response Destination {str(destination)[:200]!r} is not {sp.acs_url!r}")
    irt = root.get("InResponseTo")
    if expected_in_response_to is None and irt is not None:
        problems.append("an unsolicited (IdP-initiated) Response must not carry InResponseTo")
    elif expected_in_response_to is not None and irt != expected_in_response_to:
        problems.append("the Response InResponseTo does not match the authentication request")
    _status(root, problems)
    issuer = _issuer(root, "Response", idp_entity_id, problems, required=False)
    issuer = _issuer(assertion, "Assertion", idp_entity_id, problems, required=True) or issuer or ""
    name_id, fmt, scd_after = _subject(assertion, sp, now, skew, expected_in_response_to, problems, expired)
    cond_after = _conditions(assertion, sp, now, skew, problems, expired)
    session_after, session_index = _authn(assertion, problems)
    if session_after is not None and now - skew >= session_after:
        expired.append(f"the IdP session ended at {session_after.isoformat()} (SessionNotOnOrAfter)")
    attributes = _attributes(assertion, problems)
    if problems:
        raise SamlError(problems + expired)
    if expired:
        raise SamlError(expired, kind="expired")
    assert scd_after is not None
    horizon = min(t for t in (scd_after, cond_after) if t is not None) + skew
    return ValidatedAssertion(
        assertion_id=assertion_id,
        response_id=response_id,
        issuer=issuer,
        name_id=name_id,
        name_id_format=fmt,
        recipient=sp.acs_url,
        audience=sp.entity_id,
        in_response_to=irt,
        not_on_or_after=horizon,
        session_not_on_or_after=session_after,
        session_index=session_index,
        attributes=attributes,
        response_signed=response_signed,
        assertion_signed=assertion_signed,
        encrypted=encrypted,
    )
