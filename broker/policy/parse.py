"""Strict JSON parsing for policy documents: duplicate keys and non-finite numbers are syntax errors.

"IAM JSON policy grammar", section "Notes": a policy is a JSON document; element names must be unique
within an object (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html).
Python's ``json`` silently keeps the last duplicate, so duplicates are caught with ``object_pairs_hook``
and reported by JSON pointer (RFC 6901).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["ParsedDocument", "child_pointer", "parse_document"]


class _Object(dict[str, Any]):
    """A JSON object that remembers which of its keys appeared more than once."""

    __slots__ = ("duplicates",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__()
        self.duplicates: list[str] = []
        for key, value in pairs:
            if key in self and key not in self.duplicates:
                self.duplicates.append(key)
            self[key] = value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name}")


def child_pointer(pointer: str, token: str | int) -> str:
    """``pointer`` extended by one reference token, escaped per RFC 6901 §3."""
    text = str(token).replace("~", "~0").replace("/", "~1")
    return f"{pointer}/{text}"


class ParsedDocument:
    """A parsed document (``value``), or ``None`` when it is not JSON, plus duplicate-key pointers."""

    __slots__ = ("duplicate_pointers", "value")

    def __init__(self, value: Any, duplicate_pointers: list[str]) -> None:
        self.value = value
        self.duplicate_pointers = duplicate_pointers


def _collect_duplicates(value: Any, pointer: str, out: list[str]) -> None:
    if isinstance(value, _Object):
        for key in value.duplicates:
            out.append(child_pointer(pointer, key))
        for key, child in value.items():
            _collect_duplicates(child, child_pointer(pointer, key), out)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _collect_duplicates(child, child_pointer(pointer, index), out)


def parse_document(document: str) -> ParsedDocument | None:
    """Parse ``document``; ``None`` when it is not a JSON text."""
    try:
        value = json.loads(document, object_pairs_hook=_Object, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    duplicates: list[str] = []
    _collect_duplicates(value, "", duplicates)
    return ParsedDocument(value, duplicates)
