"""The service provider's SAML configuration: one typed, frozen object, every check on.

Broker is the SP. Its entity id is ``BROKER_PUBLIC_URL + "/saml/metadata"`` and its single Assertion
Consumer Service is ``BROKER_PUBLIC_URL + "/saml/acs"`` (SPEC.md §3.4). ``Recipient`` and ``Destination``
must equal the ACS URL exactly; ``Audience`` must equal the entity id exactly (SAML 2.0 core,
saml-core-2.0-os §2.5.1.4 AudienceRestriction, §2.4.1.2 SubjectConfirmationData; profiles
saml-profiles-2.0-os §4.1.4.3 "Response Message Processing Rules").

Size limits: ``SAMLAssertion`` is at most 100,000 characters in the STS API model
(API_AssumeRoleWithSAML, "Request Parameters",
https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithSAML.html); inflated
Redirect-binding messages are bounded by :attr:`SpConfig.max_xml_bytes`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ALLOWED_DIGEST_METHODS",
    "ALLOWED_SIGNATURE_METHODS",
    "ALLOWED_TRANSFORMS",
    "SpConfig",
    "sp_config",
]

ALLOWED_SIGNATURE_METHODS = frozenset({
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
})
"""SHA-2 RSA/ECDSA only (RFC 6931 §2.3.2, §2.3.6); SHA-1, MD5 and HMAC are refused."""
ALLOWED_DIGEST_METHODS = frozenset({
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
})
ALLOWED_TRANSFORMS = frozenset({
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
})
"""The SAML signature profile (saml-core-2.0-os §5.4.3, §5.4.4): enveloped + exclusive c14n."""


@dataclass(frozen=True, slots=True)
class SpConfig:
    """Broker as a SAML service provider. Build it with :func:`sp_config`."""

    entity_id: str
    acs_url: str
    clock_skew_seconds: int = 60
    want_assertions_signed: bool = True
    """The assertion itself must carry a valid signature. When ``False`` a valid Response signature
    (which covers the single assertion inside it) is enough, as AWS accepts. broker's own config keeps it
    ``True`` (and its metadata says so); the service builds a second validator with ``False`` only for the SAML
    providers the operator lists in ``BROKER_SAML_RESPONSE_SIGNED_PROVIDERS`` (``SamlSp.validator_for``)."""
    max_b64_chars: int = 100_000
    max_xml_bytes: int = 256 * 1024
    replay_namespace: str = "saml-assertion"

    def __post_init__(self) -> None:
        if not self.entity_id or not self.acs_url:
            raise ValueError("the SP entity id and ACS URL are required")
        if self.clock_skew_seconds < 0 or self.max_b64_chars < 4 or self.max_xml_bytes < 1024:
            raise ValueError("clock skew must be >= 0 and size limits positive")


def sp_config(public_url: str, *, clock_skew_seconds: int = 60, want_assertions_signed: bool = True) -> SpConfig:
    """The SP configuration for ``BROKER_PUBLIC_URL`` (trailing slash ignored)."""
    base = public_url.rstrip("/")
    return SpConfig(
        entity_id=f"{base}/saml/metadata",
        acs_url=f"{base}/saml/acs",
        clock_skew_seconds=clock_skew_seconds,
        want_assertions_signed=want_assertions_signed,
    )
