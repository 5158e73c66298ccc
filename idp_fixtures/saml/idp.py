"""The fixture SAML IdP as an object: users, keys (with rollover), signing options and fault modes.

Protocol references: "Bindings for the OASIS SAML V2.0" (saml-bindings-2.0-os) §3.4 (HTTP Redirect binding:
DEFLATE + base64 + URL encoding, ``SigAlg``/``Signature`` over the query string, §3.4.4.1) and §3.5 (HTTP POST
binding: an auto-submitting form carrying ``SAMLResponse`` and ``RelayState``); "Metadata for the OASIS SAML
V2.0" (saml-metadata-2.0-os) §2.4.3 (IDPSSODescriptor). Faults named in :data:`idp_fixtures.saml.faults.FAULTS`
are applied after signing; everything else wrong (issuer, audience, recipient, destination, time window,
algorithms, a key absent from metadata, no signature) is an option here.
"""

from __future__ import annotations

import base64
import html
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote_plus

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from lxml import etree

from idp_fixtures.saml.faults import apply_fault
from idp_fixtures.saml.keys import KeyPair, generate_key_pair
from idp_fixtures.saml.response import (
    AWS_ROLE,
    AWS_ROLE_SESSION_NAME,
    NS_SAML,
    NS_SAMLP,
    ResponseSpec,
    SignOptions,
    SignWhat,
    build_response,
    encode_response,
)

__all__ = ["AuthnRequestInfo", "SamlIdp", "User", "auto_post_form", "decode_redirect_message"]

NS_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
REDIRECT_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
MAX_INFLATED = 64 * 1024
_SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
_REDIRECT_HASHES: dict[str, hashes.HashAlgorithm] = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": hashes.SHA256(),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": hashes.SHA384(),
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": hashes.SHA512(),
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": hashes.SHA256(),
}


@dataclass
class User:
    """A user of the fixture IdP: its NameID and the attributes it releases."""

    name_id: str
    attributes: dict[str, list[str]] = field(default_factory=dict)
    name_id_format: str | None = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"

    @classmethod
    def aws(cls, name_id: str, roles: Sequence[tuple[str, str]], session_name: str | None = None,
            **extra: list[str]) -> User:
        """A user with AWS's ``Role`` (``role,provider`` pairs) and ``RoleSessionName`` attributes."""
        attrs: dict[str, list[str]] = {AWS_ROLE: [f"{role},{provider}" for role, provider in roles]}
        attrs[AWS_ROLE_SESSION_NAME] = [session_name or name_id]
        attrs.update(extra)
        return cls(name_id, attrs)


@dataclass(frozen=True)
class AuthnRequestInfo:
    """What the IdP read from an SP's AuthnRequest."""

    id: str
    issuer: str | None
    acs_url: str | None
    destination: str | None
    relay_state: str | None
    signature_valid: bool | None
    """``True``/``False`` when the IdP knows the SP's certificate and the request was signed; else ``None``."""
    sig_alg: str | None


def decode_redirect_message(value: str, *, limit: int = MAX_INFLATED) -> bytes:
    """base64 → raw DEFLATE → XML, refusing more than ``limit`` inflated bytes (bindings §3.4.4.1)."""
    raw = base64.b64decode(value, validate=False)
    inflater = zlib.decompressobj(-15)
    out = inflater.decompress(raw, limit + 1)
    if len(out) > limit or inflater.unconsumed_tail:
        raise ValueError("inflated message too large")
    return out


def auto_post_form(action: str, fields: Mapping[str, str | None]) -> str:
    """The POST binding's auto-submitting HTML form (bindings §3.5.4)."""
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}"/>' for k, v in fields.items()
        if v is not None
    )
    return (
        "<!DOCTYPE html><html><head><title>SAML POST</title></head>"
        '<body onload="document.forms[0].submit()">'
        f'<form method="post" action="{html.escape(action)}">{inputs}'
        '<noscript><button type="submit">Continue</button></noscript></form></body></html>'
    )


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class SamlIdp:
    """A configurable SAML 2.0 IdP. Mutate its attributes between requests to change behaviour."""

    entity_id: str = "https://idp.fixture.test/saml"
    base_url: str = "http://127.0.0.1:0"
    keys: list[KeyPair] = field(default_factory=lambda: [generate_key_pair()])
    signing_index: int = 0
    users: dict[str, User] = field(default_factory=dict)
    current_user: str | None = None
    sp_entity_id: str | None = None
    sp_acs_url: str | None = None
    sp_cert_pem: bytes | None = None
    """The SP's signing certificate: when set, signed AuthnRequests are verified (result in ``requests``)."""
    sign: SignWhat = "assertion"
    signature_algorithm: str = "rsa-sha256"
    digest_algorithm: str = "sha256"
    encrypt_to_cert_pem: bytes | None = None
    encryption_algorithm: str = "aes256-cbc"
    foreign_key: KeyPair | None = None
    """Sign with this key (embedded in KeyInfo) instead of one published in metadata."""
    fault: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    """:class:`ResponseSpec` fields to force (``issuer``, ``audience``, ``recipient``, ``destination``,
    ``lifetime_seconds``, ``not_before``, ``now``, ``in_response_to``, ``session_not_on_or_after``…)."""
    clock: Callable[[], datetime] = _now
    requests: list[AuthnRequestInfo] = field(default_factory=list)

    # -- keys and metadata -------------------------------------------------------------------------

    @property
    def signing_key(self) -> KeyPair:
        return self.foreign_key or self.keys[self.signing_index]

    def rollover(self, *, drop_old: bool = False) -> KeyPair:
        """Publish a new key and sign with it; the old one stays in metadata unless ``drop_old``."""
        new = generate_key_pair("saml-fixture-idp-next", kind=self.keys[self.signing_index].kind)
        if drop_old:
            self.keys = [new]
        else:
            self.keys.append(new)
        self.signing_index = len(self.keys) - 1
        return new

    def metadata(self, *, valid_until: datetime | None = None) -> str:
        """IdP metadata: entity id, every published signing certificate, the SSO endpoints."""
        until = f' validUntil="{valid_until.strftime("%Y-%m-%dT%H:%M:%SZ")}"' if valid_until else ""
        certs = "".join(
            '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data>'
            f"<ds:X509Certificate>{k.cert_b64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            for k in self.keys
        )
        sso = f"{self.base_url}/sso"
        return (
            f'<md:EntityDescriptor xmlns:md="{NS_MD}" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" '
            f'entityID="{html.escape(self.entity_id)}"{until}>'
            f'<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="{NS_SAMLP}">'
            f"{certs}"
            "<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>"
            f'<md:SingleSignOnService Binding="{REDIRECT_BINDING}" Location="{html.escape(sso)}"/>'
            f'<md:SingleSignOnService Binding="{POST_BINDING}" Location="{html.escape(sso)}"/>'
            "</md:IDPSSODescriptor></md:EntityDescriptor>"
        )

    # -- responses ---------------------------------------------------------------------------------

    def add_user(self, user: User) -> User:
        self.users[user.name_id] = user
        if self.current_user is None:
            self.current_user = user.name_id
        return user

    def response_xml(self, user: str | None = None, *, acs_url: str | None = None, audience: str | None = None,
                     in_response_to: str | None = None) -> bytes:
        """A serialized, signed (per the options) Response for ``user``, with the configured fault applied."""
        who = self.users[user or self.current_user or ""]
        acs = acs_url or self.sp_acs_url
        aud = audience or self.sp_entity_id
        if acs is None or aud is None:
            raise ValueError("the SP's ACS URL and entity id are needed (set sp_acs_url / sp_entity_id)")
        spec = ResponseSpec(
            issuer=self.entity_id, audience=aud, acs_url=acs, name_id=who.name_id, now=self.clock(),
            attributes=who.attributes, name_id_format=who.name_id_format, in_response_to=in_response_to,
        )
        if self.overrides:
            spec = spec.with_(**self.overrides)
        options = SignOptions(
            key=self.signing_key if self.sign != "none" else None, sign=self.sign,
            signature_algorithm=self.signature_algorithm, digest_algorithm=self.digest_algorithm,
            encrypt_to_cert_pem=self.encrypt_to_cert_pem, encryption_algorithm=self.encryption_algorithm,
        )
        xml = etree.tostring(build_response(spec, options))
        return apply_fault(xml, self.fault) if self.fault else xml

    def response_b64(self, user: str | None = None, **kwargs: Any) -> str:
        return encode_response(self.response_xml(user, **kwargs))

    def expired(self, seconds: int = 3600) -> None:
        """Make the next responses already expired (issued ``seconds`` ago with a 5-minute life)."""
        self.overrides["now"] = self.clock() - timedelta(seconds=seconds)

    # -- bindings ----------------------------------------------------------------------------------

    def read_authn_request(self, query: str) -> AuthnRequestInfo:
        """Decode a Redirect-binding AuthnRequest; verify its signature when the SP certificate is known."""
        pairs = parse_qsl(query, keep_blank_values=True)
        params = dict(pairs)
        xml = decode_redirect_message(params["SAMLRequest"])
        root = etree.fromstring(xml, _SAFE)
        if root.tag != f"{{{NS_SAMLP}}}AuthnRequest":
            raise ValueError(f"not an AuthnRequest: {root.tag}")
        issuer = root.findtext(f"{{{NS_SAML}}}Issuer")
        valid: bool | None = None
        if self.sp_cert_pem is not None and "Signature" in params:
            valid = self._redirect_signature_ok(query, params)
        info = AuthnRequestInfo(
            id=root.get("ID", ""), issuer=issuer, acs_url=root.get("AssertionConsumerServiceURL"),
            destination=root.get("Destination"), relay_state=params.get("RelayState"), signature_valid=valid,
            sig_alg=params.get("SigAlg"),
        )
        self.requests.append(info)
        return info

    def _redirect_signature_ok(self, query: str, params: Mapping[str, str]) -> bool:
        """bindings §3.4.4.1: the signature covers the raw ``SAMLRequest=…&RelayState=…&SigAlg=…`` octets."""
        raw = dict(part.split("=", 1) for part in query.split("&") if "=" in part)
        signed = "&".join(f"{k}={raw[k]}" for k in ("SAMLRequest", "RelayState", "SigAlg") if k in raw)
        digest = _REDIRECT_HASHES.get(params.get("SigAlg", ""))
        if digest is None or self.sp_cert_pem is None:
            return False
        public = x509.load_pem_x509_certificate(self.sp_cert_pem).public_key()
        signature = base64.b64decode(params["Signature"])
        try:
            if isinstance(public, rsa.RSAPublicKey):
                public.verify(signature, signed.encode(), padding.PKCS1v15(), digest)
            elif isinstance(public, ec.EllipticCurvePublicKey):
                public.verify(signature, signed.encode(), ec.ECDSA(digest))
            else:
                return False
        except InvalidSignature:
            return False
        return True

    def sso_form(self, query: str) -> str:
        """SP-initiated: answer an AuthnRequest with the POST-binding form to the SP's ACS."""
        info = self.read_authn_request(query)
        acs = info.acs_url or self.sp_acs_url or ""
        b64 = self.response_b64(acs_url=acs, audience=self.sp_entity_id or info.issuer, in_response_to=info.id)
        return auto_post_form(acs, {"SAMLResponse": b64, "RelayState": info.relay_state})

    def idp_initiated_form(self, user: str | None = None, relay_state: str | None = None) -> str:
        """IdP-initiated: an unsolicited Response (no ``InResponseTo``) posted to the SP's ACS."""
        acs = self.sp_acs_url or ""
        return auto_post_form(acs, {"SAMLResponse": self.response_b64(user), "RelayState": relay_state})


def redirect_query(params: Mapping[str, str]) -> str:
    return "&".join(f"{k}={quote_plus(v)}" for k, v in params.items())
