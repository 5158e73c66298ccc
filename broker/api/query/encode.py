"""Encode an operation's result as the AWS Query XML response.

The envelope is the AWS Query protocol's (https://smithy.io/2.0/aws/protocols/aws-query-protocol.html
"Response serialization"; IAM API Reference, e.g. https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html
"Examples")::

    <CreateRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
      <CreateRoleResult>…members…</CreateRoleResult>
      <ResponseMetadata><RequestId>…</RequestId></ResponseMetadata>
    </CreateRoleResponse>

Operations without an output shape render only ``ResponseMetadata``. Lists are ``<member>`` elements (repeated
elements when ``flattened``), maps ``<entry><key/><value/></entry>``, timestamps ISO 8601 UTC with ``Z``,
booleans ``true``/``false``, blobs base64.

IAM returns policy documents URL-encoded (RFC 3986 percent-encoding of the JSON text): IAM API Reference,
``GetRolePolicy`` "PolicyDocument … URL-encoded compliant with RFC 3986"
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRolePolicy.html). botocore's
``handlers.json_decode_policies`` undoes this for string members named by shape ``policyDocumentType`` that
are reached from the output through structures and lists (not maps); exactly those members are encoded here,
with every reserved character escaped (``+`` too, so form-style decoders do not read it as a space).

Result keys the output shape does not define are never written. With ``strict=True`` (tests) they raise
``ValueError`` so the mistake is loud; otherwise they are dropped and their *names* logged.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from broker.api.query.model import Operation, Shape
from broker.api.query.xmltext import escape_text

__all__ = ["encode_output", "format_timestamp"]

log = logging.getLogger(__name__)


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with ``Z``; milliseconds only when the value has a fraction of a second."""
    if value.tzinfo is None:
        raise ValueError("naive datetime in a response; use an aware UTC datetime")
    utc = value.astimezone(UTC)
    if utc.microsecond:
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Writer:
    def __init__(self, strict: bool) -> None:
        self.parts: list[str] = []
        self.strict = strict

    def element(self, name: str, shape: Shape, value: Any, policies: bool) -> None:
        kind = shape.type
        if kind == "list" and shape.flattened:
            self.list_items(name, shape, value, policies)
            return
        if kind == "map" and shape.flattened:
            for key, item in self._mapping(value, shape).items():
                self.parts.append(f"<{name}>")
                self.map_entry(shape, key, item)
                self.parts.append(f"</{name}>")
            return
        self.parts.append(f"<{name}>")
        self.body(shape, value, policies)
        self.parts.append(f"</{name}>")

    def body(self, shape: Shape, value: Any, policies: bool) -> None:
        kind = shape.type
        if kind == "structure":
            self.structure(shape, value, policies)
        elif kind == "list":
            self.list_items(None, shape, value, policies)
        elif kind == "map":
            for key, item in self._mapping(value, shape).items():
                self.parts.append("<entry>")
                self.map_entry(shape, key, item)
                self.parts.append("</entry>")
        else:
            self.parts.append(escape_text(self.scalar(shape, value)))

    def structure(self, shape: Shape, value: Any, policies: bool) -> None:
        data = self._mapping(value, shape)
        unknown = data.keys() - shape.members.keys()
        if unknown:
            if self.strict:
                raise ValueError(f"{shape.name} has no member(s) {sorted(unknown)}")
            log.error("dropping undefined result keys %s of %s", sorted(unknown), shape.name)
        for name, member in shape.members.items():
            item = data.get(name)
            if item is None:
                continue
            target = member.shape
            if policies and target.policy_document:
                doc = item if isinstance(item, str) else json.dumps(item, separators=(",", ":"))
                self.parts.append(f"<{member.wire_name}>{quote(doc, safe='')}</{member.wire_name}>")
            else:
                self.element(member.wire_name, target, item, policies)

    def list_items(self, flat_name: str | None, shape: Shape, value: Any, policies: bool) -> None:
        if not isinstance(value, list | tuple):
            raise ValueError(f"{shape.name} expects a list, got {type(value).__name__}")
        assert shape.member is not None
        element = shape.member
        name = flat_name if flat_name is not None else (element.location_name or "member")
        if flat_name is not None and element.location_name:
            name = element.location_name
        for item in value:
            self.parts.append(f"<{name}>")
            self.body(element.shape, item, policies)
            self.parts.append(f"</{name}>")

    def map_entry(self, shape: Shape, key: Any, item: Any) -> None:
        assert shape.key is not None and shape.value is not None
        key_name = shape.key.location_name or "key"
        value_name = shape.value.location_name or "value"
        self.parts.append(f"<{key_name}>{escape_text(self.scalar(shape.key.shape, key))}</{key_name}>")
        self.parts.append(f"<{value_name}>")
        self.body(shape.value.shape, item, False)
        self.parts.append(f"</{value_name}>")

    @staticmethod
    def _mapping(value: Any, shape: Shape) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise ValueError(f"{shape.name} expects a mapping, got {type(value).__name__}")
        return value

    @staticmethod
    def scalar(shape: Shape, value: Any) -> str:
        kind = shape.type
        if kind == "string" and isinstance(value, str):
            return value
        if kind == "boolean" and isinstance(value, bool):
            return "true" if value else "false"
        if kind in ("integer", "long") and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if kind in ("float", "double") and isinstance(value, int | float) and not isinstance(value, bool):
            return repr(float(value))
        if kind == "timestamp" and isinstance(value, datetime):
            return format_timestamp(value)
        if kind == "blob" and isinstance(value, bytes):
            return base64.b64encode(value).decode("ascii")
        raise ValueError(f"{shape.name} ({kind}) cannot hold a {type(value).__name__}")


def encode_output(op: Operation, result: Mapping[str, Any] | None, request_id: str, *, strict: bool = False) -> bytes:
    """Render ``result`` (keyed by output member name) as ``op``'s XML response body."""
    writer = _Writer(strict)
    parts = writer.parts
    parts.append(f'<{op.name}Response xmlns="{op.namespace}">')
    if op.output is not None:
        wrapper = op.result_wrapper or f"{op.name}Result"
        parts.append(f"<{wrapper}>")
        writer.structure(op.output, result or {}, True)
        parts.append(f"</{wrapper}>")
    elif result:
        if strict:
            raise ValueError(f"{op.name} has no output shape but got keys {sorted(result)}")
        log.error("dropping result keys %s of %s, which has no output", sorted(result), op.name)
    parts.append(f"<ResponseMetadata><RequestId>{escape_text(request_id)}</RequestId></ResponseMetadata>")
    parts.append(f"</{op.name}Response>")
    return "".join(parts).encode("utf-8")
