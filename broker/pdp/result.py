"""The answer of one authorization: the decision, who asked, and why (STYLE.md habit 5).

Its JSON form is the body of ``POST /v1/authorize`` (SPEC.md §3.3)::

    {"decision": "Allow" | "ExplicitDeny" | "ImplicitDeny",
     "principal": {"arn", "type", "account", "user_id", "identity_arn", ...} | null,
     "matched_statements": [{"policy_id", "sid", "pointer", "effect", "set"}, ...],
     "missing_context_keys": [...],
     "reason": "one sentence",
     "error": {"Code", "Message"}}          # only when the described request failed authentication

An authentication failure of the *described* request is a decision (``ImplicitDeny``, nobody is
allowed anything), not an error of the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from broker.errors import BrokerError
from broker.policy import Effect, MatchedStatement
from broker.principal import Principal

__all__ = ["AuthzResult", "authz_result", "principal_json"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def principal_json(principal: Principal) -> dict[str, Any]:
    """What a service may learn about the caller (never a secret, a token or a session policy)."""
    out: dict[str, Any] = {
        "arn": principal.arn,
        "type": principal.kind,
        "account": principal.account,
        "user_id": principal.user_id,
        "name": principal.name,
        "identity_arn": principal.identity_arn,
        "temporary": principal.temporary,
        "mfa_present": principal.mfa_present,
        "tags": dict(principal.tags),
    }
    optional: dict[str, Any] = {
        "access_key_id": principal.access_key_id,
        "session_name": principal.session_name,
        "session_id": principal.session_id,
        "source_identity": principal.source_identity,
        "token_issued_at": _iso(principal.token_issued_at),
        "expires_at": _iso(principal.expires_at),
        "federated_provider": principal.federated_provider,
        "federated_subject": principal.federated_subject,
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


@dataclass(frozen=True, slots=True)
class AuthzResult:
    """One decision with its reasons; ``error`` is set when the described request did not authenticate."""

    decision: Effect
    principal: Principal | None
    matched_statements: tuple[MatchedStatement, ...] = ()
    missing_context_keys: tuple[str, ...] = ()
    reason: str = ""
    error: BrokerError | None = None
    denial: str = ""
    """AWS's AccessDenied wording for a denial (``User: … is not authorized to perform: …``)."""

    @property
    def allowed(self) -> bool:
        return self.decision == "Allow"

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "decision": self.decision,
            "principal": principal_json(self.principal) if self.principal is not None else None,
            "matched_statements": [
                {"policy_id": m.policy_id, "sid": m.sid, "pointer": m.pointer, "effect": m.effect, "set": m.set}
                for m in self.matched_statements
            ],
            "missing_context_keys": list(self.missing_context_keys),
            "reason": self.reason,
        }
        if self.error is not None:
            body["error"] = {"Code": self.error.code, "Message": self.error.message}
        return body


_new = object.__new__
_SETTERS = tuple(AuthzResult.__dict__[name].__set__ for name in (
    "decision", "principal", "matched_statements", "missing_context_keys", "reason", "error", "denial"))


def authz_result(
    decision: Effect,
    principal: Principal | None,
    matched_statements: tuple[MatchedStatement, ...],
    missing_context_keys: tuple[str, ...],
    reason: str,
    denial: str,
) -> AuthzResult:
    """``AuthzResult(decision, principal, matched_statements, missing_context_keys, reason, None, denial)``
    through the slots' own setters (the frozen dataclass ``__init__`` goes through ``object.__setattr__`` per
    field): the per-decision constructor of the hot path. A unit test keeps the two equal."""
    result = _new(AuthzResult)
    s0, s1, s2, s3, s4, s5, s6 = _SETTERS
    s0(result, decision)
    s1(result, principal)
    s2(result, matched_statements)
    s3(result, missing_context_keys)
    s4(result, reason)
    s5(result, None)
    s6(result, denial)
    return result
