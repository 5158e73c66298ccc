"""Fault modes: tampering applied to a built (and signed) Response, one function per attack class.

The XML Signature Wrapping family follows Somorovsky et al., "On Breaking SAML: Be Whoever You Want to Be"
(USENIX Security 2012), §4: an unsigned, attacker-chosen assertion placed before, after or inside the signed
one, or the signed assertion moved into an ``Extensions`` element while the forged one takes its place.
Every function takes and returns the serialized Response (bytes), so the signature bytes stay intact.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from lxml import etree

from idp_fixtures.saml.response import NS_SAML, NS_SAMLP, new_id

__all__ = ["FAULTS", "apply_fault"]

_SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _parse(xml: bytes) -> etree._Element:
    return etree.fromstring(xml, _SAFE)


def _forged(signed: etree._Element, name_id: str = "admin") -> etree._Element:
    """A copy of ``signed`` without its signature, with a new ID and another subject."""
    forged = copy.deepcopy(signed)
    for sig in forged.findall("{http://www.w3.org/2000/09/xmldsig#}Signature"):
        forged.remove(sig)
    forged.set("ID", new_id())
    nid = forged.find(f"{{{NS_SAML}}}Subject/{{{NS_SAML}}}NameID")
    if nid is not None:
        nid.text = name_id
    return forged


def _assertion(root: etree._Element) -> etree._Element:
    found = root.find(f"{{{NS_SAML}}}Assertion")
    if found is None:
        raise ValueError("the response has no plain Assertion to tamper with")
    return found


def xsw_before(xml: bytes) -> bytes:
    root = _parse(xml)
    signed = _assertion(root)
    signed.addprevious(_forged(signed))
    return etree.tostring(root)


def xsw_after(xml: bytes) -> bytes:
    root = _parse(xml)
    signed = _assertion(root)
    signed.addnext(_forged(signed))
    return etree.tostring(root)


def xsw_inside(xml: bytes) -> bytes:
    """The forged assertion wrapped inside the signed one (after its signature)."""
    root = _parse(xml)
    signed = _assertion(root)
    signed.append(_forged(signed))
    return etree.tostring(root)


def xsw_extensions(xml: bytes) -> bytes:
    """The signed assertion moved into ``samlp:Extensions``; a forged one takes its place."""
    root = _parse(xml)
    signed = _assertion(root)
    forged = _forged(signed)
    signed.addprevious(forged)
    ext = etree.Element(f"{{{NS_SAMLP}}}Extensions")
    issuer = root.find(f"{{{NS_SAML}}}Issuer")
    (issuer if issuer is not None else root[0]).addnext(ext)
    ext.append(signed)
    return etree.tostring(root)


def xsw_object(xml: bytes) -> bytes:
    """The signed assertion moved into a ``ds:Object`` inside its own signature; a forged one in its place."""
    root = _parse(xml)
    signed = _assertion(root)
    forged = _forged(signed)
    signed.addprevious(forged)
    sig = signed.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
    if sig is None:
        raise ValueError("the assertion is not signed")
    signed.remove(sig)
    forged.insert(1, sig)
    obj = etree.SubElement(sig, "{http://www.w3.org/2000/09/xmldsig#}Object")
    obj.append(signed)
    return etree.tostring(root)


def nameid_comment(xml: bytes) -> bytes:
    """``admin<!---->@evil`` style truncation (CVE-2017-11427 class): a comment splits the NameID text.

    Exclusive c14n drops comments, so the signature still verifies; a parser that reads only the first text
    node sees a different user.
    """
    nid_start = xml.find(b"<saml:NameID")
    if nid_start < 0:
        raise ValueError("no NameID")
    close = xml.find(b">", nid_start) + 1
    end = xml.find(b"</saml:NameID>", close)
    text = xml[close:end]
    split = max(1, len(text) // 2)
    return xml[:close] + text[:split] + b"<!---->" + text[split:] + xml[end:]


def doctype_entity(xml: bytes) -> bytes:
    """An internal DTD with an entity used in the NameID (XXE/entity-expansion class)."""
    decl = b'<!DOCTYPE samlp:Response [<!ENTITY x "expanded">]>'
    return decl + xml.replace(b"</saml:NameID>", b"&x;</saml:NameID>", 1)


def billion_laughs(xml: bytes) -> bytes:
    lol = b'<!ENTITY a "lollollollollollollollollollol">'
    for i in range(1, 10):
        prev = b"a" if i == 1 else b"a" + str(i - 1).encode()
        lol += b'<!ENTITY a' + str(i).encode() + b' "' + (b"&" + prev + b";") * 10 + b'">'
    return b"<!DOCTYPE samlp:Response [" + lol + b"]>" + xml.replace(b"</saml:NameID>", b"&a9;</saml:NameID>", 1)


def tamper_name_id(xml: bytes) -> bytes:
    """Change the NameID after signing: the digest no longer matches."""
    root = _parse(xml)
    for nid in root.iter(f"{{{NS_SAML}}}NameID"):
        nid.text = "admin"
    return etree.tostring(root)


FAULTS: dict[str, Callable[[bytes], bytes]] = {
    "xsw-before": xsw_before,
    "xsw-after": xsw_after,
    "xsw-inside": xsw_inside,
    "xsw-extensions": xsw_extensions,
    "xsw-object": xsw_object,
    "nameid-comment": nameid_comment,
    "doctype-entity": doctype_entity,
    "billion-laughs": billion_laughs,
    "tamper-nameid": tamper_name_id,
}
"""Post-signing faults by name. Faults that are just different values (wrong issuer, audience, recipient,
destination, expired, not yet valid, SHA-1, a certificate missing from metadata, unsigned) are
:class:`~idp_fixtures.saml.idp.SamlIdp` options instead."""


def apply_fault(xml: bytes, name: str) -> bytes:
    try:
        return FAULTS[name](xml)
    except KeyError:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}") from None
