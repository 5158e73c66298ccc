"""Condition keys a policy references, for ``GetContextKeysForCustomPolicy`` / ``...PrincipalPolicy``.

IAM API Reference, "GetContextKeysForCustomPolicy"
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetContextKeysForCustomPolicy.html): "the list of
all the context keys referenced in the input policies" — the keys of every ``Condition`` block and the
policy variables (``${aws:username}``) used in ``Resource``/``NotResource`` and condition values (only
under 2012-10-17, where variables exist). Keys are compared case-insensitively; the first spelling seen
is kept, in document order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from broker.policy.model import Problem
from broker.policy.parse import parse_document
from broker.policy.validate import SYNTAX, PolicyDocumentError
from broker.policy.variables import VariableSyntaxError, parse_template

__all__ = ["context_keys", "context_keys_of"]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, str):
                yield item


def _variables(text: str) -> list[str]:
    try:
        template = parse_template(text)
    except VariableSyntaxError:
        return []
    if template is None:
        return []
    # Template keys are lower-cased; recover the spelling used in the document.
    out = []
    for key in template.keys:
        start = text.lower().find(key)
        out.append(text[start : start + len(key)] if start >= 0 else key)
    return out


def _keys(doc: dict[str, Any]) -> Iterator[str]:
    variables = doc.get("Version") == "2012-10-17"
    statements = doc.get("Statement")
    entries = [statements] if isinstance(statements, dict) else statements if isinstance(statements, list) else []
    for statement in entries:
        if not isinstance(statement, dict):
            continue
        if variables:
            for element in ("Resource", "NotResource"):
                for resource in _strings(statement.get(element)):
                    yield from _variables(resource)
        condition = statement.get("Condition")
        if not isinstance(condition, dict):
            continue
        for block in condition.values():
            if not isinstance(block, dict):
                continue
            for key, values in block.items():
                yield key
                if variables:
                    for value in _strings(values):
                        yield from _variables(value)


def context_keys_of(keys: Iterable[str]) -> list[str]:
    """De-duplicate case-insensitively, keeping the first spelling and the order."""
    seen: dict[str, str] = {}
    for key in keys:
        seen.setdefault(key.lower(), key)
    return list(seen.values())


def context_keys(document: str) -> list[str]:
    """Condition keys referenced in Condition blocks and policy variables, in document order.

    Raises ``PolicyDocumentError`` when ``document`` is not a JSON object.
    """
    parsed = parse_document(document)
    if parsed is None or not isinstance(parsed.value, dict):
        raise PolicyDocumentError([Problem("", SYNTAX)])
    return context_keys_of(_keys(parsed.value))
