"""Safe parsing of SAML 2.0 IdP metadata documents.

What IAM extracts from a SAML provider's metadata (IAM User Guide, "Create a SAML identity provider in
IAM", https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_create_saml.html, and the
CreateSAMLProvider API reference, https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateSAMLProvider.html):
the IdP's ``entityID``, its signing certificates and ``validUntil``. Metadata layout follows
"Metadata for the OASIS SAML V2.0" (saml-metadata-2.0-os) §2.3.2 (EntityDescriptor), §2.4.3
(IDPSSODescriptor) and §2.4.1.1 (KeyDescriptor: ``use`` absent means signing *and* encryption).

Hardening (fail closed): the document is bounded in size; any ``<!DOCTYPE`` or ``<!ENTITY`` is refused
before parsing, and lxml is run with entity resolution, DTD loading and network access off, so XXE and
entity-expansion payloads never reach the parser. Every certificate must parse with
:mod:`cryptography.x509` (which also refuses duplicate extensions) and carry an RSA key of at least
2048 bits, an EC key on P-256 or larger, or an Ed25519/Ed448 key. AWS accepts 1024-bit RSA; broker does
not (deliberate difference, ``docs/compatibility.md``).

All problems are collected and reported together (:class:`MetadataError`).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

__all__ = [
    "MAX_METADATA_CHARS",
    "IdpMetadata",
    "MetadataError",
    "SingleSignOnService",
    "parse_idp_metadata",
]

MAX_METADATA_CHARS = 10_000_000
"""``SAMLMetadataDocumentType`` max length in the IAM API model."""
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256
MAX_ENTITY_ID = 1024

NS_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
SAML2_PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
_NS = {"md": NS_MD, "ds": NS_DS}
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class MetadataError(ValueError):
    """The document is not acceptable IdP metadata; ``problems`` lists every reason found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class SingleSignOnService:
    binding: str
    location: str


@dataclass(frozen=True, slots=True)
class IdpMetadata:
    """What broker keeps from an IdP's metadata."""

    entity_id: str
    signing_certificates: tuple[bytes, ...]
    """DER certificates in document order, duplicates removed (several during rollover)."""
    valid_until: datetime | None
    sso_services: tuple[SingleSignOnService, ...]

    @property
    def signing_certificates_b64(self) -> tuple[str, ...]:
        return tuple(base64.b64encode(c).decode("ascii") for c in self.signing_certificates)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
    )


def parse_xml_datetime(text: str) -> datetime:
    """An ``xs:dateTime`` as an aware UTC datetime; values without a zone are taken as UTC (SAML core §1.3.3)."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _check_key(cert: x509.Certificate, where: str) -> str | None:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            return f"{where}: RSA key of {key.key_size} bits is too small (at least {MIN_RSA_BITS} required)"
        return None
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.key_size < MIN_EC_BITS:
            return f"{where}: EC key on {key.curve.name} is too small (P-256 or larger required)"
        return None
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return None
    return f"{where}: unsupported public key type {type(key).__name__}"


def _certificate(text: str | None, where: str, problems: list[str]) -> bytes | None:
    compact = "".join((text or "").split())
    if not compact:
        problems.append(f"{where}: empty X509Certificate")
        return None
    try:
        der = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        problems.append(f"{where}: X509Certificate is not valid base64")
        return None
    try:
        cert = x509.load_der_x509_certificate(der)
        _ = cert.extensions  # refuses duplicate or malformed extensions
    except ValueError as exc:
        problems.append(f"{where}: X509Certificate does not parse ({exc})")
        return None
    problem = _check_key(cert, where)
    if problem is not None:
        problems.append(problem)
        return None
    return cert.public_bytes(Encoding.DER)


def _entity(root: etree._Element, problems: list[str]) -> etree._Element | None:
    if root.tag == f"{{{NS_MD}}}EntityDescriptor":
        return root
    if root.tag == f"{{{NS_MD}}}EntitiesDescriptor":
        idps = [e for e in root.iterfind("md:EntityDescriptor", _NS) if e.find("md:IDPSSODescriptor", _NS) is not None]
        if len(idps) == 1:
            return idps[0]
        problems.append(f"EntitiesDescriptor must contain exactly one IdP EntityDescriptor, found {len(idps)}")
        return None
    problems.append("the root element must be md:EntityDescriptor (urn:oasis:names:tc:SAML:2.0:metadata)")
    return None


def _valid_until(elements: list[etree._Element], problems: list[str], now: datetime | None) -> datetime | None:
    found: list[datetime] = []
    for element in elements:
        raw = element.get("validUntil")
        if raw is None:
            continue
        try:
            found.append(parse_xml_datetime(raw))
        except ValueError:
            problems.append(f"validUntil {raw[:64]!r} is not an xs:dateTime")
    if not found:
        return None
    earliest = min(found)
    if now is not None and earliest <= now:
        problems.append(f"the metadata expired at {earliest.isoformat()} (validUntil)")
    return earliest


def parse_idp_metadata(document: str | bytes, *, now: datetime | None = None) -> IdpMetadata:
    """Parse and check IdP metadata; raise :class:`MetadataError` with every problem found.

    ``now`` (optional) refuses a document whose ``validUntil`` has passed.
    """
    raw = document.encode("utf-8") if isinstance(document, str) else document
    if len(raw) > MAX_METADATA_CHARS:
        raise MetadataError([f"the metadata document is larger than {MAX_METADATA_CHARS} bytes"])
    if _FORBIDDEN.search(raw):
        raise MetadataError(["DOCTYPE and ENTITY declarations are not allowed in SAML metadata"])
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        raise MetadataError([f"the metadata document is not well-formed XML ({exc.msg})"]) from exc
    if root is None:
        raise MetadataError(["the metadata document is empty"])

    problems: list[str] = []
    entity = _entity(root, problems)
    if entity is None:
        raise MetadataError(problems)

    entity_id = (entity.get("entityID") or "").strip()
    if not entity_id:
        problems.append("EntityDescriptor has no entityID")
    elif len(entity_id) > MAX_ENTITY_ID:
        problems.append(f"entityID is longer than {MAX_ENTITY_ID} characters")

    idp = entity.find("md:IDPSSODescriptor", _NS)
    certs: list[bytes] = []
    sso: list[SingleSignOnService] = []
    if idp is None:
        problems.append("EntityDescriptor has no IDPSSODescriptor")
    else:
        if SAML2_PROTOCOL not in (idp.get("protocolSupportEnumeration") or "").split():
            problems.append(f"IDPSSODescriptor protocolSupportEnumeration does not list {SAML2_PROTOCOL}")
        for n, kd in enumerate(idp.iterfind("md:KeyDescriptor", _NS), start=1):
            if kd.get("use", "signing") != "signing":
                continue
            elements = kd.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", _NS)
            if not elements:
                problems.append(f"KeyDescriptor {n}: no ds:X509Certificate")
            for m, el in enumerate(elements, start=1):
                der = _certificate(el.text, f"KeyDescriptor {n} certificate {m}", problems)
                if der is not None and der not in certs:
                    certs.append(der)
        for svc in idp.iterfind("md:SingleSignOnService", _NS):
            binding, location = svc.get("Binding"), svc.get("Location")
            if binding and location:
                sso.append(SingleSignOnService(binding, location))
        if not certs and not any(p.startswith("KeyDescriptor") for p in problems):
            problems.append("IDPSSODescriptor has no signing certificate (KeyDescriptor use=\"signing\")")

    chain = [entity] if entity is root else [root, entity]
    valid_until = _valid_until(chain, problems, now)
    if problems:
        raise MetadataError(problems)
    return IdpMetadata(entity_id, tuple(certs), valid_until, tuple(sso))
