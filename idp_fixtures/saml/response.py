"""Building, signing and encrypting SAML 2.0 Responses (the fixture IdP's core; importable by tests).

Layout follows "Assertions and Protocols for the OASIS SAML V2.0" (saml-core-2.0-os) §2.3.3 (Assertion),
§2.4 (Subject, SubjectConfirmation), §2.5 (Conditions), §2.7.2 (AuthnStatement), §2.7.3 (AttributeStatement),
§3.2.2 (Response) and §5.4 (XML Signature profile: enveloped, exclusive c14n, the ``ds:Signature`` right after
``saml:Issuer``). Encryption follows §2.3.4 (``EncryptedAssertion``) with XML Encryption 1.0/1.1.
Signing and encryption use the ``xmlsec`` module (libxmlsec1).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

import xmlsec
from lxml import etree

from idp_fixtures.saml.keys import KeyPair

__all__ = [
    "AWS_ROLE",
    "AWS_ROLE_SESSION_NAME",
    "AWS_SESSION_DURATION",
    "NS_SAML",
    "NS_SAMLP",
    "ResponseSpec",
    "SignOptions",
    "build_response",
    "encode_response",
    "new_id",
]

NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_XENC = "http://www.w3.org/2001/04/xmlenc#"
NSMAP = {"saml": NS_SAML, "samlp": NS_SAMLP}
PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
ATTRNAME_URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"

AWS_ROLE = "https://aws.amazon.com/SAML/Attributes/Role"
AWS_ROLE_SESSION_NAME = "https://aws.amazon.com/SAML/Attributes/RoleSessionName"
AWS_SESSION_DURATION = "https://aws.amazon.com/SAML/Attributes/SessionDuration"

SignWhat = Literal["none", "assertion", "response", "both"]

_SIG_ALGS: dict[str, xmlsec.constants.__Transform] = {
    "rsa-sha1": xmlsec.constants.TransformRsaSha1,
    "rsa-sha256": xmlsec.constants.TransformRsaSha256,
    "rsa-sha384": xmlsec.constants.TransformRsaSha384,
    "rsa-sha512": xmlsec.constants.TransformRsaSha512,
    "ecdsa-sha256": xmlsec.constants.TransformEcdsaSha256,
    "ecdsa-sha384": xmlsec.constants.TransformEcdsaSha384,
}
_DIGESTS: dict[str, xmlsec.constants.__Transform] = {
    "sha1": xmlsec.constants.TransformSha1,
    "sha256": xmlsec.constants.TransformSha256,
    "sha384": xmlsec.constants.TransformSha384,
    "sha512": xmlsec.constants.TransformSha512,
}
_ENC_ALGS: dict[str, tuple[xmlsec.constants.__Transform, int]] = {
    "aes128-cbc": (xmlsec.constants.TransformAes128Cbc, 128),
    "aes256-cbc": (xmlsec.constants.TransformAes256Cbc, 256),
    "aes128-gcm": (xmlsec.constants.TransformAes128Gcm, 128),
    "aes256-gcm": (xmlsec.constants.TransformAes256Gcm, 256),
}
SIGNATURE_ALGORITHMS = tuple(_SIG_ALGS)
DIGEST_ALGORITHMS = tuple(_DIGESTS)
ENCRYPTION_ALGORITHMS = tuple(_ENC_ALGS)


def new_id() -> str:
    """An xs:ID (must not start with a digit): ``_`` + 40 hex characters."""
    return "_" + secrets.token_hex(20)


def _ts(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ResponseSpec:
    """Everything that goes into one Response. ``recipient``/``destination`` default to ``acs_url``."""

    issuer: str
    audience: str
    acs_url: str
    name_id: str
    now: datetime
    attributes: Mapping[str, Sequence[str]] = field(default_factory=dict)
    name_id_format: str | None = PERSISTENT
    in_response_to: str | None = None
    lifetime_seconds: int = 300
    not_before: datetime | None = None
    session_not_on_or_after: datetime | None = None
    recipient: str | None = None
    destination: str | None = None
    assertion_issuer: str | None = None
    response_id: str | None = None
    assertion_id: str | None = None
    status: str = SUCCESS
    include_audience: bool = True

    def with_(self, **changes: object) -> ResponseSpec:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SignOptions:
    """What to sign, with which key and algorithms, and optional encryption to the SP's certificate."""

    key: KeyPair | None
    sign: SignWhat = "assertion"
    signature_algorithm: str = "rsa-sha256"
    digest_algorithm: str = "sha256"
    embed_certificate: bool = True
    encrypt_to_cert_pem: bytes | None = None
    encryption_algorithm: str = "aes256-cbc"


def _sub(parent: etree._Element, ns: str, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ns}}}{tag}", attrib=attrs)
    if text is not None:
        el.text = text
    return el


def _assertion(spec: ResponseSpec, aid: str) -> etree._Element:
    expires = spec.now + timedelta(seconds=spec.lifetime_seconds)
    a = etree.Element(f"{{{NS_SAML}}}Assertion", nsmap={"saml": NS_SAML}, ID=aid, Version="2.0",
                      IssueInstant=_ts(spec.now))
    _sub(a, NS_SAML, "Issuer", spec.assertion_issuer or spec.issuer)
    subject = _sub(a, NS_SAML, "Subject")
    nid = _sub(subject, NS_SAML, "NameID", spec.name_id)
    if spec.name_id_format:
        nid.set("Format", spec.name_id_format)
    sc = _sub(subject, NS_SAML, "SubjectConfirmation", Method=BEARER)
    scd = _sub(sc, NS_SAML, "SubjectConfirmationData", NotOnOrAfter=_ts(expires),
               Recipient=spec.recipient if spec.recipient is not None else spec.acs_url)
    if spec.in_response_to:
        scd.set("InResponseTo", spec.in_response_to)
    conditions = _sub(a, NS_SAML, "Conditions", NotBefore=_ts(spec.not_before or spec.now - timedelta(seconds=5)),
                      NotOnOrAfter=_ts(expires))
    if spec.include_audience:
        _sub(_sub(conditions, NS_SAML, "AudienceRestriction"), NS_SAML, "Audience", spec.audience)
    authn = _sub(a, NS_SAML, "AuthnStatement", AuthnInstant=_ts(spec.now), SessionIndex=new_id())
    if spec.session_not_on_or_after is not None:
        authn.set("SessionNotOnOrAfter", _ts(spec.session_not_on_or_after))
    _sub(_sub(authn, NS_SAML, "AuthnContext"), NS_SAML, "AuthnContextClassRef",
         "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")
    if spec.attributes:
        stmt = _sub(a, NS_SAML, "AttributeStatement")
        for name, values in spec.attributes.items():
            attr = _sub(stmt, NS_SAML, "Attribute", Name=name, NameFormat=ATTRNAME_URI)
            for value in values:
                _sub(attr, NS_SAML, "AttributeValue", value)
    return a


def _response(spec: ResponseSpec, rid: str) -> etree._Element:
    r = etree.Element(f"{{{NS_SAMLP}}}Response", nsmap=NSMAP, ID=rid, Version="2.0", IssueInstant=_ts(spec.now),
                      Destination=spec.destination if spec.destination is not None else spec.acs_url)
    if spec.in_response_to:
        r.set("InResponseTo", spec.in_response_to)
    _sub(r, NS_SAML, "Issuer", spec.issuer)
    _sub(_sub(r, NS_SAMLP, "Status"), NS_SAMLP, "StatusCode", Value=spec.status)
    return r


def sign_element(element: etree._Element, options: SignOptions) -> None:
    """Enveloped signature over ``element`` (by its ``ID``), placed right after its ``saml:Issuer``."""
    if options.key is None:
        raise ValueError("signing needs a key")
    sig = xmlsec.template.create(element, xmlsec.constants.TransformExclC14N,
                                 _SIG_ALGS[options.signature_algorithm], ns="ds")
    issuer = element.find(f"{{{NS_SAML}}}Issuer")
    if issuer is not None:
        issuer.addnext(sig)
    else:
        element.insert(0, sig)
    ref = xmlsec.template.add_reference(sig, _DIGESTS[options.digest_algorithm], uri="#" + element.get("ID", ""))
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformEnveloped)
    xmlsec.template.add_transform(ref, xmlsec.constants.TransformExclC14N)
    if options.embed_certificate:
        xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(sig))
    xmlsec.tree.add_ids(element, ["ID"])
    ctx = xmlsec.SignatureContext()
    key = xmlsec.Key.from_memory(options.key.key_pem, xmlsec.constants.KeyDataFormatPem)
    key.load_cert_from_memory(options.key.cert_pem, xmlsec.constants.KeyDataFormatCertPem)
    ctx.key = key
    ctx.sign(sig)


def encrypt_assertion(response: etree._Element, assertion: etree._Element, cert_pem: bytes, algorithm: str) -> None:
    """Replace ``assertion`` by ``saml:EncryptedAssertion`` (session key wrapped with RSA-OAEP to ``cert_pem``)."""
    transform, bits = _ENC_ALGS[algorithm]
    enc_data = xmlsec.template.encrypted_data_create(response, transform, type=xmlsec.constants.TypeEncElement,
                                                     ns="xenc")
    xmlsec.template.encrypted_data_ensure_cipher_value(enc_data)
    key_info = xmlsec.template.encrypted_data_ensure_key_info(enc_data, ns="ds")
    enc_key = xmlsec.template.add_encrypted_key(key_info, xmlsec.constants.TransformRsaOaep)
    xmlsec.template.encrypted_data_ensure_cipher_value(enc_key)
    manager = xmlsec.KeysManager()
    manager.add_key(xmlsec.Key.from_memory(cert_pem, xmlsec.constants.KeyDataFormatCertPem, None))
    ctx = xmlsec.EncryptionContext(manager)
    ctx.key = xmlsec.Key.generate(xmlsec.constants.KeyDataAes, bits, xmlsec.constants.KeyDataTypeSession)
    wrapper = etree.Element(f"{{{NS_SAML}}}EncryptedAssertion", nsmap={"saml": NS_SAML})
    assertion.addprevious(wrapper)
    wrapper.append(assertion)
    ctx.encrypt_xml(enc_data, assertion)


def build_response(spec: ResponseSpec, options: SignOptions) -> etree._Element:
    """The Response element, signed (assertion first, then response) and optionally encrypted."""
    response = _response(spec, spec.response_id or new_id())
    assertion = _assertion(spec, spec.assertion_id or new_id())
    response.append(assertion)
    if options.sign in ("assertion", "both"):
        sign_element(assertion, options)
    if options.encrypt_to_cert_pem is not None:
        encrypt_assertion(response, assertion, options.encrypt_to_cert_pem, options.encryption_algorithm)
    if options.sign in ("response", "both"):
        sign_element(response, options)
    return response


def encode_response(response: etree._Element | bytes) -> str:
    """Base64 of the serialized Response, as the POST binding and ``AssumeRoleWithSAML`` carry it."""
    raw = response if isinstance(response, bytes) else etree.tostring(response)
    return base64.b64encode(raw).decode("ascii")
