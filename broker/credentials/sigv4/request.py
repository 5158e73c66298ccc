"""The request as the verifier sees it: neutral, HTTP-framework-free, exactly as received.

SigV4 signs bytes the client sent, so the API layer hands over the raw path and raw query string
(before any decoding), every header in arrival order with duplicates kept, and the body bytes.
Canonicalization (``canonical_request``) decides what to normalize; this module never does.

AWS General Reference, "Create a canonical request for Signature Version 4"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-canonical-request).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote

__all__ = ["SignedRequest", "parse_query"]


def parse_query(raw_query: str) -> list[tuple[str, str]]:
    """Split a raw query string into percent-decoded ``(name, value)`` pairs, in order.

    ``a&b=`` yields ``("a", "")`` and ``("b", "")``; empty segments (``a=1&&b=2``) are skipped.
    ``+`` is kept literally (SigV4 uses RFC 3986 percent-encoding, where ``+`` is not a space).
    """
    pairs: list[tuple[str, str]] = []
    if not raw_query:
        return pairs
    for segment in raw_query.split("&"):
        if not segment:
            continue
        name, _, value = segment.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """One HTTP request as sent.

    ``path``: the request target's path as sent (still percent-encoded on the wire);
    ``query``: the raw query string without the ``?``; ``headers``: ``(name, value)`` pairs in
    arrival order, names in any case, duplicates kept; ``body``: the exact body bytes.
    ``body_sha256``: the lower-case hex SHA-256 of the body when the body itself is not at hand (a
    service asking ``POST /v1/authorize`` about a request sends the hash, which is what the signature
    covers); when given it is used instead of hashing ``body``.
    """

    method: str
    path: str
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = field(default=b"", repr=False)
    body_sha256: str | None = None
    _index: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Lower-case name -> values in arrival order; built once, headers are looked up many times.
        index: dict[str, tuple[str, ...]] = {}
        for key, value in self.headers:
            name = key.lower()
            seen = index.get(name)
            index[name] = (value,) if seen is None else (*seen, value)
        _set_index(self, index)

    @classmethod
    def build(
        cls,
        method: str,
        path: str,
        query: str = "",
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        body_sha256: str | None = None,
    ) -> SignedRequest:
        return cls(method=method, path=path, query=query, headers=tuple(headers), body=body, body_sha256=body_sha256)

    def __repr__(self) -> str:
        # Header values may carry the Authorization header or a session token: names only.
        names = ",".join(name for name, _ in self.headers)
        return f"SignedRequest({self.method} {self.path!r}, headers=[{names}], body={len(self.body)} bytes)"

    def payload_hash(self) -> str:
        """Lower-case hex SHA-256 of the body (``body_sha256`` when given)."""
        if self.body_sha256 is not None:
            return self.body_sha256
        return hashlib.sha256(self.body).hexdigest()

    def header_values(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), in arrival order."""
        return list(self._index.get(name.lower(), ()))

    def header_tuple(self, name: str) -> tuple[str, ...]:
        """Like :meth:`header_values` without the copy (the verifier's hot path)."""
        return self._index.get(name.lower(), ())

    def query_pairs(self) -> list[tuple[str, str]]:
        """The query string as percent-decoded pairs (see :func:`parse_query`)."""
        return parse_query(self.query)

    def with_headers(self, extra: Iterable[tuple[str, str]]) -> SignedRequest:
        headers = self.headers + tuple(extra)
        return SignedRequest(self.method, self.path, self.query, headers, self.body, self.body_sha256)

    def with_query(self, query: str) -> SignedRequest:
        return SignedRequest(self.method, self.path, query, self.headers, self.body, self.body_sha256)


_set_index = SignedRequest.__dict__["_index"].__set__
