"""Wire rendering of broker errors: AWS Query error documents and RFC 6749 OAuth error bodies.

This is the only module that turns a ``broker.errors.BrokerError`` into bytes (DESIGN.md §4, STYLE.md habit 6).

AWS Query error document (IAM API Reference "Common Errors",
https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html; STS
https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html; wire form per the Smithy awsQuery
protocol, https://smithy.io/2.0/aws/protocols/aws-query-protocol.html "Operation error serialization")::

    <ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
      <Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>…</Message></Error>
      <RequestId>…</RequestId>
    </ErrorResponse>

with the error's HTTP status and the ``x-amzn-RequestId`` header. Exceptions that are not ``BrokerError`` are
``500 InternalFailure`` with AWS's generic message (Common Errors, "InternalFailure": "The request processing
has failed because of an unknown error, exception or failure."), never the exception text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import regex

from broker.api.query.xmltext import escape_text
from broker.errors import BrokerError, InternalFailure

__all__ = [
    "NAMESPACES",
    "OAUTH_ERROR_CODES",
    "ErrorDocument",
    "oauth_error",
    "render_error",
    "render_error_document",
]

log = logging.getLogger(__name__)

#: XML namespace of each service's documents (botocore model metadata ``xmlNamespace``).
NAMESPACES = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}

INTERNAL_FAILURE_MESSAGE = "The request processing has failed because of an unknown error, exception or failure."


@dataclass(frozen=True, slots=True)
class ErrorDocument:
    """A rendered error: status, body and the headers to send with it."""

    status: int
    body: bytes
    headers: dict[str, str]
    code: str


def render_error(exc: BaseException, request_id: str, service: str | None = None) -> tuple[int, bytes]:
    """Return ``(status, body)`` of the AWS Query error document for ``exc`` (see ``render_error_document``)."""
    doc = render_error_document(exc, request_id, service)
    return doc.status, doc.body


def render_error_document(exc: BaseException, request_id: str, service: str | None = None) -> ErrorDocument:
    """Render ``exc`` as the AWS Query error document of ``service`` ("iam" or "sts"; IAM when unknown)."""
    if isinstance(exc, BrokerError):
        error: BrokerError = exc
    else:
        log.error("unhandled %s answered as InternalFailure (request %s)", type(exc).__name__, request_id)
        error = InternalFailure(INTERNAL_FAILURE_MESSAGE)
    namespace = NAMESPACES.get(service or "iam", NAMESPACES["iam"])
    body = (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>{error.fault_type}</Type>'
        f"<Code>{escape_text(error.code)}</Code><Message>{escape_text(_printable(error.message))}</Message>"
        f"</Error><RequestId>{escape_text(request_id)}</RequestId></ErrorResponse>"
    ).encode()
    headers = {"x-amzn-RequestId": request_id, "Content-Type": "text/xml"}
    return ErrorDocument(status=error.status, body=body, headers=headers, code=error.code)


_NOT_XML = regex.compile("[^\\u0009\\u000A\\u000D\\u0020-\\uD7FF\\uE000-\\uFFFD\\U00010000-\\U0010FFFF]")


def _printable(message: str) -> str:
    """Error messages may quote caller input; replace what XML cannot carry rather than fail the error path."""
    return _NOT_XML.sub("\ufffd", message)


#: RFC 6749 §5.2 error codes, plus RFC 8693 §2.2.2 ``invalid_target`` for token exchange.
OAUTH_ERROR_CODES = frozenset({
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
})

_DESCRIPTION = regex.compile(r"[\x20\x21\x23-\x5B\x5D-\x7E]*")


def oauth_error(code: str, description: str) -> tuple[int, dict[str, str]]:
    """Return ``(status, json_body)`` for an OAuth 2.0 token endpoint error.

    RFC 6749 §5.2 (https://www.rfc-editor.org/rfc/rfc6749#section-5.2): status 400, except
    ``invalid_client``, which is 401 (the caller adds ``WWW-Authenticate`` when the client authenticated
    with the Authorization header). ``error_description`` is limited to %x20-21 / %x23-5B / %x5D-7E;
    anything else is a programming error.
    """
    if code not in OAUTH_ERROR_CODES:
        raise ValueError(f"unknown OAuth error code {code!r}")
    if _DESCRIPTION.fullmatch(description) is None:
        raise ValueError("error_description must use only the characters RFC 6749 §5.2 allows")
    status = 401 if code == "invalid_client" else 400
    body = {"error": code}
    if description:
        body["error_description"] = description
    return status, body
