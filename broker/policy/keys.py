"""Condition keys a policy references (GetContextKeysFor*Policy) (stub; filled in next)."""

from __future__ import annotations

__all__ = ["context_keys"]


def context_keys(document: str) -> list[str]:
    """Condition keys referenced in Condition blocks and policy variables, sorted, first spelling kept."""
    raise NotImplementedError
