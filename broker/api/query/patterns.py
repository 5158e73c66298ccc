"""Translate the Java regular expressions of the AWS service models into Python ``regex`` patterns.

The botocore models carry the ``pattern`` constraints that AWS's Java front end enforces with
``java.util.regex.Pattern.matcher(value).matches()`` (the Smithy ``@pattern`` trait, whose value is an
ECMA-262/Java-style regex matched against the whole string only when anchored by the model;
https://smithy.io/2.0/spec/constraint-traits.html#pattern-trait). AWS's messages and behaviour follow the Java
semantics, so the translation is faithful to Java where Java and Python differ:

* ``\\w``, ``\\d``, ``\\s`` (and their negations) are ASCII-only in Java by default
  (https://docs.oracle.com/javase/8/docs/api/java/util/regex/Pattern.html, "Predefined character classes"),
  Unicode in Python: they are rewritten to explicit ASCII classes.
* ``\\p{L}``, ``\\p{Z}``, ``\\p{N}`` are Unicode general categories in both; Python's ``re`` lacks them, so the
  third-party ``regex`` module compiles the result.
* ``\\uXXXX`` takes exactly four hex digits in Java. The one model pattern that writes ``\\u10000-\\u10FFFF``
  (``policyDocumentType`` and friends) *means* the supplementary planes, and AWS accepts such characters in
  policy documents, so that spelling alone is read as ``\\U00010000-\\U0010FFFF`` (deliberate; a literal Java
  reading would forbid every non-BMP character).
* Validation uses ``fullmatch`` (Java's ``matches()``), so a value must match entirely whether or not the
  pattern is anchored; ``$`` cannot match before a trailing newline under ``fullmatch``.
"""

from __future__ import annotations

import regex

__all__ = ["compile_java_pattern", "translate_java_pattern"]

_ASCII_CLASSES_IN = {"w": "a-zA-Z0-9_", "d": "0-9", "s": " \\t\\n\\x0B\\f\\r"}
_ASCII_CLASSES_OUT = {"W": "[^a-zA-Z0-9_]", "D": "[^0-9]", "S": "[^ \\t\\n\\x0B\\f\\r]"}
_SUPPLEMENTARY = ("\\u10000-\\u10FFFF", "\\U00010000-\\U0010FFFF")


def translate_java_pattern(java: str) -> str:
    """Return a ``regex``-module pattern equivalent to the Java pattern ``java``."""
    src = java.replace(*_SUPPLEMENTARY)
    out: list[str] = []
    in_class = 0
    i = 0
    while i < len(src):
        ch = src[i]
        if ch == "\\" and i + 1 < len(src):
            nxt = src[i + 1]
            if nxt in _ASCII_CLASSES_IN:
                body = _ASCII_CLASSES_IN[nxt]
                out.append(body if in_class else f"[{body}]")
                i += 2
                continue
            if nxt in _ASCII_CLASSES_OUT:
                if in_class:
                    raise ValueError(f"negated class escape inside a class is not supported: {java!r}")
                out.append(_ASCII_CLASSES_OUT[nxt])
                i += 2
                continue
            if nxt == "u":
                hexdigits = src[i + 2 : i + 6]
                if len(hexdigits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in hexdigits):
                    raise ValueError(f"bad \\u escape in {java!r}")
                out.append(f"\\u{hexdigits}")
                i += 6
                continue
            out.append(src[i : i + 2])
            i += 2
            continue
        if ch == "[" and (i == 0 or src[i - 1] != "\\"):
            in_class += 1
        elif ch == "]" and in_class:
            in_class -= 1
        out.append(ch)
        i += 1
    return "".join(out)


def compile_java_pattern(java: str) -> regex.Pattern[str]:
    """Compile ``java`` once; match with ``.fullmatch`` to get Java's ``matches()``."""
    return regex.compile(translate_java_pattern(java), flags=regex.VERSION0)
