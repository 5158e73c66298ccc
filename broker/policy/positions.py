"""Where each statement sits in a policy document's text, for the simulator's ``StartPosition``/``EndPosition``.

IAM's simulator reports the line and column span of every matched statement ("SimulatePrincipalPolicy",
``Statement.StartPosition``/``EndPosition``,
https://docs.aws.amazon.com/IAM/latest/APIReference/API_Statement.html). The engine identifies statements by
JSON pointer (``/Statement/2``, or ``/Statement`` when the element is a single object); this module maps a
pointer to its span. Lines and columns are 1-based; the end position is just past the closing brace.
"""

from __future__ import annotations

import json

__all__ = ["Span", "statement_spans"]

Span = tuple[tuple[int, int], tuple[int, int]]
_WS = " \t\r\n"


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self._decoder = json.JSONDecoder()

    def ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WS:
            self.pos += 1

    def peek(self) -> str:
        self.ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def value_end(self) -> int:
        """Skip one JSON value starting at ``pos``; return its end offset."""
        self.ws()
        _, end = self._decoder.raw_decode(self.text, self.pos)
        self.pos = end
        return end

    def string(self) -> str:
        self.ws()
        value, end = self._decoder.raw_decode(self.text, self.pos)
        self.pos = end
        return str(value)


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    start = text.rfind("\n", 0, offset) + 1
    return line, offset - start + 1


def statement_spans(text: str) -> dict[str, Span]:
    """Map each statement's JSON pointer to its ``((line, col), (line, col))`` span; ``{}`` if unparseable."""
    try:
        return _spans(text)
    except (ValueError, IndexError):
        return {}


def _spans(text: str) -> dict[str, Span]:
    s = _Scanner(text)
    if s.peek() != "{":
        return {}
    s.pos += 1
    out: dict[str, Span] = {}
    while s.peek() not in ("}", ""):
        key = s.string()
        if s.peek() != ":":
            return {}
        s.pos += 1
        if key != "Statement":
            s.value_end()
        elif s.peek() == "[":
            s.pos += 1
            index = 0
            while s.peek() not in ("]", ""):
                start = s.pos
                end = s.value_end()
                out[f"/Statement/{index}"] = (_line_col(text, start), _line_col(text, end))
                index += 1
                if s.peek() == ",":
                    s.pos += 1
            s.pos += 1
        else:
            s.ws()
            start = s.pos
            end = s.value_end()
            out["/Statement"] = (_line_col(text, start), _line_col(text, end))
        if s.peek() == ",":
            s.pos += 1
    return out
