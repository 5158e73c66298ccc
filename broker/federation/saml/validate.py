"""Validating a SAML Response: decode → parse → structure → signatures → semantics (→ python3-saml).

The order matters. Structure first: the root is a ``samlp:Response``, every ID is unique and the
document holds exactly one ``Assertion`` or ``EncryptedAssertion`` anywhere, as a direct child of the
Response (saml-profiles-2.0-os §4.1.4.2; this ends the XML-signature-wrapping family, in which a
second assertion is placed before, after or inside the signed one, or the signed one is moved into
``Extensions``/``Object``). Then signatures (:mod:`~broker.federation.saml.signature`): the assertion
must be covered by a valid signature from a metadata certificate — its own, or, when
:attr:`SpConfig.want_assertions_signed` is off, the Response's. Then the semantic checks with broker's
clock (:mod:`~broker.federation.saml.assertion`). Finally python3-saml's own strict ``is_valid`` runs
as a second opinion (:mod:`~broker.federation.saml.onelogin`), with its settings built from the same
frozen config and broker's clock. The replay cache lives in the store and is the service's job.

An ``EncryptedAssertion`` gets the same second opinion: python3-saml checks the Response as received
(its signature covers the ciphertext) and, beside it, the Response with broker's decryption of the
assertion in place — what python3-saml's own constructor builds (``decrypted_document``), decrypted by
the same xmlsec call with the SP key that opened it (docs/saml/validation.md, "Encrypted assertions").
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from lxml import etree

from broker.federation.saml.assertion import ValidatedAssertion, check_assertion
from broker.federation.saml.config import SpConfig
from broker.federation.saml.decrypt import decrypt_assertion_with_key
from broker.federation.saml.errors import SamlError
from broker.federation.saml.signature import NS, check_unique_ids, verify_signatures
from broker.federation.saml.xmlsafe import decode_post, decode_redirect, parse_message

__all__ = ["Checked", "IdpTrust", "SamlValidator", "check_structure_and_signatures"]

_RESPONSE = f"{{{NS['samlp']}}}Response"
_ASSERTION = f"{{{NS['saml']}}}Assertion"
_ENCRYPTED = f"{{{NS['saml']}}}EncryptedAssertion"


@dataclass(frozen=True, slots=True)
class IdpTrust:
    """What broker trusts about one SAML provider: its entity id and signing certificates (DER)."""

    entity_id: str
    certificates: tuple[bytes, ...]


def _single_assertion(root: etree._Element) -> etree._Element:
    if root.tag != _RESPONSE:
        raise SamlError(["the SAML message is not a samlp:Response"])
    found = [e for e in root.iter(_ASSERTION, _ENCRYPTED)]
    if len(found) != 1:
        raise SamlError([f"the Response must contain exactly one assertion, found {len(found)}"])
    if found[0].getparent() is not root:
        raise SamlError(["the assertion must be a direct child of the Response"])
    return found[0]


@dataclass(frozen=True, slots=True)
class Checked:
    """A Response after the structural, decryption and signature steps (before the semantic checks)."""

    document: etree._Element
    """The Response as received (with its ``EncryptedAssertion`` when encrypted)."""
    decrypted: etree._Element | None
    """Encrypted only: a copy of the Response with the decrypted ``Assertion`` in place of the encrypted one."""
    assertion: etree._Element
    """The plaintext assertion (inside ``decrypted`` when encrypted)."""
    response_signed: bool
    assertion_signed: bool
    verified: tuple[tuple[etree._Element, bytes], ...]
    """Every ``ds:Signature`` element broker's xmlsec verification accepted, with its certificate."""
    sp_key: bytes | None = None
    """Encrypted only: the SP private key (PEM) that decrypted the assertion."""

    @property
    def response(self) -> etree._Element:
        """The Response whose assertion is :attr:`assertion` (the decrypted copy when encrypted)."""
        return self.decrypted if self.decrypted is not None else self.document


def check_structure_and_signatures(
    root: etree._Element, idp: IdpTrust, sp_private_keys: Callable[[], Sequence[bytes]]
) -> Checked:
    """Unique IDs, exactly one assertion as a direct child, every signature verified (and decryption)."""
    check_unique_ids(root)
    assertion = _single_assertion(root)
    if assertion.tag != _ENCRYPTED:
        parts = verify_signatures(root, assertion, idp.certificates)
        return Checked(root, None, assertion, parts.response, parts.assertion, parts.verified)
    parts = verify_signatures(root, assertion, idp.certificates)
    plain, key = decrypt_assertion_with_key(assertion, sp_private_keys())
    if sum(1 for _ in plain.iter(_ASSERTION, _ENCRYPTED)) != 1:
        raise SamlError(["the decrypted assertion contains another assertion"])
    for _node in plain.iter(etree.Comment, etree.ProcessingInstruction):
        raise SamlError(["XML comments and processing instructions are not allowed in SAML messages"])
    check_unique_ids(plain)
    inner = verify_signatures(plain, plain, idp.certificates)
    # python3-saml's decrypted_document: a copy of the Response, the decrypted Assertion in place of the
    # encrypted one; the received Response stays as it is (its signature covers the ciphertext)
    decrypted = copy.deepcopy(root)
    decrypted.replace(decrypted[root.index(assertion)], plain)
    check_unique_ids(decrypted)
    return Checked(root, decrypted, plain, parts.response, inner.response, parts.verified + inner.verified, key)


class SamlValidator:
    """Validates SAML Responses for one SP configuration. Thread-safe; keep one per process."""

    def __init__(
        self,
        sp: SpConfig,
        *,
        sp_private_keys: Callable[[], Sequence[bytes]] = lambda: (),
        cross_check: bool = True,
    ) -> None:
        self.sp = sp
        self._sp_private_keys = sp_private_keys
        self.cross_check = cross_check

    def decode(self, message: str, binding: Literal["post", "redirect"] = "post") -> bytes:
        if binding == "redirect":
            return decode_redirect(message, max_chars=self.sp.max_b64_chars, max_xml_bytes=self.sp.max_xml_bytes)
        return decode_post(message, max_chars=self.sp.max_b64_chars, max_xml_bytes=self.sp.max_xml_bytes)

    def validate(
        self,
        message_b64: str,
        *,
        idp: IdpTrust,
        now: datetime,
        expected_in_response_to: str | None = None,
    ) -> ValidatedAssertion:
        """Validate a base64 (HTTP-POST binding) ``samlp:Response``; raise :class:`SamlError` with every reason."""
        xml = self.decode(message_b64)
        checked = check_structure_and_signatures(parse_message(xml), idp, self._sp_private_keys)
        response_signed, assertion_signed = checked.response_signed, checked.assertion_signed
        if not assertion_signed and not (response_signed and not self.sp.want_assertions_signed):
            if response_signed:
                raise SamlError(["the Assertion is not signed (broker requires signed assertions)"])
            raise SamlError(["the SAML Response is not signed (Response signature invalid)"])
        result = check_assertion(
            checked.response, checked.assertion, sp=self.sp, idp_entity_id=idp.entity_id, now=now,
            expected_in_response_to=expected_in_response_to, response_signed=response_signed,
            assertion_signed=assertion_signed, encrypted=checked.decrypted is not None,
        )
        if self.cross_check:
            from broker.federation.saml.onelogin import cross_check

            cross_check(message_b64, sp=self.sp, idp=idp, now=now, expected_in_response_to=expected_in_response_to,
                        document=checked.document, verified=checked.verified, decrypted=checked.decrypted,
                        sp_private_key=checked.sp_key)
        return result
