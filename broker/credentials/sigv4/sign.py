"""Client-side SigV4 signing: the mirror image of :mod:`verify`, for tests and end-to-end clients.

Produces what botocore's ``SigV4Auth`` / ``SigV4QueryAuth`` produce (``botocore/auth.py``): the
header form signs every header present except hop-by-hop/tracing ones, adds ``X-Amz-Date`` and,
with a session token, ``X-Amz-Security-Token``; the query form adds the ``X-Amz-*`` parameters and
signs ``host``. IAM User Guide, "Create a signed AWS API request"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html).
"""

from __future__ import annotations

from datetime import datetime

from broker.credentials.sigv4.auth import ALGORITHM
from broker.credentials.sigv4.canonical_request import canonical_request, hashed_payload, uri_encode
from broker.credentials.sigv4.parse import format_amz_date
from broker.credentials.sigv4.request import SignedRequest
from broker.credentials.sigv4.signing_key import signature, signing_key
from broker.credentials.sigv4.string_to_sign import credential_scope, string_to_sign

__all__ = ["UNSIGNED_HEADERS", "presign", "sign"]

# botocore.auth.SIGNED_HEADERS_BLACKLIST, plus the Authorization header itself.
UNSIGNED_HEADERS = frozenset(
    {
        "authorization",
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)


def _require_host(request: SignedRequest) -> None:
    if not request.header_values("host"):
        raise ValueError("the request needs a Host header to be signed")


def sign(
    request: SignedRequest,
    access_key_id: str,
    secret: str,
    region: str,
    service: str,
    now: datetime,
    session_token: str | None = None,
) -> SignedRequest:
    """``request`` with ``X-Amz-Date`` (and ``X-Amz-Security-Token``) and an ``Authorization`` header."""
    _require_host(request)
    amz_date = format_amz_date(now)
    replaced = {"authorization", "x-amz-date", "x-amz-security-token"}
    headers = [(n, v) for n, v in request.headers if n.lower() not in replaced]
    headers.append(("X-Amz-Date", amz_date))
    if session_token is not None:
        headers.append(("X-Amz-Security-Token", session_token))
    base = SignedRequest(request.method, request.path, request.query, tuple(headers), request.body)
    signed_headers = sorted({n.lower() for n, _ in headers if n.lower() not in UNSIGNED_HEADERS})
    canonical = canonical_request(base, signed_headers, hashed_payload(base.body), normalize=True, presigned=False)
    scope = credential_scope(amz_date[:8], region, service)
    key = signing_key(secret, amz_date[:8], region, service)
    sig = signature(key, string_to_sign(amz_date, scope, canonical))
    authorization = (
        f"{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={';'.join(signed_headers)}, Signature={sig}"
    )
    return base.with_headers([("Authorization", authorization)])


def presign(
    request: SignedRequest,
    access_key_id: str,
    secret: str,
    region: str,
    service: str,
    now: datetime,
    expires: int = 3600,
    session_token: str | None = None,
) -> SignedRequest:
    """``request`` with the presigned ``X-Amz-*`` query parameters (signing ``host`` only)."""
    _require_host(request)
    amz_date = format_amz_date(now)
    scope = credential_scope(amz_date[:8], region, service)
    params = [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{access_key_id}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    if session_token is not None:
        params.append(("X-Amz-Security-Token", session_token))
    encoded = "&".join(f"{uri_encode(n)}={uri_encode(v)}" for n, v in params)
    query = f"{request.query}&{encoded}" if request.query else encoded
    base = request.with_query(query)
    canonical = canonical_request(base, ["host"], hashed_payload(base.body), normalize=True, presigned=True)
    key = signing_key(secret, amz_date[:8], region, service)
    sig = signature(key, string_to_sign(amz_date, scope, canonical))
    return base.with_query(f"{query}&X-Amz-Signature={sig}")
