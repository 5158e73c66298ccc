"""Wildcard matching in linear time, without backtracking regular expressions.

``*`` (any run) and ``?`` (one character) as in "IAM JSON policy elements: Condition operators", section
"String condition operators" (StringLike), and "Resource" ("Including wildcard characters in the resource
ARN"). A regular expression such as ``.*a.*a.*b`` backtracks polynomially on a value like ``aaaa…`` (one
second for two kilobytes), and request values are caller-controlled, so globs are matched here instead:
the pattern is split on ``*`` into fixed-length pieces; the first must match at the start, the last at
the end, and each middle piece is found leftmost after the previous one (greedy leftmost is exact for
fixed-length pieces). Worst case O(len(value) x len(pattern)).

Tokens let a caller mix pattern text (``*``/``?`` are wildcards) with literal text (a substituted policy
variable, ``${*}``), so a variable's value is never a wildcard.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

__all__ = ["Matcher", "arn_glob_matcher", "glob_matcher", "tokens_matcher"]

Matcher = Callable[[str], bool]
Token = tuple[str, bool]  # (text, is_pattern)
_Piece = tuple[int, Callable[[str, int], bool], Callable[[str, int, int], int]]


def _piece(chars: list[tuple[str, bool]]) -> _Piece:
    """(length, matches_at(value, pos), find(value, start, end) -> index or -1) for one fixed piece."""
    text = "".join(c for c, _ in chars)
    size = len(text)
    if not any(wild for _, wild in chars):
        return size, (lambda v, pos: v.startswith(text, pos)), (lambda v, s, e: v.find(text, s, e))
    rx = re.compile("".join("." if wild else re.escape(c) for c, wild in chars), re.DOTALL)

    def at(v: str, pos: int) -> bool:
        return rx.match(v, pos) is not None

    def find(v: str, start: int, end: int) -> int:
        found = rx.search(v, start, end)
        return -1 if found is None else found.start()

    return size, at, find


def tokens_matcher(tokens: Sequence[Token]) -> Matcher:
    """A matcher for the glob spelled by ``tokens``."""
    pieces: list[list[tuple[str, bool]]] = [[]]
    for text, is_pattern in tokens:
        for ch in text:
            if is_pattern and ch == "*":
                pieces.append([])
            else:
                pieces[-1].append((ch, is_pattern and ch == "?"))
    if len(pieces) == 1:
        size, at, _ = _piece(pieces[0])
        return lambda v: len(v) == size and at(v, 0)
    head_n, head_at, _ = _piece(pieces[0])
    tail_n, tail_at, _ = _piece(pieces[-1])
    middle = [_piece(p) for p in pieces[1:-1] if p]
    minimum = head_n + tail_n + sum(p[0] for p in middle)

    def match(v: str) -> bool:
        size = len(v)
        if size < minimum or (head_n and not head_at(v, 0)):
            return False
        end = size - tail_n
        if tail_n and not tail_at(v, end):
            return False
        pos = head_n
        for length, _, find in middle:
            found = find(v, pos, end)
            if found < 0:
                return False
            pos = found + length
        return True

    return match


def glob_matcher(pattern: str) -> Matcher:
    return tokens_matcher([(pattern, True)])


def _split_segments(tokens: Sequence[Token]) -> list[list[Token]]:
    """Split tokens at the first five ``:`` (ARN segments); the sixth segment keeps its colons."""
    segments: list[list[Token]] = [[]]
    for text, is_pattern in tokens:
        start = 0
        for i, ch in enumerate(text):
            if ch == ":" and len(segments) < 6:
                segments[-1].append((text[start:i], is_pattern))
                segments.append([])
                start = i + 1
        segments[-1].append((text[start:], is_pattern))
    return segments


def arn_glob_matcher(tokens: Sequence[Token] | str) -> Matcher:
    """ARN glob: segment by segment (``*``/``?`` never cross the first five colons)."""
    if isinstance(tokens, str):
        tokens = [(tokens, True)]
    segments = [tokens_matcher(s) for s in _split_segments(tokens)]
    count = len(segments)

    def match(v: str) -> bool:
        parts = v.split(":", 5)
        if len(parts) != count:
            return False
        for matcher, part in zip(segments, parts, strict=True):
            if not matcher(part):
                return False
        return True

    return match
