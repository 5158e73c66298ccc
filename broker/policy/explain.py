"""Human-readable trace of a Decision (stub; filled in next)."""

from __future__ import annotations

from broker.policy.model import Decision

__all__ = ["explain"]


def explain(decision: Decision) -> str:
    """A few lines of English saying why the decision came out as it did."""
    raise NotImplementedError
