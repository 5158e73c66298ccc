"""escape_text runs on the standard library's ``re``; its character classes must accept and refuse exactly the
code points the ``regex`` patterns did (XML 1.0 §2.2 Char), over the whole Unicode range."""

from __future__ import annotations

import regex

from broker.api.query import xmltext

OLD_INVALID = regex.compile("[^\\u0009\\u000A\\u000D\\u0020-\\uD7FF\\uE000-\\uFFFD\\U00010000-\\U0010FFFF]")
OLD_SPECIAL = regex.compile("[&<>\r]")


def test_every_code_point_classified_as_before() -> None:
    # one search per 4,096-code-point block, then per code point only where the blocks disagree
    for start in range(0, 0x110000, 4096):
        block = "".join(chr(c) for c in range(start, min(start + 4096, 0x110000)))
        old = [m.start() for m in OLD_INVALID.finditer(block)]
        new = [m.start() for m in xmltext._INVALID.finditer(block)]
        assert old == new, hex(start)
        assert [m.start() for m in OLD_SPECIAL.finditer(block)] == [m.start() for m in xmltext._SPECIAL.finditer(block)]
