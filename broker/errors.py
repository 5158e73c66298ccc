"""broker's error tree. Errors are data until the edge (DESIGN.md §4).

Every error carries an AWS error code, the HTTP status AWS uses for it, and whether the fault is the
caller's (``Sender``) or ours (``Receiver``). Only ``broker/api/errors.py`` renders them on the wire.

::

    BrokerError                              code                 status  type
    ├── ValidationError                      ValidationError      400     Sender
    ├── InvalidInput                         InvalidInput         400     Sender
    ├── InvalidParameterValue                InvalidParameterValue 400    Sender
    ├── MissingParameter                     MissingParameter     400     Sender
    ├── MissingAction                        MissingAction        400     Sender
    ├── InvalidAction                        InvalidAction        400     Sender
    ├── MalformedQueryString                 MalformedQueryString 400     Sender
    ├── RequestEntityTooLarge                RequestEntityTooLarge 413    Sender
    ├── MalformedPolicyDocument              MalformedPolicyDocument 400  Sender
    ├── PackedPolicyTooLarge                 PackedPolicyTooLarge 400     Sender
    ├── NoSuchEntity                         NoSuchEntity         404     Sender
    ├── EntityAlreadyExists                  EntityAlreadyExists  409     Sender
    ├── LimitExceeded                        LimitExceeded        409     Sender
    ├── DeleteConflict                       DeleteConflict       409     Sender
    ├── UnmodifiableEntity                   UnmodifiableEntity   400     Sender
    ├── ConcurrentModification               ConcurrentModification 409   Sender
    ├── InvalidAuthenticationCode            InvalidAuthenticationCode 403 Sender
    ├── EntityTemporarilyUnmodifiable        EntityTemporarilyUnmodifiable 409 Sender
    ├── AuthError (authentication)
    │   ├── MissingAuthenticationToken       MissingAuthenticationToken 403 Sender
    │   ├── IncompleteSignature              IncompleteSignature  400     Sender
    │   ├── InvalidClientTokenId             InvalidClientTokenId 403     Sender
    │   ├── SignatureDoesNotMatch            SignatureDoesNotMatch 403    Sender
    │   ├── RequestExpired                   RequestExpired       400     Sender
    │   └── ExpiredToken                     ExpiredToken         403     Sender
    ├── AccessDenied                         AccessDenied         403     Sender
    ├── InvalidAuthorizationMessageException InvalidAuthorizationMessageException 400 Sender
    ├── federation
    │   ├── InvalidIdentityToken             InvalidIdentityToken 400     Sender
    │   ├── ExpiredTokenException            ExpiredTokenException 400    Sender
    │   ├── IDPRejectedClaim                 IDPRejectedClaim     403     Sender
    │   └── IDPCommunicationError            IDPCommunicationError 400    Sender
    ├── ServiceFailure                       ServiceFailure       500     Receiver
    └── InternalFailure                      InternalFailure      500     Receiver

Sources: AWS STS API Reference "Common Errors"
(https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html) and each IAM/STS
operation's "Errors" section. ``detail`` is the exact reason for the audit log; the wire shows only
``message`` (helpful, never an oracle).
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AccessDenied",
    "AuthError",
    "BrokerError",
    "ConcurrentModification",
    "DeleteConflict",
    "EntityAlreadyExists",
    "EntityTemporarilyUnmodifiable",
    "ExpiredToken",
    "ExpiredTokenException",
    "IDPCommunicationError",
    "IDPRejectedClaim",
    "IncompleteSignature",
    "InternalFailure",
    "InvalidAction",
    "InvalidAuthenticationCode",
    "InvalidAuthorizationMessageException",
    "InvalidClientTokenId",
    "InvalidIdentityToken",
    "InvalidInput",
    "InvalidParameterValue",
    "LimitExceeded",
    "MalformedPolicyDocument",
    "MalformedQueryString",
    "MissingAction",
    "MissingAuthenticationToken",
    "MissingParameter",
    "NoSuchEntity",
    "PackedPolicyTooLarge",
    "RequestEntityTooLarge",
    "RequestExpired",
    "ServiceFailure",
    "SignatureDoesNotMatch",
    "UnmodifiableEntity",
    "ValidationError",
]


class BrokerError(Exception):
    """Base of every error broker reports to a caller.

    ``message`` goes on the wire; ``detail`` (optional) is the precise reason, for the audit log only.
    """

    code: ClassVar[str] = "InternalFailure"
    status: ClassVar[int] = 500
    sender_fault: ClassVar[bool] = False

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail if detail is not None else message

    @property
    def fault_type(self) -> str:
        return "Sender" if self.sender_fault else "Receiver"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class _SenderError(BrokerError):
    status = 400
    sender_fault = True


class ValidationError(_SenderError):
    code = "ValidationError"

    @classmethod
    def from_messages(cls, messages: list[str]) -> ValidationError:
        """AWS's aggregate wording: ``N validation error(s) detected: A; B``."""
        n = len(messages)
        noun = "error" if n == 1 else "errors"
        return cls(f"{n} validation {noun} detected: " + "; ".join(messages))


class InvalidInput(_SenderError):
    code = "InvalidInput"


class InvalidParameterValue(_SenderError):
    code = "InvalidParameterValue"


class MissingParameter(_SenderError):
    code = "MissingParameter"


class MissingAction(_SenderError):
    code = "MissingAction"


class InvalidAction(_SenderError):
    code = "InvalidAction"


class MalformedQueryString(_SenderError):
    code = "MalformedQueryString"


class RequestEntityTooLarge(_SenderError):
    code = "RequestEntityTooLarge"
    status = 413


class MalformedPolicyDocument(_SenderError):
    code = "MalformedPolicyDocument"


class PackedPolicyTooLarge(_SenderError):
    code = "PackedPolicyTooLarge"


class NoSuchEntity(_SenderError):
    code = "NoSuchEntity"
    status = 404


class EntityAlreadyExists(_SenderError):
    code = "EntityAlreadyExists"
    status = 409


class LimitExceeded(_SenderError):
    code = "LimitExceeded"
    status = 409


class DeleteConflict(_SenderError):
    code = "DeleteConflict"
    status = 409


class UnmodifiableEntity(_SenderError):
    code = "UnmodifiableEntity"


class ConcurrentModification(_SenderError):
    code = "ConcurrentModification"
    status = 409


class EntityTemporarilyUnmodifiable(_SenderError):
    code = "EntityTemporarilyUnmodifiable"
    status = 409


class InvalidAuthenticationCode(_SenderError):
    code = "InvalidAuthenticationCode"
    status = 403


class AuthError(_SenderError):
    """The request could not be authenticated."""

    status = 403


class MissingAuthenticationToken(AuthError):
    code = "MissingAuthenticationToken"


class IncompleteSignature(AuthError):
    code = "IncompleteSignature"
    status = 400


class InvalidClientTokenId(AuthError):
    code = "InvalidClientTokenId"


class SignatureDoesNotMatch(AuthError):
    code = "SignatureDoesNotMatch"


class RequestExpired(AuthError):
    code = "RequestExpired"
    status = 400


class ExpiredToken(AuthError):
    code = "ExpiredToken"


class AccessDenied(_SenderError):
    code = "AccessDenied"
    status = 403


class InvalidIdentityToken(_SenderError):
    code = "InvalidIdentityToken"


class ExpiredTokenException(_SenderError):
    code = "ExpiredTokenException"


class IDPRejectedClaim(_SenderError):
    code = "IDPRejectedClaim"
    status = 403


class IDPCommunicationError(_SenderError):
    code = "IDPCommunicationError"


class ServiceFailure(BrokerError):
    code = "ServiceFailure"


class InternalFailure(BrokerError):
    code = "InternalFailure"


class InvalidAuthorizationMessageException(_SenderError):
    """DecodeAuthorizationMessage got a message that is not one of ours, was altered, or has expired."""

    code = "InvalidAuthorizationMessageException"
