"""Decide one request against a principal's policy set (stub; filled in next)."""

from __future__ import annotations

from broker.policy.model import Decision, PolicySet, Request

__all__ = ["evaluate"]


def evaluate(request: Request, policies: PolicySet) -> Decision:
    """Allow, ExplicitDeny or ImplicitDeny, with the statements that decided and the missing context keys."""
    raise NotImplementedError
