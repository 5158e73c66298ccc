"""Model constraints and AWS's ValidationError wording.

AWS validates every input member against its model constraints (Smithy ``@required``, ``@length``,
``@range``, ``@pattern`` and enum traits, https://smithy.io/2.0/spec/constraint-traits.html) and answers
``400 ValidationError`` listing *every* violation:
``2 validation errors detected: Value 'x' at 'roleName' failed to satisfy constraint: Member must …; …``
(IAM API Reference, Common Errors, https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html
"ValidationError"; the per-rule phrases below are AWS's observed wording, as reproduced by moto and other AWS
emulators). Details:

* the location is the member path in lower camel case: ``roleName``, ``tags.1.member.key``,
  ``policyArns.2.member.arn`` (list index 1-based, then ``member``);
* a missing required member reads ``Value null at 'roleName' failed to satisfy constraint: Member must not be
  null``;
* a sensitive member (model ``"sensitive": true``, or IAM tag values, which AWS never echoes) reads
  ``Value at 'password' failed …``, without the value;
* the order within one member is: length, pattern, enum (range for numbers); across members, model order.
* string length counts Unicode code points (Smithy ``@length``: "the number of Unicode scalar values"), list
  and map length count entries, blob length counts bytes.

Type errors (``DurationSeconds=abc``, ``Boolean=yes``) are not model constraints; AWS does not document their
wording, so broker uses the same frame with its own phrase (``Member must be an integer`` …) and collects them
with the rest.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from broker.api.query.model import Shape

__all__ = ["check_length", "check_number", "check_string", "lower_camel", "null_message", "violation"]


@cache
def lower_camel(name: str) -> str:
    """AWS's location spelling of a member name: first letter lower-cased (``SAMLAssertion`` → ``sAMLAssertion``)."""
    return name[:1].lower() + name[1:]


def _show(value: Any) -> str:
    """Render a value the way AWS's Java front end prints it in messages (``[a, b]`` for lists)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bytes):
        return f"java.nio.HeapByteBuffer[pos=0 lim={len(value)} cap={len(value)}]"
    return str(value)


def violation(value: Any, path: str, rule: str, *, sensitive: bool) -> str:
    """One ``Value '…' at '…' failed to satisfy constraint: …`` phrase."""
    if sensitive:
        return f"Value at '{path}' failed to satisfy constraint: {rule}"
    return f"Value '{_show(value)}' at '{path}' failed to satisfy constraint: {rule}"


def null_message(path: str) -> str:
    """The phrase for a required member that is absent."""
    return f"Value null at '{path}' failed to satisfy constraint: Member must not be null"


def check_length(shape: Shape, value: Any, size: int, path: str, sensitive: bool, out: list[str]) -> None:
    """Append the ``@length`` violations of ``value`` (whose measured length is ``size``)."""
    if shape.min is not None and size < shape.min:
        out.append(violation(value, path, f"Member must have length greater than or equal to {shape.min}",
                             sensitive=sensitive))
    if shape.max is not None and size > shape.max:
        out.append(violation(value, path, f"Member must have length less than or equal to {shape.max}",
                             sensitive=sensitive))


def check_string(shape: Shape, value: str, path: str, sensitive: bool, out: list[str]) -> None:
    """Append the length, pattern and enum violations of a string value."""
    check_length(shape, value, len(value), path, sensitive, out)
    if shape.compiled is not None and shape.compiled.fullmatch(value) is None:
        out.append(violation(value, path, f"Member must satisfy regular expression pattern: {shape.pattern}",
                             sensitive=sensitive))
    if shape.enum and value not in shape.enum:
        out.append(violation(value, path, "Member must satisfy enum value set: [" + ", ".join(shape.enum) + "]",
                             sensitive=sensitive))


def check_number(shape: Shape, value: int | float, path: str, sensitive: bool, out: list[str]) -> None:
    """Append the ``@range`` violations of a number (the model's min/max on numeric shapes)."""
    if shape.min is not None and value < shape.min:
        out.append(violation(value, path, f"Member must have value greater than or equal to {shape.min}",
                             sensitive=sensitive))
    if shape.max is not None and value > shape.max:
        out.append(violation(value, path, f"Member must have value less than or equal to {shape.max}",
                             sensitive=sensitive))
