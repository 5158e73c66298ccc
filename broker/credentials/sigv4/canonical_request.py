"""Task 1 of SigV4: the canonical request.

AWS General Reference / IAM User Guide, "Create a signed AWS API request", section
"Step 1: Create a canonical request"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-canonical-request)::

    <HTTPMethod>\\n<CanonicalURI>\\n<CanonicalQueryString>\\n<CanonicalHeaders>\\n<SignedHeaders>\\n<HashedPayload>

Rules implemented here, each from that section:

* CanonicalURI: the path URI-encoded (RFC 3986 unreserved characters and ``/`` kept). Services
  other than S3 encode the path *as sent*, so an already-encoded ``%20`` becomes ``%2520``
  ("Each path segment must be URI-encoded twice (except for Amazon S3 which only gets URI-encoded
  once)"). With ``normalize_path`` the path is first normalized (RFC 3986 §5.2.4 dot segments
  removed, and empty segments collapsed, as AWS and botocore's ``normalize_url_path`` do); an
  empty path is ``/``.
* CanonicalQueryString: each name and value percent-decoded then URI-encoded (unreserved
  characters ``A-Za-z0-9-_.~`` kept, space as ``%20``), sorted by encoded name then value,
  ``name=value`` joined by ``&``; a name without value gets ``name=``. For presigned requests
  ``X-Amz-Signature`` is left out ("Authenticating Requests: Using Query Parameters",
  https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html).
* CanonicalHeaders: for each signed header (lower-case name), every value sent, whitespace
  trimmed and inner runs collapsed to one space (``Trimall``), joined with ``,``; one
  ``name:value\\n`` line per header.
* HashedPayload: lower-case hex SHA-256 of the body.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from urllib.parse import quote

from broker.credentials.sigv4.request import SignedRequest

__all__ = [
    "EMPTY_SHA256",
    "MissingSignedHeader",
    "canonical_headers",
    "canonical_path",
    "canonical_query",
    "canonical_request",
    "hashed_payload",
    "normalize_path",
    "trimall",
    "uri_encode",
]

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_SIGNATURE_PARAM = "X-Amz-Signature"


class MissingSignedHeader(LookupError):
    """A header named in SignedHeaders is absent from the request."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def uri_encode(value: str, *, keep_slash: bool = False) -> str:
    """RFC 3986 percent-encoding of the UTF-8 bytes; unreserved characters (and ``/`` if asked) kept."""
    return quote(value.encode("utf-8"), safe="/~" if keep_slash else "~")


def normalize_path(path: str) -> str:
    """Remove ``.`` and ``..`` segments and collapse empty segments; keep leading/trailing ``/``."""
    if not path:
        return "/"
    out: list[str] = []
    for segment in path.split("/"):
        if not segment or segment == ".":
            continue
        if segment == "..":
            if out:
                out.pop()
            continue
        out.append(segment)
    first = "/" if path.startswith("/") else ""
    last = "/" if path.endswith("/") and out else ""
    return first + "/".join(out) + last


_PLAIN_PATH = re.compile(r"\A/[A-Za-z0-9_.~/-]*\Z")


def canonical_path(path: str, *, normalize: bool) -> str:
    # Fast path: a path of unreserved characters with no empty or dot-led segment is its own
    # normalized and encoded form (normalize_path and uri_encode both leave it unchanged).
    if _PLAIN_PATH.match(path) and "//" not in path and "/." not in path:
        return path
    if normalize:
        path = normalize_path(path)
    if not path:
        path = "/"
    return uri_encode(path, keep_slash=True)


def canonical_query(pairs: Sequence[tuple[str, str]], *, presigned: bool, omit: frozenset[str] = frozenset()) -> str:
    if not pairs:
        return ""
    encoded = sorted(
        (uri_encode(name), uri_encode(value))
        for name, value in pairs
        if not (presigned and name == _SIGNATURE_PARAM) and name not in omit
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def trimall(value: str) -> str:
    return " ".join(value.split())


def canonical_headers(request: SignedRequest, signed_headers: Sequence[str]) -> str:
    """``name:value\\n`` for each signed header, in the order given; raises MissingSignedHeader."""
    lines: list[str] = []
    for name in signed_headers:
        values = request.header_tuple(name)
        if not values:
            raise MissingSignedHeader(name)
        if len(values) == 1:
            value = values[0]
            # str.split() splits on whitespace, and the only whitespace isprintable() allows is the ASCII
            # space: a printable value without leading, trailing or doubled spaces is its own Trimall.
            if not (value.isprintable() and "  " not in value and value[:1] != " " and value[-1:] != " "):
                value = " ".join(value.split())
            lines.append(f"{name.lower()}:{value}\n")
        else:
            lines.append(f"{name.lower()}:{','.join(trimall(v) for v in values)}\n")
    return "".join(lines)


def hashed_payload(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def canonical_request(
    request: SignedRequest,
    signed_headers: Sequence[str],
    payload_hash: str,
    *,
    normalize: bool,
    presigned: bool,
    omit_query: frozenset[str] = frozenset(),
) -> str:
    """The canonical request string for ``request`` as the client should have built it.

    ``omit_query`` names query parameters left out of the signature (a presigned request's session
    token, for services that add it after signing).
    """
    return "\n".join(
        (
            request.method.upper(),
            canonical_path(request.path, normalize=normalize),
            canonical_query(request.query_pairs(), presigned=presigned, omit=omit_query),
            canonical_headers(request, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        )
    )
