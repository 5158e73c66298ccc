"""Broker's own SP metadata document (``GET /saml/metadata``).

Layout: "Metadata for the OASIS SAML V2.0" (saml-metadata-2.0-os) §2.4.4 (SPSSODescriptor with
``AuthnRequestsSigned`` and ``WantAssertionsSigned``), §2.4.1.1 (KeyDescriptor ``use="signing"`` and
``use="encryption"``), §2.2.3 (AssertionConsumerService with the HTTP-POST binding, index 0, default).
During an SP key rollover every current certificate is published so IdPs can follow.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from xml.sax.saxutils import quoteattr

__all__ = ["sp_metadata_xml"]

NS_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
NAMEID_FORMATS = (
    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
    "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
)


def _key_descriptor(use: str, der: bytes) -> str:
    b64 = base64.b64encode(der).decode("ascii")
    return (
        f'<md:KeyDescriptor use="{use}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{b64}'
        "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
    )


def sp_metadata_xml(
    *, entity_id: str, acs_url: str, signing_certificates: Sequence[bytes], encryption_certificates: Sequence[bytes],
    want_assertions_signed: bool = True,
) -> str:
    """The SP metadata: entity id, ACS (HTTP-POST), signing and encryption certificates (DER in)."""
    keys = "".join(_key_descriptor("signing", c) for c in signing_certificates)
    keys += "".join(_key_descriptor("encryption", c) for c in encryption_certificates)
    formats = "".join(f"<md:NameIDFormat>{f}</md:NameIDFormat>" for f in NAMEID_FORMATS)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<md:EntityDescriptor xmlns:md="{NS_MD}" xmlns:ds="{NS_DS}" entityID={quoteattr(entity_id)}>'
        f'<md:SPSSODescriptor AuthnRequestsSigned="{"true" if signing_certificates else "false"}" '
        f'WantAssertionsSigned="{"true" if want_assertions_signed else "false"}" '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"{keys}{formats}"
        f'<md:AssertionConsumerService Binding="{POST_BINDING}" Location={quoteattr(acs_url)} index="0" '
        'isDefault="true"/>'
        "</md:SPSSODescriptor></md:EntityDescriptor>\n"
    )
