"""Signing-key cache, secrecy of reprs, the curated public API, and the omit-session-token switch."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from sigv4_tamper_helpers import NOW, SECRET, TOKEN, header_signed, query_signed
from sigv4_vectors import CASES

import broker.credentials.sigv4 as sigv4
from broker.credentials.sigv4 import SigningKeyCache, parse, signing_key, verify
from broker.credentials.sigv4.signing_key import derive_signing_key
from broker.errors import IncompleteSignature, SignatureDoesNotMatch


def test_signing_key_matches_aws_documented_example() -> None:
    # IAM User Guide "Examples of how to derive a signing key for Signature Version 4":
    # secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20120215, us-east-1, iam.
    key = derive_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_cache_returns_the_derived_key_and_counts() -> None:
    cache = SigningKeyCache(maxsize=2)
    first = signing_key(SECRET, "20260101", "us-east-1", "sts", cache=cache)
    again = signing_key(SECRET, "20260101", "us-east-1", "sts", cache=cache)
    assert first == again == derive_signing_key(SECRET, "20260101", "us-east-1", "sts")
    assert (cache.hits, cache.misses) == (1, 1)


def test_cache_is_bounded_lru() -> None:
    cache = SigningKeyCache(maxsize=2)
    signing_key(SECRET, "20260101", "a", "sts", cache=cache)
    signing_key(SECRET, "20260101", "b", "sts", cache=cache)
    signing_key(SECRET, "20260101", "a", "sts", cache=cache)  # a is now most recent
    signing_key(SECRET, "20260101", "c", "sts", cache=cache)  # evicts b
    assert len(cache) == 2
    signing_key(SECRET, "20260101", "a", "sts", cache=cache)
    assert cache.hits == 2
    signing_key(SECRET, "20260101", "b", "sts", cache=cache)
    assert cache.misses == 4


def test_cache_never_holds_the_plaintext_secret() -> None:
    cache = SigningKeyCache()
    signing_key(SECRET, "20260101", "us-east-1", "sts", cache=cache)
    for entry in cache._entries:
        assert SECRET not in entry
        assert SECRET.encode() not in entry
        # nor an unsalted hash an attacker could precompute
        assert hashlib.sha256(SECRET.encode()).digest() not in entry
    assert SECRET not in repr(cache)


def test_different_secrets_do_not_collide_in_cache() -> None:
    cache = SigningKeyCache()
    one = signing_key(SECRET, "20260101", "us-east-1", "sts", cache=cache)
    two = signing_key(SECRET + "x", "20260101", "us-east-1", "sts", cache=cache)
    assert not hmac.compare_digest(one, two)


def test_reprs_hide_signature_token_and_headers() -> None:
    request = header_signed()
    auth = parse(request)
    assert auth.signature not in repr(auth) and TOKEN not in repr(auth)
    assert "Signature=" not in repr(request) and TOKEN not in repr(request)
    presigned = query_signed()
    assert TOKEN not in repr(parse(presigned))


def test_public_api_is_curated() -> None:
    assert sorted(sigv4.__all__) == sorted(
        [
            "ALGORITHM",
            "SIGNATURE_MISMATCH",
            "TERMINATOR",
            "UNSIGNED_PAYLOAD",
            "SigV4Auth",
            "SignedRequest",
            "SigningKeyCache",
            "canonical_request",
            "credential_scope",
            "hashed_payload",
            "parse",
            "presign",
            "sign",
            "signature",
            "signing_key",
            "string_to_sign",
            "verify",
        ]
    )
    for name in sigv4.__all__:
        assert hasattr(sigv4, name)


AFTER = next(c for c in CASES if c.name == "post-sts-header-after")


def test_token_added_after_signing_header_form_refused_for_sts_style() -> None:
    request = AFTER.request("header")
    with pytest.raises(IncompleteSignature) as caught:
        verify(
            request,
            parse(request),
            AFTER.secret,
            now=AFTER.timestamp,
            skew_seconds=300,
            expected_service=None,
            normalize_path=True,
        )
    assert caught.value.message == "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization."


def test_token_added_after_signing_query_form_refused_for_sts_style() -> None:
    request = AFTER.request("query")
    with pytest.raises(SignatureDoesNotMatch):
        verify(
            request,
            parse(request),
            AFTER.secret,
            now=AFTER.timestamp,
            skew_seconds=300,
            expected_service=None,
            normalize_path=True,
        )


def test_verify_uses_given_cache() -> None:
    cache = SigningKeyCache()
    request = header_signed()
    for _ in range(3):
        verify(
            request,
            parse(request),
            SECRET,
            now=NOW,
            skew_seconds=300,
            expected_service="sts",
            normalize_path=True,
            cache=cache,
        )
    assert (cache.misses, cache.hits) == (1, 2)
