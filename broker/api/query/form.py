"""Decode ``application/x-www-form-urlencoded`` bodies and query strings into ordered pairs.

AWS Query requests carry their parameters either in a form-encoded POST body or in the query string of a GET
(https://docs.aws.amazon.com/IAM/latest/UserGuide/programming.html; the encoding is the WHATWG/HTML
``application/x-www-form-urlencoded`` one: ``+`` is a space, ``%XX`` a byte, the bytes UTF-8,
https://url.spec.whatwg.org/#urlencoded-parsing). broker is stricter than a browser, deliberately, because a
lenient decoder lets two components read one request two ways:

* a ``%`` not followed by two hex digits, or bytes that are not valid UTF-8, are ``MalformedQueryString``
  (browsers pass the ``%`` through or substitute U+FFFD);
* a parameter named twice (within or across body and query string) is ``MalformedQueryString``: AWS's Java
  front end would take one of them silently, and SigV4 signs both, so either choice could differ from what a
  policy check saw;
* the whole input (body plus query string) is limited to ``max_bytes`` (``Settings.max_body_bytes``):
  larger is ``RequestEntityTooLarge`` 413. IAM's largest documented parameter (a 131,072-character policy
  document) fits the default 256 KiB even when fully percent-encoded as ASCII.
* a non-empty body whose Content-Type is not ``application/x-www-form-urlencoded`` is refused rather than
  ignored.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

import regex

from broker.errors import MalformedQueryString, RequestEntityTooLarge

__all__ = ["FORM_CONTENT_TYPE", "decode_pairs", "merge_pairs", "parse_form"]

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

_BAD_PERCENT = regex.compile(r"%(?![0-9A-Fa-f]{2})")


def _unquote(raw: str, what: str, checked: bool = False) -> str:
    if not checked and _BAD_PERCENT.search(raw):
        raise MalformedQueryString(f"Invalid percent-encoding in {what}", detail=f"bad % escape in {what}")
    text = raw.replace("+", " ")
    if "%" not in text:
        return text
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedQueryString(
            f"Invalid UTF-8 in {what}", detail=f"percent-escapes in {what} are not valid UTF-8"
        ) from None


def decode_pairs(text: str, where: str) -> list[tuple[str, str]]:
    """Split one form-encoded string into ``(name, value)`` pairs in order (empty segments skipped)."""
    pairs: list[tuple[str, str]] = []
    if not text:
        return pairs
    checked = _BAD_PERCENT.search(text) is None  # one scan for the common, well-formed case
    for segment in text.split("&"):
        if not segment:
            continue
        name_raw, sep, value_raw = segment.partition("=")
        name = _unquote(name_raw, f"a parameter name in the {where}", checked)
        if not name:
            raise MalformedQueryString(f"Empty parameter name in the {where}")
        value = _unquote(value_raw, f"the value of {name}", checked) if sep else ""
        pairs.append((name, value))
    return pairs


def merge_pairs(*groups: list[tuple[str, str]]) -> dict[str, str]:
    """Join pair lists into one ordered mapping, refusing any name given twice."""
    merged: dict[str, str] = {}
    for group in groups:
        for name, value in group:
            if name in merged:
                raise MalformedQueryString(f"The parameter {name} appears more than once")
            merged[name] = value
    return merged


def _media_type(content_type: str | None) -> str | None:
    if content_type is None:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def _as_text(data: bytes, where: str) -> str:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        # Raw UTF-8 (curl --data with unescaped text) is tolerated; anything else is not.
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedQueryString(f"Invalid UTF-8 in the {where}") from None


def parse_form(body: bytes, query: str | bytes, content_type: str | None, *, max_bytes: int) -> dict[str, str]:
    """Decode the query string and form body of one request into an ordered name → value mapping.

    Pass the query string as the raw bytes of the request target when possible (ASGI ``scope["query_string"]``);
    a ``str`` is taken as already-decoded text.
    """
    if len(body) + len(query) > max_bytes:
        raise RequestEntityTooLarge(
            f"Request must be at most {max_bytes} bytes",
            detail=f"body {len(body)} + query {len(query)} bytes > {max_bytes}",
        )
    body_pairs: list[tuple[str, str]] = []
    if body:
        media = _media_type(content_type)
        if media is not None and media != FORM_CONTENT_TYPE:
            raise MalformedQueryString(
                f"Unsupported Content-Type {media}; expected {FORM_CONTENT_TYPE}",
            )
        body_pairs = decode_pairs(_as_text(body, "request body"), "request body")
    query_text = _as_text(query, "query string") if isinstance(query, bytes) else query
    query_pairs = decode_pairs(query_text, "query string")
    return merge_pairs(query_pairs, body_pairs)
