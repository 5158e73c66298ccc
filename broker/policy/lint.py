"""Access-Analyzer-style findings for a policy document (stub; filled in next)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from broker.policy.model import PolicyKind

__all__ = ["Finding", "Severity", "lint"]

Severity = Literal["error", "security", "warning", "suggestion"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One lint finding: severity, stable code, JSON pointer, message."""

    severity: Severity
    code: str
    pointer: str
    message: str


def lint(document: str, kind: PolicyKind) -> list[Finding]:
    """Findings for ``document``; validation problems come back as ``error`` findings."""
    raise NotImplementedError
