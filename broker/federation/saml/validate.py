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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from lxml import etree

from broker.federation.saml.assertion import ValidatedAssertion, check_assertion
from broker.federation.saml.config import SpConfig
from broker.federation.saml.decrypt import decrypt_assertion
from broker.federation.saml.errors import SamlError
from broker.federation.saml.signature import NS, check_unique_ids, verify_signatures
from broker.federation.saml.xmlsafe import decode_post, decode_redirect, parse_message

__all__ = ["IdpTrust", "SamlValidator"]

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
        root = parse_message(xml)
        check_unique_ids(root)
        assertion = _single_assertion(root)
        encrypted = assertion.tag == _ENCRYPTED
        if encrypted:
            parts = verify_signatures(root, assertion, idp.certificates)
            plain = decrypt_assertion(assertion, self._sp_private_keys())
            if sum(1 for _ in plain.iter(_ASSERTION, _ENCRYPTED)) != 1:
                raise SamlError(["the decrypted assertion contains another assertion"])
            for _node in plain.iter(etree.Comment, etree.ProcessingInstruction):
                raise SamlError(["XML comments and processing instructions are not allowed in SAML messages"])
            check_unique_ids(plain)
            inner = verify_signatures(plain, plain, idp.certificates)
            response_signed, assertion_signed = parts.response, inner.response
            root.replace(assertion, plain)
            assertion = plain
        else:
            parts = verify_signatures(root, assertion, idp.certificates)
            response_signed, assertion_signed = parts.response, parts.assertion
        if not assertion_signed and not (response_signed and not self.sp.want_assertions_signed):
            if response_signed:
                raise SamlError(["the Assertion is not signed (broker requires signed assertions)"])
            raise SamlError(["the SAML Response is not signed (Response signature invalid)"])
        result = check_assertion(
            root, assertion, sp=self.sp, idp_entity_id=idp.entity_id, now=now,
            expected_in_response_to=expected_in_response_to, response_signed=response_signed,
            assertion_signed=assertion_signed, encrypted=encrypted,
        )
        if self.cross_check and not encrypted:
            from broker.federation.saml.onelogin import cross_check

            cross_check(message_b64, sp=self.sp, idp=idp, now=now, expected_in_response_to=expected_in_response_to,
                        document=root, verified=parts.verified)
        return result
