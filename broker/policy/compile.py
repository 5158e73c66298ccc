"""Compile a validated policy once into matchers and an action index (stub; filled in next)."""

from __future__ import annotations

from broker.policy.model import PolicyKind

__all__ = ["CompiledPolicy", "PolicyCache", "compile_policy"]


class CompiledPolicy:
    """A validated, compiled policy document. Immutable; share it freely."""

    policy_id: str
    kind: PolicyKind
    version: str
    document: str


def compile_policy(
    document: str, *, policy_id: str, kind: PolicyKind, max_size: int | None = None
) -> CompiledPolicy:
    """Validate and compile; raises ``PolicyDocumentError`` / ``PolicySizeError`` with every problem."""
    raise NotImplementedError


class PolicyCache:
    """Compiled policies keyed by (policy_id, version tag or content hash), with explicit invalidation."""

    def get(self, document: str, *, policy_id: str, kind: PolicyKind, version: str | None = None) -> CompiledPolicy:
        raise NotImplementedError

    def invalidate(self, policy_id: str) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        raise NotImplementedError
