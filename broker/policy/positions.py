"""Where a statement sits in the policy text: ``MatchedStatements`` ``StartPosition`` / ``EndPosition``.

IAM API Reference, "Statement" and "Position" data types
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_Statement.html,
https://docs.aws.amazon.com/IAM/latest/APIReference/API_Position.html): the line and column of the
beginning and of the end of a ``Statement`` in the policy. broker reports 1-based lines and columns of
the statement's opening ``{`` and closing ``}``. The text is scanned once (a small span-recording JSON
walk; values are not decoded) and every object or array gets its span keyed by JSON pointer.
"""

from __future__ import annotations

from typing import NamedTuple

from broker.policy.parse import child_pointer

__all__ = ["Position", "statement_span", "value_spans"]

_WHITESPACE = " \t\n\r"


class Position(NamedTuple):
    line: int
    column: int


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.spans: dict[str, tuple[int, int]] = {}

    def skip(self, i: int) -> int:
        text = self.text
        while i < len(text) and text[i] in _WHITESPACE:
            i += 1
        return i

    def string(self, i: int) -> tuple[str, int]:
        """``i`` at the opening quote; the raw (undecoded) content and the index after the closing quote."""
        text = self.text
        j = i + 1
        while j < len(text):
            ch = text[j]
            if ch == "\\":
                j += 2
                continue
            if ch == '"':
                return text[i + 1 : j], j + 1
            j += 1
        raise ValueError("unterminated string")

    def value(self, i: int, pointer: str) -> int:
        i = self.skip(i)
        text = self.text
        if i >= len(text):
            raise ValueError("unexpected end")
        ch = text[i]
        if ch == "{":
            end = self.container(i, pointer, "}")
        elif ch == "[":
            end = self.container(i, pointer, "]")
        elif ch == '"':
            return self.string(i)[1]
        else:
            j = i
            while j < len(text) and text[j] not in ",]}" + _WHITESPACE:
                j += 1
            return j
        self.spans[pointer] = (i, end - 1)
        return end

    def container(self, i: int, pointer: str, close: str) -> int:
        i = self.skip(i + 1)
        index = 0
        while self.text[i] != close:
            if close == "}":
                raw_key, i = self.string(self.skip(i))
                key = raw_key.encode("utf-8").decode("unicode_escape") if "\\" in raw_key else raw_key
                i = self.skip(i)
                if self.text[i] != ":":
                    raise ValueError("expected ':'")
                i = self.value(i + 1, child_pointer(pointer, key))
            else:
                i = self.value(i, child_pointer(pointer, index))
                index += 1
            i = self.skip(i)
            if self.text[i] == ",":
                i = self.skip(i + 1)
        return i + 1


def value_spans(document: str) -> dict[str, tuple[int, int]]:
    """JSON pointer -> (offset of the opening bracket, offset of the closing bracket) for every object and
    array; ``{}`` when the text is not JSON the scanner can follow (validate first)."""
    scanner = _Scanner(document)
    try:
        scanner.value(0, "")
    except (ValueError, IndexError):
        return {}
    return scanner.spans


def _position(document: str, offset: int) -> Position:
    line = document.count("\n", 0, offset) + 1
    column = offset - (document.rfind("\n", 0, offset) + 1) + 1
    return Position(line, column)


def statement_span(document: str, pointer: str) -> tuple[Position, Position] | None:
    """Start and end ``Position`` of the statement at ``pointer`` (``/Statement/0`` or ``/Statement``)."""
    span = value_spans(document).get(pointer)
    if span is None:
        return None
    return _position(document, span[0]), _position(document, span[1])
