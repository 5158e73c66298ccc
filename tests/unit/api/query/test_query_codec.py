"""The QueryCodec facade and the error-namespace guess for requests that fail before routing."""

from __future__ import annotations

import pytest
from query_helpers import CODEC, serialize

from broker.api.query import QueryCodec, service_for
from broker.errors import InvalidAction, MissingAction, RequestEntityTooLarge, ValidationError


def test_decode_keeps_raw_parameters() -> None:
    body = serialize("iam", "GetRole", {"RoleName": "r"})
    decoded = CODEC.decode(body, "X-Amz-Date=20260101T000000Z", "application/x-www-form-urlencoded")
    assert (decoded.operation.name, decoded.params) == ("GetRole", {"RoleName": "r"})
    assert decoded.raw == {"X-Amz-Date": "20260101T000000Z", "Action": "GetRole", "Version": "2010-05-08",
                           "RoleName": "r"}


def test_stage_order_size_then_action_then_validation() -> None:
    small = QueryCodec(max_body_bytes=1024)
    with pytest.raises(RequestEntityTooLarge):
        small.decode_request(b"Action=Nope&X=" + b"x" * 1024, "", None)
    with pytest.raises(MissingAction):
        small.decode_request(b"RoleName=r", "", None)
    with pytest.raises(InvalidAction):
        small.decode_request(b"Action=GetRole", "", None)
    with pytest.raises(ValidationError):
        small.decode_request(b"Action=GetRole&Version=2010-05-08", "", None)


@pytest.mark.parametrize(
    ("raw", "service"),
    [
        ({"Action": "AssumeRole"}, "sts"),
        ({"Action": "CreateRole", "Version": "2011-06-15"}, "iam"),
        ({"Action": "Nope", "Version": "2011-06-15"}, "sts"),
        ({"Action": "Nope", "Version": "2010-05-08"}, "iam"),
        ({}, "iam"),
    ],
)
def test_service_for(raw: dict[str, str], service: str) -> None:
    assert service_for(raw) == service


def test_lenient_codec_drops_undefined_result_keys() -> None:
    lenient = QueryCodec(max_body_bytes=1024)
    op = CODEC.decode_request(serialize("sts", "GetCallerIdentity", {}), "", None)[0]
    body = lenient.encode_response(op, {"Account": "123456789012", "Internal": "x"}, "rid")
    assert b"Internal" not in body and b"<Account>123456789012</Account>" in body
