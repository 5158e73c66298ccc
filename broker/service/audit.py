"""Audit events: one CloudTrail-shaped record per request, secrets removed (SPEC.md §3.5).

Shape follows "CloudTrail record contents"
(https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html)
and "CloudTrail userIdentity element"
(https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html):
``eventVersion``, ``eventTime`` (UTC, ``Z``), ``eventSource`` (``iam.amazonaws.com`` / ``sts.amazonaws.com``),
``eventName``, ``awsRegion``, ``sourceIPAddress``, ``userAgent``, ``userIdentity``, ``requestParameters``,
``responseElements``, ``errorCode``/``errorMessage`` on failure, ``requestID``, ``eventID``, ``readOnly``,
``eventType``, ``recipientAccountId``. broker adds ``sessionId`` (the temporary access key id of a role
session) and, on failure, ``additionalEventData.errorDetail``: the exact reason that the wire message
deliberately leaves out (DESIGN.md §4, "Errors are data until the edge").

Redaction is a deny-list of member names, matched case-insensitively at any depth; the value becomes
``HIDDEN_DUE_TO_SECURITY_REASONS`` (CloudTrail's own marker). As a second line of defence, any string
that looks like a JWT is hidden wherever it appears, and very long strings are replaced by their length and
SHA-256 so that a metadata document or assertion cannot bloat the log.

``eventID`` is derived from the request id (UUID v5), so building an event needs no randomness and the
same request always yields the same id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from broker.errors import BrokerError
from broker.principal import CallContext, Principal

__all__ = [
    "EVENT_VERSION",
    "HIDDEN",
    "SENSITIVE_MEMBERS",
    "LoggingAuditSink",
    "RedactedEvent",
    "build_event",
    "redact",
]

EVENT_VERSION = "1.08"
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
MAX_STRING = 16 * 1024

SENSITIVE_MEMBERS = frozenset(
    name.lower()
    for name in (
        "SecretAccessKey",
        "SessionToken",
        "SAMLAssertion",
        "SAMLResponse",
        "WebIdentityToken",
        "Password",
        "NewPassword",
        "OldPassword",
        "TokenCode",
        "AuthenticationCode1",
        "AuthenticationCode2",
        "Base32StringSeed",
        "QRCodePNG",
        "PrivateKey",
        "AddPrivateKey",
        "subject_token",
        "actor_token",
        "access_token",
        "id_token",
        "refresh_token",
        "client_secret",
        "code_verifier",
        "Authorization",
        "X-Amz-Security-Token",
        "X-Amz-Signature",
        "SecurityToken",
        "EncodedMessage",
    )
)
"""Member names whose values never reach the audit log."""

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
_READ_ONLY_PREFIXES = ("Get", "List", "Simulate", "Decode")
_EVENT_NS = uuid.UUID("6f2b1a8e-0d5c-4e0b-9a57-3f1d2c9b8e41")
_EVENT_NS_BYTES = _EVENT_NS.bytes


def event_id(name: str) -> str:
    """``str(uuid.uuid5(_EVENT_NS, name))`` without building UUID objects (RFC 4122 §4.3: SHA-1 of namespace
    and name, version 5, variant 10)."""
    digest = bytearray(hashlib.sha1(_EVENT_NS_BYTES + name.encode("utf-8"), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(text: str) -> str:
    if "eyJ" in text and _JWT.search(text):  # every JWT starts "eyJ" (a JSON header); the search only then
        return HIDDEN
    if len(text) > MAX_STRING:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return f"<{len(text)} characters, sha256 {digest}>"
    return text


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, datetime):
        return _time(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    return _text(value if isinstance(value, str) else str(value))


def redact(value: Any) -> Any:
    """A JSON-ready copy of ``value`` with every sensitive member hidden, at any depth."""
    kind = type(value)
    if kind is str:  # the common cases first, by exact type; subclasses take the general tests below
        return _text(value)
    if kind is dict or isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = k if type(k) is str else str(k)
            out[key] = HIDDEN if v is not None and key.lower() in SENSITIVE_MEMBERS else redact(v)
        return out
    if kind is list or kind is tuple or isinstance(value, list | tuple | set | frozenset):
        return [redact(v) for v in value]
    return _scalar(value)


class RedactedEvent(dict[str, Any]):
    """An event every member of which has passed :func:`redact` (what :func:`build_event` returns).

    ``redact`` is idempotent, so a sink need not redact such an event again; anything added to it later
    must be redacted by whoever adds it (the dispatcher's ``additionalEventData`` is)."""


def _identity(principal: Principal | None, action: str) -> dict[str, Any]:
    if principal is None or principal.kind == "anonymous":
        if action == "AssumeRoleWithWebIdentity":
            return {"type": "WebIdentityUser"}
        if action == "AssumeRoleWithSAML":
            return {"type": "SAMLUser"}
        return {"type": "Unknown"}
    kind = {
        "root": "Root",
        "user": "IAMUser",
        "assumed-role": "AssumedRole",
        "federated-user": "FederatedUser",
    }[principal.kind]
    out: dict[str, Any] = {
        "type": kind,
        "principalId": principal.user_id,
        "arn": principal.arn,
        "accountId": principal.account,
    }
    if principal.access_key_id:
        out["accessKeyId"] = principal.access_key_id
    if principal.kind == "user":
        out["userName"] = principal.name
    if principal.temporary or principal.kind == "assumed-role":
        context: dict[str, Any] = {
            "attributes": {
                "mfaAuthenticated": "true" if principal.mfa_present else "false",
                **({"creationDate": _time(principal.token_issued_at)} if principal.token_issued_at else {}),
            }
        }
        if principal.kind == "assumed-role":
            context["sessionIssuer"] = {
                "type": "Role",
                "principalId": principal.user_id.split(":", 1)[0],
                "arn": principal.identity_arn,
                "accountId": principal.account,
                "userName": principal.identity_arn.rsplit("/", 1)[-1],
            }
        if principal.source_identity:
            context["sourceIdentity"] = principal.source_identity
        out["sessionContext"] = context
    return out


def build_event(
    call: CallContext,
    service: str,
    action: str,
    params: Mapping[str, Any],
    result: Mapping[str, Any] | None,
    error: BrokerError | None,
) -> dict[str, Any]:
    """The audit event of one call: ``result`` on success, ``error`` on refusal (never both)."""
    source = service if "." in service else f"{service}.amazonaws.com"
    principal = call.principal
    event = RedactedEvent({
        "eventVersion": EVENT_VERSION,
        "eventTime": _time(call.now),
        "eventSource": source,
        "eventName": action,
        "awsRegion": _scalar(call.region),
        "sourceIPAddress": _scalar(call.source_ip),
        "userAgent": _scalar(call.user_agent),
        "userIdentity": redact(_identity(principal, action)),
        "requestParameters": redact(params) if params else None,
        "responseElements": redact(result) if result else None,
        "requestID": _scalar(call.request_id),
        "eventID": event_id(f"{call.request_id}/{source}/{action}"),
        "readOnly": action.startswith(_READ_ONLY_PREFIXES),
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": _scalar(principal.account) if principal is not None else None,
    })
    if principal is not None and principal.temporary and principal.access_key_id:
        event["sessionId"] = _scalar(principal.access_key_id)
    if error is not None:
        event["errorCode"] = _scalar(error.code)
        event["errorMessage"] = _scalar(error.message)
        if error.detail != error.message:
            event["additionalEventData"] = {"errorDetail": _scalar(error.detail)}
    return event


class LoggingAuditSink:
    """Writes each event as one JSON line to the ``broker.audit`` logger (redacted unless it is a
    :class:`RedactedEvent`; nothing is built when the logger would drop the line)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("broker.audit")

    def __call__(self, event: Mapping[str, Any]) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        shown = event if isinstance(event, RedactedEvent) else redact(event)  # build_event's are already
        self.logger.info(json.dumps(shown, sort_keys=True, separators=(",", ":")))
