"""Checks shared by the STS operations: durations, session tags, source identity, session policies, MFA.

Sources (AWS STS API Reference, https://docs.aws.amazon.com/STS/latest/APIReference/):
- API_AssumeRole "DurationSeconds": 900 s up to the role's MaxSessionDuration; "Tags" (≤ 50, keys
  case-insensitively unique, key ≤ 128 and value ≤ 256 characters); "TransitiveTagKeys"; "SourceIdentity"
  (cannot begin with ``aws:``; "you cannot change it" once set); "PolicyArns" (≤ 10 managed policies in the
  same account as the role); "Policy" (plaintext ≤ 2,048 characters).
- IAM User Guide, "Role chaining" (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles.html#iam-term-role-chaining):
  role chaining "limits your AWS CLI or AWS API role session to a maximum of one hour".
- IAM User Guide, "Chaining roles with session tags"
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_role-chaining):
  inherited transitive tags cannot be overridden.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from broker import policy
from broker.arn import parse_arn
from broker.errors import AccessDenied, ValidationError
from broker.principal import Principal
from broker.service.env import OpEnv

__all__ = [
    "CHAIN_LIMIT",
    "MAX_POLICY_ARNS",
    "SessionInputs",
    "check_duration",
    "check_session_policies",
    "check_source_identity",
    "check_tags",
    "verify_mfa",
]

CHAIN_LIMIT = 3600
MAX_POLICY_ARNS = 10
MAX_SOURCE_IDENTITY = 64


def _invalid(member: str, value: str, constraint: str) -> ValidationError:
    return ValidationError.from_messages([f"Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"])


def check_duration(requested: int | None, *, maximum: int, chained: bool) -> int:
    """The session duration, with AWS's ValidationError wording past the role's limit or the chain limit."""
    seconds = 3600 if requested is None else int(requested)
    if chained and seconds > CHAIN_LIMIT:
        raise ValidationError(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
        )
    if seconds > maximum:
        raise ValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    return seconds


@dataclass(frozen=True)
class SessionInputs:
    """Validated session tags: the new session's tags (inherited transitive first) and transitive keys."""

    request_tags: tuple[tuple[str, str], ...]
    tags: tuple[tuple[str, str], ...]
    transitive_keys: tuple[str, ...]


def check_tags(
    raw_tags: Sequence[Mapping[str, Any]], raw_transitive: Sequence[str], caller: Principal | None
) -> SessionInputs:
    """Validate ``Tags``/``TransitiveTagKeys`` against each other and against inherited transitive tags."""
    pairs = [(str(t["Key"]), str(t.get("Value", ""))) for t in raw_tags]
    problems: list[str] = []
    seen: set[str] = set()
    for i, (key, _) in enumerate(pairs, 1):
        if key.lower().startswith("aws:"):
            problems.append(f"Value '{key}' at 'tags.{i}.member.key' failed to satisfy constraint: "
                            "Member must not begin with 'aws:' (reserved for AWS use)")
        if key.lower() in seen:
            raise ValidationError("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        seen.add(key.lower())
    if problems:
        raise ValidationError.from_messages(problems)
    transitive = [str(k) for k in raw_transitive]
    missing = [k for k in transitive if k.lower() not in seen]
    if missing:
        raise ValidationError(
            f"The following TransitiveTagKeys are not present in the session tags: {', '.join(missing)}"
        )
    inherited: list[tuple[str, str]] = []
    inherited_keys: list[str] = []
    if caller is not None and caller.kind == "assumed-role" and caller.transitive_tag_keys:
        wanted = {k.lower() for k in caller.transitive_tag_keys}
        inherited = [(k, v) for k, v in caller.tags.items() if k.lower() in wanted]
        inherited_keys = list(caller.transitive_tag_keys)
        clash = sorted(k for k, _ in pairs if k.lower() in wanted)
        if clash:
            raise ValidationError(
                f"Session tags cannot override transitive tags inherited from the calling session: {', '.join(clash)}"
            )
    if len(inherited) + len(pairs) > 50:
        raise ValidationError("The number of session tags, including inherited transitive tags, cannot exceed 50.")
    keys = list(dict.fromkeys(inherited_keys + transitive))
    return SessionInputs(tuple(pairs), tuple(inherited + pairs), tuple(keys))


def check_source_identity(requested: str | None, caller: Principal | None) -> str | None:
    """``SourceIdentity``: 2..64 characters, not ``aws:``, and immutable once a session carries one."""
    inherited = caller.source_identity if caller is not None else None
    if requested is None:
        return inherited
    if len(requested) > MAX_SOURCE_IDENTITY:
        limit = f"Member must have length less than or equal to {MAX_SOURCE_IDENTITY}"
        raise _invalid("sourceIdentity", requested, limit)
    if requested.lower().startswith("aws:"):
        raise _invalid("sourceIdentity", requested, "Member must not begin with 'aws:'")
    if inherited is not None and requested != inherited:
        raise ValidationError(
            "The source identity of a session cannot be changed: the calling session's source identity is "
            f"'{inherited}'.",
            detail=f"requested {requested!r} over inherited {inherited!r}",
        )
    return requested


def check_session_policies(env: OpEnv, document: str | None, arns: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """Validate the inline session policy (MalformedPolicyDocument / PackedPolicyTooLarge) and the ARNs."""
    if document is not None:
        policy.compile_policy(document, policy_id="session:inline", kind="session")
    out: list[str] = []
    if len(arns) > MAX_POLICY_ARNS:
        raise ValidationError.from_messages(
            [f"Value '{len(arns)}' at 'policyArns' failed to satisfy constraint: "
             f"Member must have length less than or equal to {MAX_POLICY_ARNS}"]
        )
    for descriptor in arns:
        arn = str(descriptor.get("arn", ""))
        try:
            parsed = parse_arn(arn)
        except ValueError:
            parsed = None
        if parsed is None or parsed.service != "iam" or parsed.account != env.arns.account or (
            env.tx.iam.get_policy(arn) is None
        ):
            raise ValidationError(f"Policy {arn} does not exist or is not a managed policy of this account.")
        out.append(arn)
    return tuple(out)


def verify_mfa(env: OpEnv, caller: Principal, serial: str | None, code: str | None) -> datetime | None:
    """Check ``SerialNumber``/``TokenCode`` through helper-8's MFA service; the authentication time."""
    if serial is None and code is None:
        return None
    if serial is None or code is None:
        raise AccessDenied(
            "MultiFactorAuthentication failed, must provide both MFA serial number and one time pass code."
        )
    from broker.service.mfa import verify_mfa_code  # single call site into the MFA service (issue 4 item 5)

    user_id = caller.user_id if caller.kind == "user" else None
    return verify_mfa_code(env, serial, code, user_id=user_id)
