"""Decode AWS Query parameters into an operation's input structure, validating every constraint.

The wire encodings are the AWS Query protocol's (https://smithy.io/2.0/aws/protocols/aws-query-protocol.html
"Query key resolution" and "List/Map serialization"), as botocore's ``QuerySerializer`` produces them:

* structure members by name (``locationName`` if modelled): ``PolicyArns.member.1.arn``;
* lists as ``Name.member.N`` (N from 1; ``Name.N`` when ``flattened``), an empty list as ``Name=``;
* maps as ``Name.entry.N.key`` / ``Name.entry.N.value`` (``Name.N.key`` when flattened);
* scalars: strings as-is; integer/long in decimal (Java int/long range); booleans ``true``/``false``;
  timestamps ISO 8601 (``2026-01-01T00:00:00Z``); blobs base64.

Output is plain Python: ``str``, ``int``, ``float``, ``bool``, aware ``datetime`` (UTC when the value has no
offset), ``bytes``, ``list`` and ``dict`` keyed by member name. Absent optional members are absent, never
``None``.

Unknown *top-level* parameters are ignored, as the awsQuery services do: every request carries common
parameters next to the operation's own (``Action``, ``Version``, the ``X-Amz-*`` SigV4 query parameters,
legacy ``AWSAccessKeyId``/``Signature``… — https://docs.aws.amazon.com/STS/latest/APIReference/CommonParameters.html),
and a newer SDK may send a member this model predates. They are never copied into the params. (The EC2 query
dialect instead answers ``UnknownParameter`` "The parameter X is not recognized"; IAM/STS are not known to.)

An unknown key *nested under a known member* (``PolicyArns.member.1.Arn`` for ``…arn``, ``Tags.member.1.key``,
``RoleName.x``) is ``MalformedQueryString``, deliberately stricter than ignoring it: silently dropping a
misspelled session-policy ARN or tag would issue a session other than the one asked for (fail closed).

A list index that is not a canonical positive integer (``member.0``, ``member.01``, ``member.x``) is
``MalformedQueryString``: silently dropping it would drop an element the caller sent. All constraint
violations are collected and raised together as one ``ValidationError`` (see ``validate``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import regex

from broker.api.query.model import Member, Operation, Shape
from broker.api.query.validate import check_length, check_number, check_string, lower_camel, null_message, violation
from broker.errors import MalformedQueryString, ValidationError

__all__ = ["decode_input"]

_INDEX = regex.compile(r"[1-9][0-9]{0,8}")
_INT = regex.compile(r"[+-]?[0-9]+")
_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


class _Node:
    """One dotted-name segment of the parameter tree."""

    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.value: str | None = None
        self.children: dict[str, _Node] = {}


def _tree(params: Mapping[str, str]) -> _Node:
    root = _Node()
    for key, value in params.items():
        node = root
        for part in key.split("."):
            child = node.children.get(part)
            if child is None:
                child = node.children[part] = _Node()
            node = child
        node.value = value
    return root


class _Decoder:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def structure(self, shape: Shape, node: _Node, path: str, hide: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            mpath = f"{path}.{lower_camel(name)}" if path else lower_camel(name)
            child = node.children.get(self._wire_name(member))
            if child is None or not self._present(member.shape, child):
                if name in shape.required:
                    self.errors.append(null_message(mpath))
                continue
            value = self.value(member.shape, child, mpath, hide or member.shape.sensitive)
            if value is not _ABSENT:
                out[name] = value
        if path:
            _refuse_unknown(node, {self._wire_name(m) for m in shape.members.values()}, path)
        return out

    @staticmethod
    def _wire_name(member: Member) -> str:
        target = member.shape
        if target.type == "list" and (target.flattened or member.flattened) and target.member is not None:
            return target.member.location_name or member.wire_name
        return member.wire_name

    @staticmethod
    def _present(shape: Shape, node: _Node) -> bool:
        if shape.type in ("structure", "list", "map"):
            return node.value is not None or bool(node.children)
        return node.value is not None

    def value(self, shape: Shape, node: _Node, path: str, hide: bool) -> Any:
        kind = shape.type
        if kind == "structure":
            return self.structure(shape, node, path, hide)
        if kind == "list":
            return self.list(shape, node, path, hide)
        if kind == "map":
            return self.map(shape, node, path, hide)
        assert node.value is not None
        _refuse_unknown(node, set(), path)
        return self.scalar(shape, node.value, path, hide)

    def _indexed(self, node: _Node, label: str) -> list[tuple[int, _Node]]:
        items: list[tuple[int, _Node]] = []
        for key, child in node.children.items():
            if _INDEX.fullmatch(key) is None:
                raise MalformedQueryString(f"Invalid list index '{key}' in parameter {label}")
            items.append((int(key), child))
        items.sort(key=lambda item: item[0])
        return items

    def list(self, shape: Shape, node: _Node, path: str, hide: bool) -> Any:
        assert shape.member is not None
        element = shape.member
        if shape.flattened:
            holder: _Node | None = node
        else:
            holder = node.children.get(element.location_name or "member")
        if holder is None and node.value not in (None, ""):
            self.errors.append(violation(node.value, path, "Member must be a list", sensitive=hide))
            return _ABSENT
        if not shape.flattened:
            _refuse_unknown(node, {element.location_name or "member"}, path)
        items = self._indexed(holder, path) if holder is not None else []
        out: list[Any] = []
        for index, child in items:
            epath = f"{path}.{index}.member"
            if not self._present(element.shape, child):
                self.errors.append(null_message(epath))
                continue
            value = self.value(element.shape, child, epath, hide or element.shape.sensitive)
            if value is not _ABSENT:
                out.append(value)
        check_length(shape, out, len(out), path, hide, self.errors)
        return out

    def map(self, shape: Shape, node: _Node, path: str, hide: bool) -> Any:
        assert shape.key is not None and shape.value is not None
        holder = node if shape.flattened else node.children.get("entry")
        if not shape.flattened:
            _refuse_unknown(node, {"entry"}, path)
        items = self._indexed(holder, path) if holder is not None else []
        out: dict[str, Any] = {}
        key_name = shape.key.location_name or "key"
        value_name = shape.value.location_name or "value"
        for index, entry in items:
            epath = f"{path}.{index}.entry"
            _refuse_unknown(entry, {key_name, value_name}, epath)
            key_node = entry.children.get(key_name)
            value_node = entry.children.get(value_name)
            if key_node is None or key_node.value is None:
                self.errors.append(null_message(f"{epath}.key"))
                continue
            key = self.scalar(shape.key.shape, key_node.value, f"{epath}.key", hide)
            if value_node is None or not self._present(shape.value.shape, value_node):
                self.errors.append(null_message(f"{epath}.value"))
                continue
            value = self.value(shape.value.shape, value_node, f"{epath}.value", hide or shape.value.shape.sensitive)
            if key is not _ABSENT and value is not _ABSENT:
                out[key] = value
        check_length(shape, out, len(out), path, hide, self.errors)
        return out

    def scalar(self, shape: Shape, raw: str, path: str, hide: bool) -> Any:
        kind = shape.type
        if kind == "string":
            check_string(shape, raw, path, hide, self.errors)
            return raw
        if kind in ("integer", "long"):
            low, high = _RANGES[kind]
            if _INT.fullmatch(raw) is None or not low <= int(raw) <= high:
                self.errors.append(violation(raw, path, f"Member must be a valid {kind}", sensitive=hide))
                return _ABSENT
            number = int(raw)
            check_number(shape, number, path, hide, self.errors)
            return number
        if kind in ("float", "double"):
            try:
                real = float(raw)
            except ValueError:
                self.errors.append(violation(raw, path, "Member must be a number", sensitive=hide))
                return _ABSENT
            check_number(shape, real, path, hide, self.errors)
            return real
        if kind == "boolean":
            lowered = raw.lower()
            if lowered not in ("true", "false"):
                self.errors.append(violation(raw, path, "Member must be true or false", sensitive=hide))
                return _ABSENT
            return lowered == "true"
        if kind == "timestamp":
            return self._timestamp(raw, path, hide)
        if kind == "blob":
            try:
                data = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                self.errors.append(violation(raw, path, "Member must be base64-encoded", sensitive=hide))
                return _ABSENT
            check_length(shape, data, len(data), path, hide, self.errors)
            return data
        raise TypeError(f"unsupported shape type {kind!r} for {shape.name}")

    def _timestamp(self, raw: str, path: str, hide: bool) -> Any:
        try:
            if "T" not in raw:
                raise ValueError(raw)
            stamp = datetime.fromisoformat(raw)
        except ValueError:
            self.errors.append(violation(raw, path, "Member must be an ISO 8601 timestamp", sensitive=hide))
            return _ABSENT
        if stamp.tzinfo is None:
            return stamp.replace(tzinfo=UTC)
        return stamp.astimezone(UTC)


def _refuse_unknown(node: _Node, allowed: set[str], path: str) -> None:
    """Refuse a parameter nested under a known member that the model does not define (see module doc)."""
    for key in node.children:
        if key not in allowed:
            raise MalformedQueryString(
                f"Unknown parameter '{key}' under '{path}'",
                detail=f"nested key {key!r} at {path!r} matches no model member",
            )


class _Absent:
    __slots__ = ()


_ABSENT: Any = _Absent()


def decode_input(op: Operation, params: Mapping[str, str]) -> dict[str, Any]:
    """Decode and validate ``params`` (name → value) against ``op``'s input shape.

    Returns the params dict keyed by member name; raises ``ValidationError`` with every violation, or
    ``MalformedQueryString`` for a structurally invalid list index.
    """
    if op.input is None:
        return {}
    decoder = _Decoder()
    result = decoder.structure(op.input, _tree(params), "", op.input.sensitive)
    if decoder.errors:
        raise ValidationError.from_messages(decoder.errors)
    return result
