"""AWS Signature Version 4 request verification (and signing, for clients and tests).

Stages, one module each: ``request`` (the request as received) → ``parse`` (its claims,
``SigV4Auth``) → ``canonical_request`` → ``string_to_sign`` → ``signing_key`` (key and signature)
→ ``verify`` (scope, clock window, payload, constant-time comparison). ``sign`` is the client side.
Everything is pure: no I/O, no settings, no wall clock.

Typical use in the API layer::

    auth = parse(request)                     # IncompleteSignature / MissingAuthenticationToken
    secret = lookup(auth.access_key_id)       # InvalidClientTokenId when unknown
    verify(request, auth, secret, now=clock.now(), skew_seconds=settings.sigv4_skew_seconds,
           expected_service="sts", normalize_path=True)
"""

from __future__ import annotations

from broker.credentials.sigv4.auth import ALGORITHM, TERMINATOR, SigV4Auth
from broker.credentials.sigv4.canonical_request import canonical_request, hashed_payload
from broker.credentials.sigv4.parse import parse
from broker.credentials.sigv4.request import SignedRequest
from broker.credentials.sigv4.sign import presign, sign
from broker.credentials.sigv4.signing_key import SigningKeyCache, signature, signing_key
from broker.credentials.sigv4.string_to_sign import credential_scope, string_to_sign
from broker.credentials.sigv4.verify import SIGNATURE_MISMATCH, UNSIGNED_PAYLOAD, verify

__all__ = [
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
