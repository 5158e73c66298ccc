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


def _reference(text: str) -> str:
    bad = OLD_INVALID.search(text)
    if bad is not None:
        raise ValueError(f"character U+{ord(bad.group()):04X} cannot be represented in XML 1.0")
    return OLD_SPECIAL.sub(lambda m: {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"}[m.group()], text)


def test_escape_text_matches_the_regex_version() -> None:
    import random

    rng = random.Random(5)
    alphabet = [chr(c) for c in range(0, 0x80)] + ["é", "\u2028", "\ufffe", "\ud800", "\U0001f600", "&", "<", ">"]
    for _ in range(20_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        try:
            expected: str | type[ValueError] = _reference(text)
        except ValueError:
            expected = ValueError
        if expected is ValueError:
            try:
                xmltext.escape_text(text)
            except ValueError:
                continue
            raise AssertionError(f"{text!r} accepted")
        assert xmltext.escape_text(text) == expected, repr(text)
