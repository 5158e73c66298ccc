"""broker.federation.saml.metadata: what is extracted, and every class of bad document refused with its reason."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from saml_metadata_fixtures import (
    ENTITY_ID,
    b64,
    certificate,
    ec_key,
    key_descriptor,
    metadata,
    rsa_cert,
)

from broker.federation.saml.metadata import MetadataError, parse_idp_metadata

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def problems(document: str | bytes, now: datetime | None = None) -> list[str]:
    with pytest.raises(MetadataError) as info:
        parse_idp_metadata(document, now=now)
    return info.value.problems


def test_extracts_entity_id_certificate_valid_until_and_sso() -> None:
    md = parse_idp_metadata(metadata(), now=NOW)
    assert md.entity_id == ENTITY_ID
    assert md.signing_certificates == (rsa_cert(),)
    assert md.signing_certificates_b64 == (b64(rsa_cert()),)
    assert md.valid_until == datetime(2030, 1, 1, tzinfo=UTC)
    assert [(s.binding, s.location) for s in md.sso_services] == [
        ("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect", "https://idp.example.org/sso")
    ]


def test_keeps_every_signing_certificate_for_rollover_and_skips_encryption_keys() -> None:
    old, new = rsa_cert(2048, "old"), certificate(ec_key("secp256r1"), "new")
    enc = rsa_cert(2048, "enc")
    doc = metadata(
        key_descriptor(b64(old)),
        key_descriptor(b64(enc), use="encryption"),
        key_descriptor(b64(new), use=None),  # no use: signing and encryption (metadata §2.4.1.1)
        key_descriptor(b64(old)),  # duplicate is kept once
    )
    assert parse_idp_metadata(doc).signing_certificates == (old, new)


def test_valid_until_optional() -> None:
    assert parse_idp_metadata(metadata(valid_until=None)).valid_until is None


def test_valid_until_without_zone_is_utc_and_offsets_are_normalised() -> None:
    assert parse_idp_metadata(metadata(valid_until="2030-01-01T02:00:00+02:00")).valid_until == datetime(
        2030, 1, 1, tzinfo=UTC
    )
    assert parse_idp_metadata(metadata(valid_until="2030-01-01T00:00:00")).valid_until == datetime(
        2030, 1, 1, tzinfo=UTC
    )


def test_expired_metadata_refused_when_now_given() -> None:
    assert problems(metadata(valid_until="2025-12-31T23:59:59Z"), now=NOW) == [
        "the metadata expired at 2025-12-31T23:59:59+00:00 (validUntil)"
    ]
    assert problems(metadata(valid_until="2026-01-01T00:00:00Z"), now=NOW) == [
        "the metadata expired at 2026-01-01T00:00:00+00:00 (validUntil)"
    ]


def test_bad_valid_until() -> None:
    assert problems(metadata(valid_until="tomorrow")) == ["validUntil 'tomorrow' is not an xs:dateTime"]


def test_doctype_refused_before_parsing() -> None:
    xxe = metadata(prolog='<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>')
    assert problems(xxe) == ["DOCTYPE and ENTITY declarations are not allowed in SAML metadata"]


def test_billion_laughs_refused() -> None:
    lol = '<!DOCTYPE l [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    assert problems(metadata(prolog=lol)) == ["DOCTYPE and ENTITY declarations are not allowed in SAML metadata"]


def test_lower_case_doctype_also_refused() -> None:
    assert problems(b"<!doctype x><x/>") == ["DOCTYPE and ENTITY declarations are not allowed in SAML metadata"]


def test_oversized_refused() -> None:
    assert problems(b" " * 10_000_001) == ["the metadata document is larger than 10000000 bytes"]


def test_not_xml() -> None:
    (msg,) = problems("this is not xml")
    assert msg.startswith("the metadata document is not well-formed XML (")


def test_wrong_root() -> None:
    assert problems("<foo/>") == [
        "the root element must be md:EntityDescriptor (urn:oasis:names:tc:SAML:2.0:metadata)"
    ]


def test_entities_descriptor_with_one_idp_is_accepted() -> None:
    inner = metadata().split("\n", 1)[1]
    doc = f'<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">{inner}</md:EntitiesDescriptor>'
    assert parse_idp_metadata(doc).entity_id == ENTITY_ID


def test_entities_descriptor_with_two_idps_is_refused() -> None:
    inner = metadata().split("\n", 1)[1]
    doc = (
        '<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">'
        f"{inner}{inner}</md:EntitiesDescriptor>"
    )
    assert problems(doc) == ["EntitiesDescriptor must contain exactly one IdP EntityDescriptor, found 2"]


def test_missing_entity_id_and_wrong_protocol_are_both_reported() -> None:
    assert problems(metadata(entity_id="", protocol="urn:oasis:names:tc:SAML:1.1:protocol")) == [
        "EntityDescriptor has no entityID",
        "IDPSSODescriptor protocolSupportEnumeration does not list urn:oasis:names:tc:SAML:2.0:protocol",
    ]


def test_no_idp_descriptor() -> None:
    doc = '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>'
    assert problems(doc) == ["EntityDescriptor has no IDPSSODescriptor"]


def test_no_signing_certificate() -> None:
    doc = metadata(key_descriptor(b64(rsa_cert()), use="encryption"))
    assert problems(doc) == ['IDPSSODescriptor has no signing certificate (KeyDescriptor use="signing")']


def test_small_rsa_key_refused() -> None:
    doc = metadata(key_descriptor(b64(rsa_cert(1024))))
    assert problems(doc) == [
        "KeyDescriptor 1 certificate 1: RSA key of 1024 bits is too small (at least 2048 required)"
    ]


def test_small_ec_key_refused() -> None:
    doc = metadata(key_descriptor(b64(certificate(ec_key("secp192r1")))))
    assert problems(doc) == [
        "KeyDescriptor 1 certificate 1: EC key on secp192r1 is too small (P-256 or larger required)"
    ]


def test_garbage_certificates_reported_each() -> None:
    not_der = base64.b64encode(b"not a certificate").decode()
    doc = metadata(key_descriptor("%%%"), key_descriptor(not_der), key_descriptor(b64(rsa_cert())))
    found = problems(doc)
    assert found[0] == "KeyDescriptor 1 certificate 1: X509Certificate is not valid base64"
    assert found[1].startswith("KeyDescriptor 2 certificate 1: X509Certificate does not parse (")
    assert len(found) == 2


def test_empty_certificate() -> None:
    assert problems(metadata(key_descriptor(""))) == ["KeyDescriptor 1 certificate 1: empty X509Certificate"]


def test_entity_id_too_long() -> None:
    assert problems(metadata(entity_id="x" * 1025)) == ["entityID is longer than 1024 characters"]


def test_comments_and_processing_instructions_do_not_change_the_result() -> None:
    doc = metadata().replace("<md:IDPSSODescriptor", "<!-- c --><?pi x?><md:IDPSSODescriptor")
    assert parse_idp_metadata(doc).entity_id == ENTITY_ID
