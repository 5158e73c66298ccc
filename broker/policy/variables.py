"""Policy variables: ``${key}``, ``${key, 'default'}`` and the escapes ``${*}`` ``${?}`` ``${$}``.

"IAM policy elements: Variables and tags"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html):

- section "Where you can use policy variables": in ``Resource`` and in string-like condition values
  (String, ARN, Bool operators); only under ``"Version": "2012-10-17"`` — under 2008-10-17 the text
  ``${...}`` is literal.
- section "Special characters": ``${*}``, ``${?}``, ``${$}`` are the literal characters.
- section "Specifying default values": ``${aws:PrincipalTag/team, 'company-wide'}``; the key name is
  case-insensitive, the default is case-sensitive; ``''`` inside the default is one ``'``.
- section "Request information that you can use for policy variables": a key with no value (absent or
  multivalued — only single-valued keys can be variables) makes the value null: it matches nothing in
  ``Resource`` and in positive operators.

Substitution is single pass: a variable's value is never re-scanned for variables or wildcards.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["ESCAPES", "Template", "VariableSyntaxError", "parse_template"]

ESCAPES = {"*": "*", "?": "?", "$": "$"}
_VAR = re.compile(r"\$\{([^}]*)\}")
_DEFAULT = re.compile(r"^\s*([^,\s][^,]*?)\s*,\s*'((?:[^']|'')*)'\s*$")
_KEY = re.compile(r"^[A-Za-z0-9_.:/\-]+$")

_LIT, _ESC, _VARIABLE = 0, 1, 2


class VariableSyntaxError(ValueError):
    """A ``${...}`` that is neither an escape nor a key with an optional quoted default."""


class Template:
    """A string with policy variables, parsed once.

    ``parts`` is a tuple of ``(kind, text, default)``: a literal run (its ``*``/``?`` stay wildcards in
    patterns), an escaped character (always literal) or a variable (``text`` is the lower-cased key).
    """

    __slots__ = ("keys", "parts", "source")

    def __init__(self, source: str, parts: tuple[tuple[int, str, str | None], ...]) -> None:
        self.source = source
        self.parts = parts
        self.keys = tuple(text for kind, text, _ in parts if kind == _VARIABLE)

    def _value(self, key: str, default: str | None, ctx: Mapping[str, tuple[str, ...] | str]) -> str | None:
        value = ctx.get(key)
        if isinstance(value, str):
            return value
        return default

    def render(self, ctx: Mapping[str, tuple[str, ...] | str]) -> str | None:
        """The literal string with variables substituted; ``None`` when one has no value."""
        out: list[str] = []
        for kind, text, default in self.parts:
            if kind == _VARIABLE:
                value = self._value(text, default, ctx)
                if value is None:
                    return None
                out.append(value)
            else:
                out.append(text)
        return "".join(out)

    def render_tokens(self, ctx: Mapping[str, tuple[str, ...] | str]) -> tuple[tuple[str, bool], ...] | None:
        """``(text, is_pattern)`` tokens for ``globmatch``: literal runs keep their wildcards, escapes and
        variable values are literal; ``None`` when a variable has no value."""
        out: list[tuple[str, bool]] = []
        for kind, text, default in self.parts:
            if kind == _LIT:
                out.append((text, True))
            elif kind == _ESC:
                out.append((text, False))
            else:
                value = self._value(text, default, ctx)
                if value is None:
                    return None
                out.append((value, False))
        return tuple(out)


def parse_template(source: str) -> Template | None:
    """A ``Template`` when ``source`` holds ``${...}``, else ``None``; raises ``VariableSyntaxError``."""
    if "${" not in source:
        return None
    parts: list[tuple[int, str, str | None]] = []
    pos = 0
    for match in _VAR.finditer(source):
        if match.start() > pos:
            parts.append((_LIT, source[pos : match.start()], None))
        body = match.group(1)
        if body in ESCAPES:
            parts.append((_ESC, ESCAPES[body], None))
        else:
            default: str | None = None
            key = body.strip()
            with_default = _DEFAULT.match(body)
            if with_default is not None:
                key = with_default.group(1).strip()
                default = with_default.group(2).replace("''", "'")
            if not _KEY.match(key) or ":" not in key:
                raise VariableSyntaxError(f"Invalid policy variable ${{{body}}}")
            parts.append((_VARIABLE, key.lower(), default))
        pos = match.end()
    if pos < len(source):
        parts.append((_LIT, source[pos:], None))
    return Template(source, tuple(parts))
