"""SP-initiated login: the ``samlp:AuthnRequest`` and its signed HTTP-Redirect binding URL.

The request follows saml-core-2.0-os §3.4.1 (AuthnRequest: ``ID``, ``Version``, ``IssueInstant``,
``Destination``, ``AssertionConsumerServiceURL``, ``ProtocolBinding``, ``Issuer``) and the Web Browser SSO
profile, saml-profiles-2.0-os §4.1.4.1 (``Issuer`` is the SP's entity id; the ACS URL is named so the IdP
cannot be steered elsewhere). The Redirect binding (saml-bindings-2.0-os §3.4.4.1) carries it DEFLATE-d
and base64-encoded; the signature is not an XML signature but covers the octets
``SAMLRequest=value&RelayState=value&SigAlg=value`` exactly as URL-encoded in the query string, with
``SigAlg`` naming the algorithm (RSA-SHA256 or ECDSA-SHA256; SHA-1 is never used).
Pure: the request id, the time and the key are parameters.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import quoteattr

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

__all__ = ["ECDSA_SHA256", "MAX_RELAY_STATE_BYTES", "RSA_SHA256", "AuthnRequest", "redirect_url"]

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
MAX_RELAY_STATE_BYTES = 80
"""saml-bindings-2.0-os §3.4.3: "The value MUST NOT exceed 80 bytes in length"."""


@dataclass(frozen=True, slots=True)
class AuthnRequest:
    """One AuthnRequest from broker (the SP) to an IdP's SingleSignOnService."""

    request_id: str
    issue_instant: datetime
    sp_entity_id: str
    acs_url: str
    destination: str

    def xml(self) -> bytes:
        instant = self.issue_instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
            f'ID={quoteattr(self.request_id)} Version="2.0" IssueInstant="{instant}" '
            f"Destination={quoteattr(self.destination)} AssertionConsumerServiceURL={quoteattr(self.acs_url)} "
            f'ProtocolBinding="{POST_BINDING}">'
            f"<saml:Issuer>{_text(self.sp_entity_id)}</saml:Issuer>"
            '<samlp:NameIDPolicy AllowCreate="true"/>'
            "</samlp:AuthnRequest>"
        ).encode()


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _deflate_b64(xml: bytes) -> str:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode("ascii")


def _signer(key_pem: bytes) -> tuple[str, Callable[[bytes], bytes]]:
    """``(SigAlg URI, sign(octets))`` for an RSA or EC private key (PEM)."""
    key = serialization.load_pem_private_key(key_pem, password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        rsa_key = key
        return RSA_SHA256, lambda octets: rsa_key.sign(octets, padding.PKCS1v15(), hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        ec_key = key
        return ECDSA_SHA256, lambda octets: ec_key.sign(octets, ec.ECDSA(hashes.SHA256()))
    raise ValueError("the SP signing key must be RSA or EC")


def redirect_url(request: AuthnRequest, *, relay_state: str | None, signing_key_pem: bytes | None) -> str:
    """The IdP URL carrying the request (and a signature when a key is given), bindings §3.4.4.1."""
    if relay_state is not None and len(relay_state.encode("utf-8")) > MAX_RELAY_STATE_BYTES:
        raise ValueError(f"RelayState must be at most {MAX_RELAY_STATE_BYTES} bytes")
    parts = [f"SAMLRequest={quote(_deflate_b64(request.xml()), safe='')}"]
    if relay_state is not None:
        parts.append(f"RelayState={quote(relay_state, safe='')}")
    if signing_key_pem is not None:
        sig_alg, sign = _signer(signing_key_pem)
        parts.append(f"SigAlg={quote(sig_alg, safe='')}")
        signature = sign("&".join(parts).encode("ascii"))
        parts.append(f"Signature={quote(base64.b64encode(signature).decode('ascii'), safe='')}")
    separator = "&" if urlsplit(request.destination).query else "?"
    return request.destination + separator + "&".join(parts)
