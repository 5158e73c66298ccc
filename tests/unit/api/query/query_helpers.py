"""Shared helpers: botocore's own serializer and parser, driving broker's Query codec in tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import botocore.parsers
import botocore.serialize
import botocore.session
from botocore.handlers import json_decode_policies

from broker.api.query.codec import QueryCodec

_SESSION = botocore.session.get_session()
SERVICE_MODELS = {name: _SESSION.get_service_model(name) for name in ("iam", "sts")}
CODEC = QueryCodec(max_body_bytes=256 * 1024, strict_output=True)


def serialize(service: str, operation: str, params: dict[str, Any], *, validate: bool = True) -> bytes:
    """The form body botocore sends for ``operation`` with ``params``."""
    serializer = botocore.serialize.create_serializer("query", include_validation=validate)
    request = serializer.serialize_to_request(params, SERVICE_MODELS[service].operation_model(operation))
    return urlencode(request["body"]).encode("ascii")


def parse_response(service: str, operation: str, body: bytes, status: int = 200) -> dict[str, Any]:
    """What boto3 returns for ``body`` (IAM policy documents decoded as botocore does)."""
    model = SERVICE_MODELS[service].operation_model(operation)
    parser = botocore.parsers.create_parser("query")
    shape = model.output_shape if status < 300 else None
    parsed: dict[str, Any] = parser.parse({"body": body, "headers": {}, "status_code": status}, shape)
    if service == "iam" and status < 300:
        json_decode_policies(parsed, model)
    return parsed
