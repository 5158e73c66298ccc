"""Verify a SigV4-signed request. Pure: the secret, the clock and the window are parameters.

The API layer parses the request (``parse.parse``), looks the access key id up (``AKIA…`` in the
store, ``ASIA…`` from a sealed session token) and calls :func:`verify` with the secret. Checks, in
order, each refused with the AWS code STS/IAM use (STS "Common Errors",
https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html):

1. Credential scope (IAM User Guide, "Elements of an AWS API request signature", Credential):
   the terminator must be ``aws4_request``, the service must be ``expected_service`` (when given),
   the region must look like a region (any region is accepted: SPEC.md §2), and the scope date must
   equal the date of ``X-Amz-Date`` ("Handling dates in Signature Version 4",
   https://docs.aws.amazon.com/general/latest/gr/sigv4-date-handling.html). STS answers these with
   ``SignatureDoesNotMatch`` ("Credential should be scoped to a valid region, not 'x'. ", observed),
   so do we, all problems in one message.
2. Time window (``window.check_window``).
3. Payload: ``x-amz-content-sha256``, when sent, must equal the SHA-256 of the body.
   ``UNSIGNED-PAYLOAD`` is an Amazon S3 feature ("Authenticating Requests: Using the Authorization
   Header", https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html and
   "Authenticating Requests: Using Query Parameters"); STS and IAM hash the payload, and botocore's
   ``SigV4QueryAuth`` hashes the (empty) payload of presigned STS/IAM URLs. It is therefore accepted
   only for the services in ``UNSIGNED_PAYLOAD_SERVICES`` (``s3``), never for ``sts`` or ``iam``.
4. Session token: STS and IAM clients sign it (botocore puts ``X-Amz-Security-Token`` among the
   signed headers, or in the query before signing). With ``omit_session_token=False`` (the default,
   for STS/IAM) a token header that is sent but not signed is refused with ``IncompleteSignature``.
   ``omit_session_token=True`` models services that add the token after signing (the suite's
   ``post-sts-header-after`` case): the header need not be signed and the query parameter is left
   out of the canonical query.
5. Signature: recomputed and compared in constant time (``hmac.compare_digest``); a mismatch is
   ``SignatureDoesNotMatch`` with AWS's message. The canonical request is not echoed (AWS does echo
   it for some services; that is an oracle we do not offer); its hash goes to ``detail``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime

from broker.credentials.sigv4.auth import TERMINATOR, SigV4Auth
from broker.credentials.sigv4.canonical_request import MissingSignedHeader, canonical_request
from broker.credentials.sigv4.request import SignedRequest
from broker.credentials.sigv4.signing_key import SigningKeyCache, signature, signing_key
from broker.credentials.sigv4.string_to_sign import string_to_sign
from broker.credentials.sigv4.window import check_window
from broker.errors import IncompleteSignature, SignatureDoesNotMatch

__all__ = ["SIGNATURE_MISMATCH", "UNSIGNED_PAYLOAD", "UNSIGNED_PAYLOAD_SERVICES", "check_scope", "verify"]

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
UNSIGNED_PAYLOAD_SERVICES = frozenset({"s3"})
_TOKEN = "X-Amz-Security-Token"
_REGION_RE = re.compile(r"\A[a-z0-9][a-z0-9-]{0,62}\Z")


def check_scope(auth: SigV4Auth, *, expected_service: str | None) -> None:
    """Refuse a credential scope with a bad region, service, terminator or date (all problems at once)."""
    problems: list[str] = []
    if not _REGION_RE.match(auth.region):
        problems.append(f"Credential should be scoped to a valid region, not '{auth.region}'.")
    if expected_service is not None and auth.service != expected_service:
        problems.append(f"Credential should be scoped to correct service: '{expected_service}'.")
    if auth.terminator != TERMINATOR:
        problems.append(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{auth.terminator}'."
        )
    if auth.date != auth.amz_date[:8]:
        problems.append(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{auth.date}' != '{auth.amz_date[:8]}', from '{auth.amz_date}'."
        )
    if problems:
        raise SignatureDoesNotMatch(" ".join(problems))


def _payload_hash(request: SignedRequest, auth: SigV4Auth) -> str:
    body_hash = request.payload_hash()
    unsigned_allowed = auth.service in UNSIGNED_PAYLOAD_SERVICES
    if auth.presigned:
        return UNSIGNED_PAYLOAD if unsigned_allowed else body_hash
    declared = request.header_tuple("x-amz-content-sha256")
    if not declared:
        return body_hash
    if len(declared) > 1:
        raise SignatureDoesNotMatch(SIGNATURE_MISMATCH, detail="x-amz-content-sha256 sent more than once")
    value = declared[0].strip()
    if value == UNSIGNED_PAYLOAD:
        if unsigned_allowed:
            return UNSIGNED_PAYLOAD
        raise SignatureDoesNotMatch(
            SIGNATURE_MISMATCH, detail=f"UNSIGNED-PAYLOAD is not accepted for service {auth.service!r}"
        )
    if not hmac.compare_digest(value.lower().encode("utf-8"), body_hash.encode("ascii")):
        raise SignatureDoesNotMatch(SIGNATURE_MISMATCH, detail="x-amz-content-sha256 does not match the body")
    return body_hash


def expected_signature(
    request: SignedRequest,
    auth: SigV4Auth,
    secret: str,
    *,
    normalize_path: bool,
    omit_session_token: bool = False,
    cache: SigningKeyCache | None = None,
) -> tuple[str, str]:
    """(canonical request, signature) the client should have produced for ``request`` under ``auth``."""
    try:
        canonical = canonical_request(
            request,
            auth.signed_headers,
            _payload_hash(request, auth),
            normalize=normalize_path,
            presigned=auth.presigned,
            omit_query=frozenset({_TOKEN}) if omit_session_token and auth.presigned else frozenset(),
        )
    except MissingSignedHeader as missing:
        raise SignatureDoesNotMatch(
            SIGNATURE_MISMATCH, detail=f"signed header {missing.name!r} is not in the request"
        ) from None
    to_sign = string_to_sign(auth.amz_date, auth.scope, canonical)
    key = signing_key(secret, auth.date, auth.region, auth.service, cache=cache)
    return canonical, signature(key, to_sign)


def verify(
    request: SignedRequest,
    auth: SigV4Auth,
    secret: str,
    *,
    now: datetime,
    skew_seconds: int,
    expected_service: str | None,
    normalize_path: bool,
    omit_session_token: bool = False,
    cache: SigningKeyCache | None = None,
) -> None:
    """Return if ``request`` carries a valid SigV4 signature by ``secret``; raise otherwise.

    Raises SignatureDoesNotMatch (scope, clock window, payload hash, signature) or RequestExpired
    (presigned URL past ``X-Amz-Expires``). Use ``normalize_path=True`` for STS/IAM (every service
    but S3 normalizes the path).
    """
    check_scope(auth, expected_service=expected_service)
    check_window(auth, now=now, skew_seconds=skew_seconds)
    if not (auth.presigned or omit_session_token) and request.header_tuple(_TOKEN):
        if _TOKEN.lower() not in auth.signed_headers:
            raise IncompleteSignature("'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.")
    canonical, expected = expected_signature(
        request, auth, secret, normalize_path=normalize_path, omit_session_token=omit_session_token, cache=cache
    )
    if not hmac.compare_digest(expected.encode("ascii"), auth.signature.encode("utf-8")):
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
        raise SignatureDoesNotMatch(
            SIGNATURE_MISMATCH, detail=f"signature mismatch for {auth.access_key_id}; canonical request sha256 {digest}"
        )
