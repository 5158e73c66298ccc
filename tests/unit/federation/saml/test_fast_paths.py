"""broker's own validator shortcuts equal the general forms they replaced.

- the xmlsec key built from the certificate's public key verifies exactly what the key built from the
  certificate verifies (valid, tampered, other key, expired and not-yet-valid certificates, RSA and EC);
- ``check_unique_ids`` (one compiled XPath) refuses exactly what the element walk refused.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree
from saml_factory import idp_key, signed

from broker.federation.saml import signature
from broker.federation.saml.errors import SamlError
from broker.federation.saml.xmlsafe import parse_message
from idp_fixtures.saml.keys import KeyPair, generate_key_pair


def _cert_key(der: bytes) -> xmlsec.Key:
    """The general form: the key loaded from the certificate (what python3-saml does)."""
    pem = x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)
    return xmlsec.Key.from_memory(pem, xmlsec.constants.KeyDataFormatCertPem)


def _der(key: KeyPair) -> bytes:
    return x509.load_pem_x509_certificate(key.cert_pem).public_bytes(Encoding.DER)


def _verifies(message: str, key: xmlsec.Key) -> bool:
    root = parse_message(base64.b64decode(message))
    xmlsec.tree.add_ids(root, ["ID"])
    sig = next(root.iter(f"{{{signature.NS['ds']}}}Signature"))
    ctx = signature._context()
    ctx.key = key
    try:
        ctx.verify(sig)
    except xmlsec.Error:
        return False
    return True


_OLD = generate_key_pair("old", not_before=datetime(2001, 1, 1, tzinfo=UTC), days=10)
_FUTURE = generate_key_pair("future", not_before=datetime(2090, 1, 1, tzinfo=UTC), days=10)


@pytest.mark.parametrize(("signer", "verifier", "tamper"), [
    ("main", "main", False), ("main", "main", True), ("main", "next", False),
    ("ec", "ec", False), ("ec", "ec", True), ("ec", "main", False),
    ("old", "old", False), ("future", "future", False),
])
def test_public_key_verifies_exactly_what_the_certificate_key_verifies(signer: str, verifier: str,
                                                                         tamper: bool) -> None:
    keys = {"main": idp_key(), "next": idp_key("next"), "ec": idp_key("ec", "ec"), "old": _OLD, "future": _FUTURE}
    options = {"signature_algorithm": "ecdsa-sha256"} if signer == "ec" else {}
    message = signed(key=keys[signer], options=options)
    if tamper:
        message = base64.b64encode(base64.b64decode(message).replace(b">alice<", b">admin<")).decode()
    der = _der(keys[verifier])
    fast = _verifies(message, signature._key(der))
    assert fast == _verifies(message, _cert_key(der))
    assert fast == (signer == verifier and not tamper)


def _walk(root: etree._Element) -> str | None:
    """The element walk ``check_unique_ids`` used before: the first duplicate value, or None."""
    seen: set[str] = set()
    for element in root.iter(etree.Element):
        for name in ("ID", "Id", "id"):
            value = element.get(name)
            if value is None:
                continue
            if value in seen:
                return value
            seen.add(value)
    return None


_DOCS = [
    b'<a ID="1"><b ID="2"/><c Id="3"/><d id="4"/></a>',
    b'<a ID="1"><b ID="1"/></a>',
    b'<a ID="1" Id="1"/>',
    b'<a ID="1"><b id="1"/></a>',
    b'<a ID="1"><b Id="2"><c id="2"/></b></a>',
    b'<a xmlns:x="urn:x" ID="1"><b x:ID="1"/></a>',
    b'<a xml:id="k1" ID="2"><b ID="k1"/></a>',
    b'<a ID="1"><!-- c --><b ID="x"/><b ID="y"/><b ID="x"/></a>',
    b'<a iD="1"><b ID="1"/></a>',
    b'<a/>',
]


@pytest.mark.parametrize("xml", _DOCS)
def test_unique_ids_refuses_exactly_what_the_element_walk_refused(xml: bytes) -> None:
    root = etree.fromstring(xml)
    duplicate = _walk(root)
    if duplicate is None:
        signature.check_unique_ids(root)
        return
    with pytest.raises(SamlError) as info:
        signature.check_unique_ids(root)
    assert info.value.problems == [f"duplicate ID {duplicate!r} in the SAML message"]


def test_unique_ids_looks_only_below_the_element_it_is_given() -> None:
    root = etree.fromstring(b'<r ID="1"><a ID="2"><b ID="3"/></a><c ID="3"/></r>')
    signature.check_unique_ids(root[0])  # the duplicate "3" is outside <a>
    with pytest.raises(SamlError):
        signature.check_unique_ids(root)
