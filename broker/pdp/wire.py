"""The JSON question of ``POST /v1/authorize`` (SPEC.md §3.3), validated with every problem collected.

::

    {
      "action": "s3:GetObject",                         required, service:Name
      "resource": "arn:aws:s3:::bucket/key",            required, an ARN or "*"
      "context": {"s3:prefix": "a/", "k": ["x", "y"]},  optional extra condition keys
      "source_ip": "203.0.113.7",                       optional, aws:SourceIp of the described request
      "secure_transport": true,                         optional, aws:SecureTransport
      "service": "example",                             optional, the SigV4 service the request must be scoped to
      "request": {                                      either this (SigV4) …
        "method": "GET", "path": "/things/1", "query": "a=b",
        "headers": [["Host", "svc.example"], ["Authorization", "AWS4-HMAC-SHA256 …"], …],
        "body_sha256": "e3b0c442…"                      hex SHA-256 of the body (what SigV4 signs)
      },
      "bearer_token": "eyJ…",                           … or this, with
      "audience": "https://svc.example"                 the audience the service's tokens must carry
    }

``headers`` may also be an object (one value per name). Problems are ``ValidationError`` (400) with
AWS's "1 validation error detected: …" shape; every problem found is listed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.credentials.sigv4 import SignedRequest
from broker.credentials.sigv4.fast import signed_request
from broker.errors import ValidationError
from broker.policy import ContextValue

__all__ = ["MAX_BODY_BYTES", "AuthorizeQuestion", "parse_question"]

MAX_BODY_BYTES = 64 * 1024
_ACTION_RE = re.compile(r"\A[A-Za-z0-9_.-]{1,64}:[A-Za-z0-9_*?-]{1,128}\Z")
_SHA256_RE = re.compile(r"\A[0-9a-fA-F]{64}\Z")
_METHOD_RE = re.compile(r"\A[A-Z]{1,16}\Z")
_SERVICE_RE = re.compile(r"[a-z0-9-]{1,64}\Z")
_MAX_HEADERS = 128
_MAX_TEXT = 16 * 1024


@dataclass(frozen=True)
class AuthorizeQuestion:
    action: str
    resource: str
    context: dict[str, ContextValue]
    source_ip: str
    secure_transport: bool
    service: str | None
    request: SignedRequest | None
    bearer_token: str | None
    audience: str | None = None


def _context(raw: Any, problems: list[str]) -> dict[str, ContextValue]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append("'context' must be an object of condition keys.")
        return {}
    out: dict[str, ContextValue] = {}
    for key, value in raw.items():
        if not key or len(key) > 256:
            problems.append("'context' keys must be 1 to 256 characters.")
        elif isinstance(value, (str, bool, int, float)):
            out[key] = value
        elif isinstance(value, list) and all(isinstance(v, (str, bool, int, float)) for v in value):
            out[key] = list(value)
        else:
            problems.append(f"'context.{key}' must be a string, number, boolean or a list of them.")
    return out


def _headers(raw: Any, problems: list[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    if isinstance(raw, Mapping):
        items: list[Any] = [[k, v] for k, v in raw.items()]
    elif isinstance(raw, list):
        items = raw
    else:
        problems.append("'request.headers' must be a list of [name, value] pairs or an object.")
        return pairs
    if len(items) > _MAX_HEADERS:
        problems.append(f"'request.headers' may hold at most {_MAX_HEADERS} headers.")
        return pairs
    for item in items:
        if item.__class__ is list and len(item) == 2:
            name, value = item
            if name.__class__ is str and value.__class__ is str and name and len(name) <= _MAX_TEXT \
                    and len(value) <= _MAX_TEXT:
                pairs.append((name, value))
                continue
        if (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(x, str) and len(x) <= _MAX_TEXT for x in item)
            and item[0]
        ):
            pairs.append((item[0], item[1]))
        else:
            problems.append("'request.headers' entries must be [name, value] with non-empty string names.")
            break
    return pairs


def _signed_request(raw: Any, problems: list[str]) -> SignedRequest | None:
    if not isinstance(raw, dict):
        problems.append("'request' must be an object with method, path, query, headers and body_sha256.")
        return None
    method, path, query = raw.get("method"), raw.get("path"), raw.get("query", "")
    body_hash = raw.get("body_sha256")
    if not isinstance(method, str) or not _METHOD_RE.match(method):
        problems.append("'request.method' must be an HTTP method in upper case.")
    if not isinstance(path, str) or not path.startswith("/") or len(path) > _MAX_TEXT:
        problems.append("'request.path' must be the raw request path, starting with '/'.")
    if not isinstance(query, str) or len(query) > _MAX_TEXT:
        problems.append("'request.query' must be the raw query string (without '?').")
    if not isinstance(body_hash, str) or not _SHA256_RE.match(body_hash):
        problems.append("'request.body_sha256' must be the 64-character hex SHA-256 of the request body.")
    headers = _headers(raw.get("headers"), problems)
    if problems:
        return None
    assert isinstance(method, str) and isinstance(path, str) and isinstance(query, str)
    assert isinstance(body_hash, str)
    return signed_request(method, path, query, headers, b"", body_hash.lower())


def parse_question(body: Any) -> AuthorizeQuestion:
    """Validate the decoded JSON body; raises ``ValidationError`` listing every problem."""
    if not isinstance(body, dict):
        raise ValidationError("The request body must be a JSON object.")
    problems: list[str] = []
    action, resource = body.get("action"), body.get("resource")
    if not isinstance(action, str) or not _ACTION_RE.match(action):
        problems.append("'action' must be 'service:ActionName'.")
    if not isinstance(resource, str) or not (resource == "*" or resource.startswith("arn:")) or len(resource) > 2048:
        problems.append("'resource' must be an ARN or '*' (at most 2048 characters).")
    raw_context = body.get("context")
    context = {} if raw_context is None else _context(raw_context, problems)
    source_ip = body.get("source_ip", "")
    if not isinstance(source_ip, str) or len(source_ip) > 64:
        problems.append("'source_ip' must be an IP address string.")
    secure = body.get("secure_transport", False)
    if not isinstance(secure, bool):
        problems.append("'secure_transport' must be a boolean.")
    service = body.get("service")
    if service is not None and (not isinstance(service, str) or not _SERVICE_RE.match(service)):
        problems.append("'service' must be a SigV4 service name (lower-case letters, digits, '-').")
    has_request, token = "request" in body, body.get("bearer_token")
    request: SignedRequest | None = None
    if has_request and token is not None:
        problems.append("Send either 'request' (SigV4) or 'bearer_token', not both.")
    elif has_request:
        request = _signed_request(body["request"], problems)
    elif token is None:
        problems.append("One of 'request' (SigV4) or 'bearer_token' is required.")
    elif not isinstance(token, str) or not token:
        problems.append("'bearer_token' must be a non-empty string.")
    audience = body.get("audience")
    if token is not None and (not isinstance(audience, str) or not audience or len(audience) > 1024):
        problems.append("'audience' (the audience your service's tokens carry) is required with 'bearer_token'.")
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise ValidationError(f"{count} validation {noun} detected: " + " ".join(problems))
    question: AuthorizeQuestion = _new(AuthorizeQuestion)  # the frozen __init__'s fields, in one update
    question.__dict__.update(
        action=str(action), resource=str(resource), context=context, source_ip=str(source_ip),
        secure_transport=bool(secure), service=service, request=request,
        bearer_token=token if isinstance(token, str) else None,
        audience=audience if isinstance(audience, str) else None,
    )
    return question


_new = object.__new__
