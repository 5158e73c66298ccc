"""Semantic checks shared by the IAM operations: policy documents, sizes, tags.

Policy documents go through :func:`check_policy`, the one place wired to the policy engine
(``broker.policy.validate``). While the engine's validator is still a stub (it raises
``NotImplementedError``) a minimal fallback applies: the text must be a JSON object with ``Statement``,
and the size quota is enforced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from broker import policy
from broker.errors import InvalidInput, LimitExceeded, MalformedPolicyDocument

__all__ = [
    "MANAGED_POLICY_MAX",
    "TRUST_POLICY_MAX",
    "check_policy",
    "check_tags",
    "document_size",
    "tag_context",
]

MANAGED_POLICY_MAX = 6144
"""Managed policy document size; "IAM and AWS STS quotas", section "IAM and AWS STS character limits"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html#reference_iam-quotas-entity-length)."""

TRUST_POLICY_MAX = 2048
"""Role trust policy length (default quota, same page)."""

MAX_TAGS = 50
"""Tags per IAM resource; "Tagging IAM resources", section "Rules for tagging"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags.html#id_tags_rules_creating)."""

PolicyDocKind = Literal["identity", "trust", "boundary"]


def document_size(document: str) -> int:
    """Characters counted against a quota: whitespace outside JSON strings is not counted."""
    try:
        return policy.policy_size(document)
    except NotImplementedError:
        count, in_string, escaped = 0, False, False
        for ch in document:
            if in_string:
                count += 1
                if escaped:
                    escaped = False
                elif ch == "\\":
                    escaped = True
                elif ch == '"':
                    in_string = False
            elif not ch.isspace():
                count += 1
                in_string = ch == '"'
        return count


def _fallback(document: str, kind: PolicyDocKind, max_size: int) -> None:
    if document_size(document) > max_size:
        if kind == "trust":
            raise LimitExceeded(f"Cannot exceed quota for ACLSizePerRole: {max_size}")
        raise LimitExceeded(f"Cannot exceed quota for PolicySize: {max_size}")
    try:
        parsed = json.loads(document)
    except ValueError as exc:
        raise MalformedPolicyDocument("Syntax errors in policy.", detail=str(exc)) from exc
    if not isinstance(parsed, dict) or "Statement" not in parsed:
        raise MalformedPolicyDocument("Syntax errors in policy.", detail="no Statement in the document")


def check_policy(document: str, kind: PolicyDocKind, max_size: int) -> None:
    """Raise ``MalformedPolicyDocument`` (every problem in ``detail``) or ``LimitExceeded`` (too large)."""
    try:
        problems = policy.validate(document, kind, max_size=max_size)
    except NotImplementedError:
        _fallback(document, kind, max_size)
        return
    if not problems:
        return
    sized = [p for p in problems if p.code == "LimitExceeded"]
    if sized:
        raise policy.PolicySizeError(sized)
    raise policy.PolicyDocumentError(problems)


def check_tags(tags: Sequence[Mapping[str, Any]], existing: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """Validate new tags (with ``existing`` ones they join) and return them as ``(key, value)`` pairs.

    Rules from "Tagging IAM resources", section "Rules for tagging"
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_tags.html#id_tags_rules_creating): keys are
    case-insensitively unique, the ``aws:`` prefix is reserved, at most 50 tags per resource.
    """
    pairs = [(str(t["Key"]), str(t.get("Value", ""))) for t in tags]
    seen: set[str] = set()
    for key, _ in pairs:
        if key.lower().startswith("aws:"):
            raise InvalidInput("Tag keys beginning with 'aws:' are reserved for AWS use.", detail=f"tag key {key!r}")
        if key.lower() in seen:
            raise InvalidInput("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        seen.add(key.lower())
    total = len(seen | {k.lower() for k, _ in existing})
    if total > MAX_TAGS:
        raise LimitExceeded("The number of tags has reached the maximum limit.", detail=f"{total} tags > {MAX_TAGS}")
    return pairs


def tag_context(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """``aws:RequestTag/KEY`` and ``aws:TagKeys`` for tagging calls ("AWS global condition context keys",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-requesttag)."""
    ctx: dict[str, list[str]] = {f"aws:RequestTag/{k}": [v] for k, v in pairs}
    if pairs:
        ctx["aws:TagKeys"] = [k for k, _ in pairs]
    return ctx
