"""Policy size as AWS counts it, and the per-kind default limits.

"IAM and AWS STS quotas", section "IAM and STS character limits"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-entity-length):
managed policy 6,144 characters; inline policies per user 2,048, group 5,120, role 10,240 (aggregate, so
the caller passes what is left); role trust policy 2,048; session policies 2,048 (plaintext); "IAM doesn't
count white space when calculating the size of a policy against these limits". broker does not count
whitespace outside JSON strings (whitespace inside a string is content).
"""

from __future__ import annotations

from broker.policy.model import PolicyKind

__all__ = ["DEFAULT_MAX_SIZE", "INLINE_MAX_SIZE", "policy_size", "size_problem_code", "size_problem_message"]

DEFAULT_MAX_SIZE: dict[PolicyKind, int] = {
    "identity": 6144,
    "boundary": 6144,
    "trust": 2048,
    "session": 2048,
    "resource": 20480,  # S3 bucket policies: 20 KB (resource-based policies are per service)
}
INLINE_MAX_SIZE = {"user": 2048, "group": 5120, "role": 10240}
_WHITESPACE = frozenset(" \t\n\r")


def policy_size(document: str) -> int:
    """Characters counted against the quota: all but JSON whitespace outside strings."""
    count = 0
    in_string = False
    escaped = False
    for ch in document:
        if in_string:
            count += 1
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch in _WHITESPACE:
            continue
        else:
            count += 1
            if ch == '"':
                in_string = True
    return count


def size_problem_code(kind: PolicyKind) -> str:
    return "PackedPolicyTooLarge" if kind == "session" else "LimitExceeded"


def size_problem_message(kind: PolicyKind, limit: int) -> str:
    """AWS's quota wording ("Cannot exceed quota for PolicySize: 6144" for a managed policy)."""
    if kind == "trust":
        return f"Cannot exceed quota for ACLSizePerRole: {limit}"
    if kind == "session":
        return f"Session policy exceeds the maximum size of {limit} characters"
    return f"Cannot exceed quota for PolicySize: {limit}"
