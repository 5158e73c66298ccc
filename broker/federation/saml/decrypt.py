"""Decrypting an ``EncryptedAssertion`` with broker's SP key (saml-core-2.0-os §2.3.4, §6.2; XML
Encryption 1.1). The key-transport algorithm must be RSA-OAEP (RSA PKCS#1 v1.5 key transport is
refused: Bleichenbacher-style oracles, "XML Encryption 1.1" §5.5.1 security note); the content
algorithm must be AES (GCM or CBC). Decryption itself is python3-saml's xmlsec call.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from lxml import etree
from onelogin.saml2.utils import OneLogin_Saml2_Utils  # type: ignore[import-untyped]

from broker.federation.saml.errors import SamlError
from broker.federation.saml.signature import NS

__all__ = ["ALLOWED_CONTENT_ENCRYPTION", "ALLOWED_KEY_TRANSPORT", "decrypt_assertion", "decrypt_assertion_with_key"]

ALLOWED_KEY_TRANSPORT = frozenset({
    "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
    "http://www.w3.org/2009/xmlenc11#rsa-oaep",
})
ALLOWED_CONTENT_ENCRYPTION = frozenset({
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
})
_ASSERTION = f"{{{NS['saml']}}}Assertion"


def _check_algorithms(encrypted: etree._Element) -> None:
    data = encrypted.find("xenc:EncryptedData", NS)
    if data is None:
        raise SamlError(["the EncryptedAssertion has no EncryptedData"])
    method = data.find("xenc:EncryptionMethod", NS)
    if method is None or method.get("Algorithm") not in ALLOWED_CONTENT_ENCRYPTION:
        raise SamlError(["the EncryptedAssertion uses a refused content encryption algorithm"])
    for key_method in encrypted.iter(f"{{{NS['xenc']}}}EncryptedKey"):
        m = key_method.find("xenc:EncryptionMethod", NS)
        if m is None or m.get("Algorithm") not in ALLOWED_KEY_TRANSPORT:
            raise SamlError(["the EncryptedAssertion uses a refused key transport algorithm (RSA-OAEP required)"])


def decrypt_assertion(encrypted: etree._Element, private_keys_pem: Sequence[bytes]) -> etree._Element:
    """The plaintext ``saml:Assertion`` of ``encrypted``, trying each SP key (newest first)."""
    return decrypt_assertion_with_key(encrypted, private_keys_pem)[0]


def decrypt_assertion_with_key(
    encrypted: etree._Element, private_keys_pem: Sequence[bytes]
) -> tuple[etree._Element, bytes]:
    """:func:`decrypt_assertion`, and the SP key (PEM) that decrypted it (python3-saml's general-path
    cross-check decrypts again with that key)."""
    if not private_keys_pem:
        raise SamlError(["the assertion is encrypted but broker has no SAML SP key"])
    _check_algorithms(encrypted)
    for pem in private_keys_pem:
        # Decrypt in place inside a copy: the plaintext is parsed in the context of EncryptedAssertion, so
        # namespace prefixes the IdP declared on outer elements still resolve.
        holder = copy.deepcopy(encrypted)
        data = holder.find("xenc:EncryptedData", NS)
        assert data is not None
        try:
            plain = OneLogin_Saml2_Utils.decrypt_element(data, pem.decode("ascii"), inplace=True)
        except Exception:  # noqa: S112 - xmlsec raises several types; any failure means "not this key"
            continue
        if isinstance(plain, etree._Element) and plain.tag == _ASSERTION and len(holder) == 1:
            return plain, pem
        raise SamlError(["the EncryptedAssertion does not contain exactly one saml:Assertion"])
    raise SamlError(["the EncryptedAssertion cannot be decrypted with broker's SP key"])
