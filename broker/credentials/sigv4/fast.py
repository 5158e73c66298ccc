"""The usual header-signed request, read and checked in one pass (the PDP's hot path).

Every SDK signs the same way: one ``Authorization`` header of the shape
``AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b, Signature=HEX``,
one ``X-Amz-Date``, lower-case signed header names, each signed header sent once, no query-string
auth. For such a request :func:`parse_usual` reads what :func:`broker.credentials.sigv4.parse.parse`
would (one regular expression does the splitting and the scope's region and terminator checks), and
:func:`usual_signature` builds the canonical request in one pass over the signed names and returns the
signature :func:`broker.credentials.sigv4.verify.expected_signature` would compute.

Both answer ``None`` for anything else, and the caller then takes the general path (``parse`` +
``verify``), which accepts or refuses with AWS's error. They never refuse on their own, so the general
path stays the only place errors come from; ``tests/unit/pdp/test_pdp_sigv4_fastpaths.py`` holds them
equal to it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from broker.credentials.sigv4.canonical_request import canonical_path
from broker.credentials.sigv4.parse import _AMZ_DATES, parse_amz_date
from broker.credentials.sigv4.request import SignedRequest

__all__ = ["Mac", "Usual", "parse_usual", "signed_request", "signer", "usual_signature"]

Usual = tuple[str, str, str, str, str, list[str], str, str, datetime, str | None]
"""(access key id, scope date, region, service, SignedHeaders as sent, the signed names, signature,
X-Amz-Date as sent, its instant, X-Amz-Security-Token or None)."""

# A subset of parse._USUAL_HEADER: the Credential split in its five parts (an upper-case alphanumeric key id,
# a region check_scope accepts, a lower-case service, terminator ``aws4_request``), lower-case non-empty
# signed names, a 64-digit hex signature. Whatever it accepts, parse() reads into the same fields.
_USUAL = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([A-Z0-9]+)/(\d{8})/([a-z0-9][a-z0-9-]{0,62})/([a-z0-9-]+)/aws4_request, ?"
    r"SignedHeaders=([a-z0-9._-]+(?:;[a-z0-9._-]+)*), ?Signature=([0-9a-f]{64})\Z"
).match
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z\Z").match
_ALGORITHM_LINE = "AWS4-HMAC-SHA256\n"


def parse_usual(request: SignedRequest) -> Usual | None:
    """The claims of a usual header-signed request, or ``None`` (then ``parse`` decides)."""
    index = request._index
    authorization = index.get("authorization")
    if authorization is None or len(authorization) != 1 or request.query or "x-amz-content-sha256" in index:
        return None
    found = _USUAL(authorization[0])
    if found is None:
        return None
    key_id, date, region, service, signed, signature = found.groups()
    stamps = index.get("x-amz-date")
    if stamps is None or len(stamps) != 1:
        return None
    stamp = stamps[0]
    if stamp[:8] != date:
        return None  # verify's check_scope refuses it
    timestamp = _AMZ_DATES.get(stamp)  # parse_amz_date's memo holds only well-formed stamps
    if timestamp is None:
        if _AMZ_DATE(stamp) is None:
            return None
        try:
            timestamp = parse_amz_date(stamp)
        except ValueError:
            return None
    names = signed.split(";")
    if "host" not in names or "x-amz-date" not in names:
        return None  # parse refuses these (IncompleteSignature)
    tokens = index.get("x-amz-security-token")
    token: str | None = None
    if tokens is not None:
        if len(tokens) != 1 or "x-amz-security-token" not in names:
            return None
        token = tokens[0]
    return key_id, date, region, service, signed, names, signature, stamp, timestamp, token


class Mac(Protocol):
    """A keyed HMAC-SHA256 (what :func:`signer` returns): copied per request, never consumed."""

    def copy(self) -> Mac: ...

    def update(self, msg: bytes) -> None: ...

    def digest(self) -> bytes: ...

    def hexdigest(self) -> str: ...


_hmac_new: Callable[..., Mac] = hmac.new
try:  # OpenSSL's HMAC object itself: hmac.HMAC wraps it with three Python calls per request
    from _hashlib import hmac_new as _openssl_hmac_new

    _hmac_new = _openssl_hmac_new
except ImportError:  # pragma: no cover - CPython without OpenSSL
    pass


def signer(key: bytes) -> Mac:
    """An HMAC-SHA256 keyed with a SigV4 signing key, for :func:`usual_signature` to copy per request.

    Copying a keyed HMAC skips what ``hmac.digest`` does on every call under OpenSSL 3 (fetching the MAC
    and the digest by name, setting the key): about a quarter of the HMAC's instructions. It is OpenSSL's
    HMAC object ``hmac.new`` would wrap (same ``copy``/``update``/``hexdigest``, no Python layer).
    """
    mac: Mac = _hmac_new(key, digestmod="sha256")
    return mac


_TOKEN_HEADER = "x-amz-security-token"


def usual_signature(request: SignedRequest, usual: Usual, mac: Mac, *, token_opened: bool = False) -> str | None:
    """The signature of ``request`` under ``mac`` (:func:`signer` of the signing key; path normalised, as for
    every service but S3).

    ``token_opened``: the caller has opened ``X-Amz-Security-Token`` (``SessionTokenCodec`` decodes it as
    strict base64, so it holds no whitespace and Trimall would leave it as is): its value is used unscanned.
    ``None`` when a signed header is absent or sent more than once (``verify`` decides those).
    """
    index = request._index
    names = usual[5]
    lines = []
    for name in names:
        values = index.get(name)
        if values is None or len(values) != 1:
            return None
        if token_opened and name == _TOKEN_HEADER:
            lines.append(f"{name}:{values[0]}")
            continue
        lines.append(f"{name}:{' '.join(values[0].split())}")  # Trimall (a one-word value comes back as is)
    block = "\n".join(lines)
    body_hash = request.body_sha256
    if body_hash is None:
        body_hash = hashlib.sha256(request.body).hexdigest()
    canonical = (
        f"{request.method.upper()}\n{canonical_path(request.path, normalize=True)}\n\n{block}\n\n"
        f"{usual[4]}\n{body_hash}"
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    to_sign = f"{_ALGORITHM_LINE}{usual[7]}\n{usual[1]}/{usual[2]}/{usual[3]}/aws4_request\n{digest}"
    signing = mac.copy()
    signing.update(to_sign.encode("utf-8"))
    return signing.hexdigest()


_new = object.__new__
_SET = {name: SignedRequest.__dict__[name].__set__ for name in (
    "method", "path", "query", "headers", "body", "body_sha256", "_index")}
_set_method, _set_path, _set_query, _set_headers, _set_body, _set_body_sha256, _set_index = _SET.values()


def signed_request(
    method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes = b"",
    body_sha256: str | None = None,
) -> SignedRequest:
    """``SignedRequest.build(method, path, query, headers, body, body_sha256)`` without the frozen dataclass's
    keyword ``__init__`` (one ``object.__setattr__`` per field) and its second pass over the headers: the
    same fields and the same header index, written through the slots."""
    index: dict[str, tuple[str, ...]] = {}
    for key, value in headers:
        name = key.lower()
        seen = index.get(name)
        index[name] = (value,) if seen is None else (*seen, value)
    request: SignedRequest = _new(SignedRequest)
    _set_method(request, method)
    _set_path(request, path)
    _set_query(request, query)
    _set_headers(request, tuple(headers))
    _set_body(request, body)
    _set_body_sha256(request, body_sha256)
    _set_index(request, index)
    return request
