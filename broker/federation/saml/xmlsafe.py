"""Decoding and parsing untrusted SAML messages without DTDs, entities or unbounded input.

Bindings (saml-bindings-2.0-os): HTTP-POST carries base64 of the XML (§3.5.4); HTTP-Redirect carries
base64 of the DEFLATE-compressed XML (§3.4.4.1, RFC 1951). Both are bounded here: the base64 text
before decoding, the XML after decoding or inflating (a deflate bomb stops at the limit).

Parsing refuses any ``<!DOCTYPE``/``<!ENTITY`` before lxml sees the bytes, and lxml runs with entity
resolution, DTD loading and network access off. Comments and processing instructions are refused
everywhere: exclusive canonicalization drops comments, so a comment can split a signed ``NameID`` or
attribute value without breaking its signature (CVE-2017-11427 family, "Duo finds SAML
vulnerabilities affecting multiple implementations", 2018).
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib

from lxml import etree

from broker.federation.saml.errors import SamlError

__all__ = ["decode_post", "decode_redirect", "parse_message"]

_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=False,
    remove_pis=False,
    collect_ids=False,
)


def _b64(text: str, max_chars: int) -> bytes:
    if len(text) > max_chars:
        raise SamlError([f"the SAML message is longer than {max_chars} characters"])
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SamlError(["the SAML message is not valid base64"]) from exc


def decode_post(text: str, *, max_chars: int, max_xml_bytes: int) -> bytes:
    """The XML of an HTTP-POST binding message (base64), bounded."""
    raw = _b64(text, max_chars)
    if len(raw) > max_xml_bytes:
        raise SamlError([f"the decoded SAML message is larger than {max_xml_bytes} bytes"])
    return raw


def decode_redirect(text: str, *, max_chars: int, max_xml_bytes: int) -> bytes:
    """The XML of an HTTP-Redirect binding message (base64 of raw DEFLATE), inflated at most ``max_xml_bytes``."""
    raw = _b64(text, max_chars)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, max_xml_bytes + 1)
    except zlib.error as exc:
        raise SamlError(["the SAML message is not valid DEFLATE data"]) from exc
    if len(out) > max_xml_bytes or inflater.unconsumed_tail:
        raise SamlError([f"the inflated SAML message is larger than {max_xml_bytes} bytes"])
    return out


def parse_message(xml: bytes) -> etree._Element:
    """Parse one SAML message; refuses DTDs, entities, comments and processing instructions."""
    if _FORBIDDEN.search(xml):
        raise SamlError(["DOCTYPE and ENTITY declarations are not allowed in SAML messages"])
    try:
        root = etree.fromstring(xml, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SamlError([f"the SAML message is not well-formed XML ({exc.msg})"]) from exc
    if root is None:
        raise SamlError(["the SAML message is empty"])
    for node in root.iter(etree.Comment, etree.ProcessingInstruction, etree.Entity):
        kind = "comment" if isinstance(node, etree._Comment) else "processing instruction or entity"
        raise SamlError([f"XML {kind}s are not allowed in SAML messages"])
    return root
