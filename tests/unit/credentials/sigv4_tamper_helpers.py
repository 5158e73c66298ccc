"""Small editors for signed requests, used by the tamper tests."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from broker.credentials.sigv4 import SignedRequest, presign, sign

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
OTHER_SECRET = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEXAMPLE//token+with/slashes=="
BODY = b"Action=GetCallerIdentity&Version=2011-06-15"


def base_request(*, query: str = "Foo=bar&Baz=1") -> SignedRequest:
    return SignedRequest.build(
        "POST",
        "/",
        query,
        [
            ("Host", "127.0.0.1:8000"),
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
            ("X-Custom", "custom value"),
        ],
        BODY,
    )


def header_signed(*, token: str | None = TOKEN, service: str = "sts", region: str = "us-east-1") -> SignedRequest:
    return sign(base_request(), AKID, SECRET, region, service, NOW, session_token=token)


def query_signed(*, token: str | None = TOKEN, service: str = "sts", expires: int = 900) -> SignedRequest:
    request = SignedRequest.build(
        "GET", "/", "Action=GetCallerIdentity&Version=2011-06-15", [("Host", "127.0.0.1:8000")], b""
    )
    return presign(request, AKID, SECRET, "us-east-1", service, NOW, expires=expires, session_token=token)


def set_header(request: SignedRequest, name: str, value: str | None) -> SignedRequest:
    """Replace every value of ``name`` with ``value`` (or drop the header when None)."""
    headers = [(n, v) for n, v in request.headers if n.lower() != name.lower()]
    if value is not None:
        headers.append((name, value))
    return SignedRequest(request.method, request.path, request.query, tuple(headers), request.body)


def add_header(request: SignedRequest, name: str, value: str) -> SignedRequest:
    return request.with_headers([(name, value)])


def set_query_param(request: SignedRequest, name: str, value: str | None) -> SignedRequest:
    """Replace the raw ``name=...`` segment (or drop it when None); appends when absent."""
    segments = request.query.split("&")
    out: list[str] = []
    found = False
    for segment in segments:
        if segment.partition("=")[0] == name:
            found = True
            if value is not None:
                out.append(f"{name}={value}")
        else:
            out.append(segment)
    if not found and value is not None:
        out.append(f"{name}={value}")
    return request.with_query("&".join(out))


def query_param(request: SignedRequest, name: str) -> str:
    for segment in request.query.split("&"):
        key, _, value = segment.partition("=")
        if key == name:
            return value
    raise KeyError(name)


def authorization(request: SignedRequest) -> str:
    return request.header_values("authorization")[0]


def edit_authorization(request: SignedRequest, pattern: str, replacement: str) -> SignedRequest:
    new, count = re.subn(pattern, replacement, authorization(request), count=1)
    assert count == 1, (pattern, authorization(request))
    return set_header(request, "Authorization", new)


def flip_hex(signature: str) -> str:
    last = signature[-1]
    return signature[:-1] + ("0" if last != "0" else "1")
