"""AWS error documents (parsed by botocore's own parser) and RFC 6749 §5.2 OAuth errors."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from typing import Any

import botocore.parsers
import pytest

from broker.api.errors import NAMESPACES, oauth_error, render_error, render_error_document
from broker.errors import (
    AccessDenied,
    BrokerError,
    EntityAlreadyExists,
    InvalidAction,
    InvalidIdentityToken,
    MalformedQueryString,
    NoSuchEntity,
    RequestEntityTooLarge,
    ServiceFailure,
    ValidationError,
)


def parse_response(service: str, operation: str, body: bytes, status: int) -> dict[str, Any]:
    """What botocore makes of an error response (the operation does not matter for errors)."""
    parser = botocore.parsers.create_parser("query")
    parsed: dict[str, Any] = parser.parse({"body": body, "headers": {}, "status_code": status}, None)
    return parsed


@pytest.mark.parametrize(
    ("error", "status", "fault"),
    [
        (NoSuchEntity("The role with name r cannot be found."), 404, "Sender"),
        (EntityAlreadyExists("Role with name r already exists."), 409, "Sender"),
        (ValidationError.from_messages(["Value null at 'roleName' failed to satisfy constraint: "
                                        "Member must not be null"]), 400, "Sender"),
        (InvalidAction("Could not find operation X for version 2010-05-08"), 400, "Sender"),
        (MalformedQueryString("The parameter A appears more than once"), 400, "Sender"),
        (RequestEntityTooLarge("Request must be smaller than 1024 bytes"), 413, "Sender"),
        (AccessDenied("User: arn:aws:iam::123456789012:user/a is not authorized to perform: iam:GetRole"),
         403, "Sender"),
        (ServiceFailure("The request processing has failed."), 500, "Receiver"),
    ],
)
def test_botocore_reads_code_and_message(error: BrokerError, status: int, fault: str) -> None:
    doc = render_error_document(error, "req-9", "iam")
    assert doc.status == status
    assert doc.headers == {"x-amzn-RequestId": "req-9", "Content-Type": "text/xml"}
    parsed = parse_response("iam", "GetRole", doc.body, status=status)
    assert parsed["Error"] == {"Type": fault, "Code": error.code, "Message": error.message}
    assert parsed["ResponseMetadata"]["RequestId"] == "req-9"


@pytest.mark.parametrize("service", ["iam", "sts"])
def test_namespace_follows_the_service(service: str) -> None:
    status, body = render_error(InvalidIdentityToken("Couldn't retrieve verification key"), "r", service)
    root = ET.fromstring(body)
    assert status == 400
    assert root.tag == "{" + NAMESPACES[service] + "}ErrorResponse"
    assert NAMESPACES[service] == {"iam": "https://iam.amazonaws.com/doc/2010-05-08/",
                                   "sts": "https://sts.amazonaws.com/doc/2011-06-15/"}[service]


def test_unknown_service_defaults_to_iam() -> None:
    assert ET.fromstring(render_error(NoSuchEntity("x"), "r")[1]).tag.startswith("{" + NAMESPACES["iam"])


def test_unknown_exceptions_leak_nothing(caplog: pytest.LogCaptureFixture) -> None:
    secret = "postgresql://admin:hunter2@db/broker"
    with caplog.at_level(logging.ERROR):
        doc = render_error_document(RuntimeError(secret), "req-1", "sts")
    assert (doc.status, doc.code) == (500, "InternalFailure")
    assert b"hunter2" not in doc.body and "hunter2" not in caplog.text
    parsed = parse_response("sts", "GetCallerIdentity", doc.body, status=500)
    assert parsed["Error"] == {
        "Type": "Receiver", "Code": "InternalFailure",
        "Message": "The request processing has failed because of an unknown error, exception or failure."}


def test_message_text_is_escaped() -> None:
    body = render_error(NoSuchEntity("Role <x> & </Message> not found\x00"), "<r>", "iam")[1]
    parsed = parse_response("iam", "GetRole", body, status=404)
    assert parsed["Error"]["Message"] == "Role <x> & </Message> not found\ufffd"
    assert parsed["ResponseMetadata"]["RequestId"] == "<r>"


@pytest.mark.parametrize(
    ("code", "status"),
    [("invalid_request", 400), ("invalid_client", 401), ("invalid_grant", 400), ("unauthorized_client", 400),
     ("unsupported_grant_type", 400), ("invalid_scope", 400), ("invalid_target", 400)],
)
def test_oauth_error(code: str, status: int) -> None:
    assert oauth_error(code, "subject_token is expired") == (
        status, {"error": code, "error_description": "subject_token is expired"})


def test_oauth_error_without_description() -> None:
    assert oauth_error("invalid_grant", "") == (400, {"error": "invalid_grant"})


@pytest.mark.parametrize(("code", "description"), [("server_error", "x"), ("invalid_grant", 'quote " no'),
                                                   ("invalid_grant", "back\\slash"), ("invalid_grant", "é")])
def test_oauth_error_refuses_what_rfc6749_forbids(code: str, description: str) -> None:
    with pytest.raises(ValueError):
        oauth_error(code, description)
