"""Every IAM and STS operation: required members reported, empty results render, text survives both ways."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from query_helpers import CODEC, parse_response, serialize

from broker.api.query.model import Operation, operations
from broker.api.query.validate import lower_camel
from broker.errors import ValidationError

OPS = sorted(operations().values(), key=lambda op: op.name)


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_empty_request_reports_exactly_the_required_members(op: Operation) -> None:
    body = serialize(op.service, op.name, {}, validate=False)
    required = [name for name in op.input.members if name in op.input.required] if op.input else []
    if not required:
        assert CODEC.decode_request(body, "", None) == (op, {})
        return
    with pytest.raises(ValidationError) as err:
        CODEC.decode_request(body, "", None)
    messages = [f"Value null at '{lower_camel(name)}' failed to satisfy constraint: Member must not be null"
                for name in required]
    noun = "error" if len(messages) == 1 else "errors"
    assert err.value.message == f"{len(messages)} validation {noun} detected: " + "; ".join(messages)


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
def test_empty_result_parses_for_every_operation(op: Operation) -> None:
    parsed = parse_response(op.service, op.name, CODEC.encode_response(op, {}, "rid"))
    assert parsed.pop("ResponseMetadata")["RequestId"] == "rid"
    assert parsed == {}


# Characters roleDescriptionType allows: \u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF.
DESCRIPTION = st.text(st.sampled_from(["\t", "\n", "\r", *map(chr, range(0x20, 0x7F)), *map(chr, range(0xA1, 0x100))]),
                      max_size=60)


@settings(max_examples=60, deadline=None)
@given(DESCRIPTION)
def test_free_text_round_trips_both_ways(description: str) -> None:
    params = {"RoleName": "r", "AssumeRolePolicyDocument": "{}", "Description": description}
    assert CODEC.decode_request(serialize("iam", "CreateRole", params), "", None)[1] == params
    role = {"Path": "/", "RoleName": "r", "RoleId": "AROA3XFRBF535PLBIFPI4", "Arn": "arn:aws:iam::1:role/r",
            "CreateDate": datetime(2026, 1, 1, tzinfo=UTC), "Description": description}
    body = CODEC.encode_response(operations()["GetRole"], {"Role": role}, "rid")
    assert parse_response("iam", "GetRole", body)["Role"]["Description"] == description
