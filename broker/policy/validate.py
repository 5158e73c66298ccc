"""Validate a policy document for one document kind, collecting every problem (stub; filled in next)."""

from __future__ import annotations

from broker.errors import LimitExceeded, MalformedPolicyDocument, PackedPolicyTooLarge
from broker.policy.model import PolicyKind, Problem

__all__ = ["DEFAULT_MAX_SIZE", "PackedPolicyError", "PolicyDocumentError", "PolicySizeError", "policy_size", "validate"]

DEFAULT_MAX_SIZE: dict[PolicyKind, int] = {
    "identity": 6144,
    "boundary": 6144,
    "resource": 20480,
    "trust": 2048,
    "session": 2048,
}


class PolicyDocumentError(MalformedPolicyDocument):
    """``MalformedPolicyDocument`` with every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].message, detail="; ".join(f"{p.pointer or '/'}: {p.message}" for p in problems))
        self.problems = tuple(problems)


class PolicySizeError(LimitExceeded):
    """``LimitExceeded``: the document is larger than its quota."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].message)
        self.problems = tuple(problems)


class PackedPolicyError(PackedPolicyTooLarge):
    """``PackedPolicyTooLarge``: a session policy is larger than its quota."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].message)
        self.problems = tuple(problems)


def policy_size(document: str) -> int:
    """Characters counted against the quota: whitespace outside strings is not counted."""
    raise NotImplementedError


def validate(document: str, kind: PolicyKind, *, max_size: int | None = None) -> list[Problem]:
    """Every problem in ``document`` as a ``kind`` policy; ``[]`` when valid."""
    raise NotImplementedError
