"""AWS pagination: ``Marker`` / ``MaxItems`` in, ``IsTruncated`` / ``Marker`` out.

IAM API Reference, "Common Parameters" and each List operation's "Request Parameters"
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_ListRoles.html#API_ListRoles_RequestParameters):
``MaxItems`` defaults to 100 (1-1000); when more items remain, the response carries ``IsTruncated=true``
and a ``Marker`` to send back. Our marker is opaque to clients: the URL-safe base64 of the sort key of
the first item of the next page. Resuming at the first key ``>=`` the marker keeps pages stable when
the marked item is deleted between calls.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from broker.errors import InvalidInput

__all__ = ["DEFAULT_MAX_ITEMS", "paginate"]

DEFAULT_MAX_ITEMS = 100
T = TypeVar("T")


def _encode(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii")


def _decode(marker: str) -> str:
    try:
        return base64.b64decode(marker.encode("ascii"), altchars=b"-_", validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidInput("Invalid Marker.", detail=f"marker {marker!r} does not decode") from exc


def paginate(items: Sequence[T], key: Callable[[T], str], params: Mapping[str, Any]) -> tuple[list[T], dict[str, Any]]:
    """One page of ``items`` in ascending ``key`` order and the ``IsTruncated``/``Marker`` members.

    Sorting happens here, in Python, so pages agree on every engine (PostgreSQL collations order text
    differently from SQLite).
    """
    items = sorted(items, key=key)
    max_items = int(params.get("MaxItems", DEFAULT_MAX_ITEMS))
    if not 1 <= max_items <= 1000:
        raise InvalidInput(f"MaxItems must be between 1 and 1000, got {max_items}.")
    start = 0
    if params.get("Marker"):
        wanted = _decode(str(params["Marker"]))
        start = next((i for i, item in enumerate(items) if key(item) >= wanted), len(items))
    page = list(items[start : start + max_items])
    rest = len(items) - start - len(page)
    if rest > 0:
        return page, {"IsTruncated": True, "Marker": _encode(key(items[start + max_items]))}
    return page, {"IsTruncated": False}
