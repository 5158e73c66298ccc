"""``QueryCodec``: the AWS Query protocol as pure functions on bytes, for the FastAPI app to call.

Decoding is three stages, each usable alone: ``parse`` (form/query string → ordered name → value mapping,
size-limited), ``lookup`` (``Action``/``Version`` → ``Operation``) and ``decode_input`` (mapping → validated
params). Encoding renders a result for the operation's output shape. FastAPI stays out of this package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from broker.api.query.decode import decode_input
from broker.api.query.encode import encode_output
from broker.api.query.form import parse_form
from broker.api.query.model import Operation, load_models, lookup, operations

__all__ = ["DecodedRequest", "QueryCodec", "service_for"]


@dataclass(frozen=True, slots=True)
class DecodedRequest:
    """A decoded Query request: the operation, its validated params and every raw parameter received."""

    operation: Operation
    params: dict[str, Any]
    raw: dict[str, str]


def service_for(raw: Mapping[str, str]) -> str:
    """Best guess of the service a (possibly invalid) request addressed, for choosing the error namespace.

    The action's service when it is known, else the service whose API version was sent, else ``"iam"``.
    """
    op = operations().get(raw.get("Action") or "")
    if op is not None:
        return op.service
    version = raw.get("Version")
    for model in load_models().values():
        if model.version == version:
            return model.service
    return "iam"


class QueryCodec:
    """Decode AWS Query requests and encode their responses.

    ``max_body_bytes`` is ``Settings.max_body_bytes``. ``strict_output`` makes result keys the output shape
    does not define raise (use it in tests); otherwise they are dropped and logged by name.
    """

    def __init__(self, *, max_body_bytes: int, strict_output: bool = False) -> None:
        self.max_body_bytes = max_body_bytes
        self.strict_output = strict_output
        load_models()

    def parse(self, body: bytes, query: str | bytes, content_type: str | None) -> dict[str, str]:
        """Stage 1: the raw parameters (query string first, then body), duplicates refused."""
        return parse_form(body, query, content_type, max_bytes=self.max_body_bytes)

    def decode(self, body: bytes, query: str | bytes, content_type: str | None) -> DecodedRequest:
        """All stages, keeping the raw parameters (SigV4 presigned fields, audit)."""
        raw = self.parse(body, query, content_type)
        op = lookup(raw.get("Action"), raw.get("Version"))
        return DecodedRequest(op, decode_input(op, raw), raw)

    def decode_request(
        self, body: bytes, query: str | bytes, content_type: str | None
    ) -> tuple[Operation, dict[str, Any]]:
        """Decode one request into its operation and validated params."""
        decoded = self.decode(body, query, content_type)
        return decoded.operation, decoded.params

    def encode_response(self, op: Operation, result: Mapping[str, Any] | None, request_id: str) -> bytes:
        """Render ``result`` as ``op``'s XML response body."""
        return encode_output(op, result, request_id, strict=self.strict_output)
