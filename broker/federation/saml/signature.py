"""XML signature checks on a SAML Response (XML-DSig 1.1 with the SAML profile, saml-core-2.0-os §5).

Every ``ds:Signature`` in the document must be an enveloped signature that is a direct child of the
Response or of its single Assertion, with exactly one ``Reference`` whose ``URI`` is ``#`` + the ID of
that parent (§5.4.2), only the enveloped-signature and exclusive-c14n transforms (§5.4.4), and a SHA-2
signature and digest method (:data:`~broker.federation.saml.config.ALLOWED_SIGNATURE_METHODS`). The
key is never taken from the message: ``KeyInfo`` is ignored and each certificate from the provider's
metadata is tried (several during rollover). Every ID in the document must be unique, so a reference
can only resolve to the element the signature sits in (the XML-signature-wrapping family).

Verification is done by xmlsec (libxmlsec1, the library python3-saml itself uses), with the allowed
transforms enforced by the signature context. The xmlsec key is the certificate's public key (SubjectPublicKeyInfo),
built once per certificate: a key loaded from the certificate itself carries the X.509 data, which xmlsec copies
on every use (about 180 µs per verification) and never consults when the key is set explicitly.
:attr:`SignedParts.verified` names the signature elements that verified and the certificate that verified each,
so python3-saml's cross-check can rely on this verification instead of repeating it
(:mod:`~broker.federation.saml.onelogin`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lxml import etree

from broker.federation.saml.config import ALLOWED_DIGEST_METHODS, ALLOWED_SIGNATURE_METHODS, ALLOWED_TRANSFORMS
from broker.federation.saml.errors import SamlError

__all__ = ["NS", "SignedParts", "check_unique_ids", "verify_signatures"]

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xenc": "http://www.w3.org/2001/04/xmlenc#",
}
_SIG = f"{{{NS['ds']}}}Signature"


@dataclass(frozen=True, slots=True)
class SignedParts:
    """Which parts carried a valid signature, and the index of the metadata certificate that verified."""

    response: bool
    assertion: bool
    certificate_index: int
    verified: tuple[tuple[etree._Element, bytes], ...] = ()
    """Each ``ds:Signature`` element that verified, with the DER certificate that verified it."""


@lru_cache(maxsize=256)
def _key(der: bytes) -> xmlsec.Key:
    """The xmlsec verification key of a metadata certificate (its public key only; cached per certificate)."""
    public = x509.load_der_x509_certificate(der).public_key()
    spki = public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return xmlsec.Key.from_memory(spki, xmlsec.constants.KeyDataFormatPem)


_IDS = etree.XPath("descendant-or-self::*/@ID | descendant-or-self::*/@Id | descendant-or-self::*/@id")


def check_unique_ids(root: etree._Element) -> None:
    """Refuse a document in which any ID value appears twice (a signature reference must be unambiguous).

    ``ID``, ``Id`` and ``id`` (unqualified) of ``root`` and every element below it, in one compiled XPath."""
    values = _IDS(root)
    assert isinstance(values, list)
    if len(set(values)) == len(values):
        return
    seen: set[object] = set()
    for value in values:
        if value in seen:
            raise SamlError([f"duplicate ID {str(value)[:64]!r} in the SAML message"])
        seen.add(value)


_DS = NS["ds"]
_SIGNED_INFO, _SIGNATURE_METHOD = f"{{{_DS}}}SignedInfo", f"{{{_DS}}}SignatureMethod"
_REFERENCE, _DIGEST_METHOD = f"{{{_DS}}}Reference", f"{{{_DS}}}DigestMethod"
_TRANSFORMS, _TRANSFORM = f"{{{_DS}}}Transforms", f"{{{_DS}}}Transform"


def _children(element: etree._Element, tag: str) -> list[etree._Element]:
    """The child elements named ``tag`` (Clark notation); a C-level walk, unlike ``findall``'s path parser."""
    return list(element.iterchildren(tag))


def _shape(sig: etree._Element, problems: list[str]) -> None:
    parent = sig.getparent()
    assert parent is not None
    owner = etree.QName(parent).localname
    signed_info = next(sig.iterchildren(_SIGNED_INFO), None)
    if signed_info is None:
        problems.append(f"the {owner} signature has no SignedInfo")
        return
    method = next(signed_info.iterchildren(_SIGNATURE_METHOD), None)
    algorithm = method.get("Algorithm") if method is not None else None
    if algorithm not in ALLOWED_SIGNATURE_METHODS:
        problems.append(f"the {owner} signature uses a refused algorithm {algorithm!r} (SHA-2 RSA or ECDSA required)")
    refs = _children(signed_info, _REFERENCE)
    if len(refs) != 1:
        problems.append(f"the {owner} signature must have exactly one Reference, found {len(refs)}")
        return
    ref = refs[0]
    parent_id = parent.get("ID")
    if not parent_id or ref.get("URI") != f"#{parent_id}":
        problems.append(f"the {owner} signature does not reference the element that contains it")
    digest = next(ref.iterchildren(_DIGEST_METHOD), None)
    digest_alg = digest.get("Algorithm") if digest is not None else None
    if digest_alg not in ALLOWED_DIGEST_METHODS:
        problems.append(f"the {owner} signature uses a refused digest {digest_alg!r} (SHA-256 or stronger required)")
    for transforms in ref.iterchildren(_TRANSFORMS):
        for transform in transforms.iterchildren(_TRANSFORM):
            if transform.get("Algorithm") not in ALLOWED_TRANSFORMS:
                problems.append(f"the {owner} signature uses a refused transform {transform.get('Algorithm')!r}")


_C = xmlsec.constants
_REFERENCE_TRANSFORMS = (
    _C.TransformEnveloped, _C.TransformExclC14N, _C.TransformExclC14NWithComments,
    _C.TransformSha256, _C.TransformSha384, _C.TransformSha512,
)
_SIGNATURE_TRANSFORMS = (
    _C.TransformExclC14N, _C.TransformExclC14NWithComments,
    _C.TransformRsaSha256, _C.TransformRsaSha384, _C.TransformRsaSha512,
    _C.TransformEcdsaSha256, _C.TransformEcdsaSha384, _C.TransformEcdsaSha512,
)


def _context() -> xmlsec.SignatureContext:
    """A context that runs only the allowed transforms (xmlsec refuses any other, SHA-1 included)."""
    ctx = xmlsec.SignatureContext()
    for t in _REFERENCE_TRANSFORMS:
        ctx.enable_reference_transform(t)
    for t in _SIGNATURE_TRANSFORMS:
        ctx.enable_signature_transform(t)
    return ctx


def _verify_one(sig: etree._Element, certificates: Sequence[bytes]) -> int | None:
    for index, der in enumerate(certificates):
        ctx = _context()
        try:
            ctx.key = _key(der)
            ctx.verify(sig)
        except (xmlsec.Error, ValueError):
            continue
        return index
    return None


def verify_signatures(
    root: etree._Element, assertion: etree._Element, certificates: Sequence[bytes]
) -> SignedParts:
    """Check every signature in ``root`` (the Response) whose only assertion is ``assertion``.

    Raises :class:`SamlError` when a signature is misplaced, uses a refused algorithm or does not verify
    with any of ``certificates``; returns which of Response and Assertion are signed.
    """
    problems: list[str] = []
    signatures = list(root.iter(_SIG))
    for sig in signatures:
        parent = sig.getparent()
        if parent is not root and parent is not assertion:
            problems.append("a Signature appears outside the Response and its Assertion")
    if problems:
        raise SamlError(problems)
    for sig in signatures:
        _shape(sig, problems)
    for owner in (root, assertion):
        if len(_children(owner, _SIG)) > 1:
            problems.append(f"the {etree.QName(owner).localname} carries more than one Signature")
    if problems:
        raise SamlError(problems)
    xmlsec.tree.add_ids(root, ["ID"])
    verified = -1
    response_signed = assertion_signed = False
    done: list[tuple[etree._Element, bytes]] = []
    for sig in signatures:
        index = _verify_one(sig, certificates)
        part = "Response" if sig.getparent() is root else "Assertion"
        if index is None:
            problems.append(f"the {part} signature is invalid or not made by a certificate in the provider's metadata")
            continue
        verified = index
        done.append((sig, certificates[index]))
        if part == "Response":
            response_signed = True
        else:
            assertion_signed = True
    if problems:
        raise SamlError(problems)
    return SignedParts(response_signed, assertion_signed, verified, tuple(done))
