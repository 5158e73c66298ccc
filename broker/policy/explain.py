"""A human-readable trace of a ``Decision``: what was decided, by which statements, and what was missing.

For logs, ``broker policy explain`` and the audit trail. Mirrors the per-set results of the IAM policy
simulator ("Testing IAM policies with the IAM policy simulator",
https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_testing-policies.html).
"""

from __future__ import annotations

from broker.policy.model import Decision, Request

__all__ = ["explain"]


def _set_line(decision: Decision) -> str:
    def state(value: bool | None, name: str) -> str:
        if value is None:
            return f"{name}: not set"
        return f"{name}: {'allows' if value else 'does not allow'}"

    return "; ".join(
        (
            f"identity-based: {'allows' if decision.identity_allowed else 'no allow'}",
            f"resource-based grant: {decision.resource_grant}",
            state(decision.boundary_allowed, "permissions boundary"),
            state(decision.session_allowed, "session policy"),
        )
    )


def explain(decision: Decision, request: Request | None = None) -> str:
    """A few lines of English saying why the decision came out as it did."""
    lines = []
    if request is not None:
        lines.append(f"Request: {request.action} on {request.resource}")
    lines.append(f"Decision: {decision.effect} ({decision.reason})")
    lines.append(f"  {_set_line(decision)}")
    if decision.matched:
        heading = "Denied by" if decision.effect == "ExplicitDeny" else "Matched statements"
        lines.append(f"  {heading}:")
        for m in decision.matched:
            sid = f" Sid {m.sid}" if m.sid else ""
            lines.append(f"    {m.effect} in {m.set} policy {m.policy_id}{sid} at {m.pointer}")
    else:
        lines.append("  No statement matched.")
    if decision.missing_context_keys:
        lines.append(f"  Missing context keys: {', '.join(decision.missing_context_keys)}")
    for error in decision.errors:
        lines.append(f"  Error (statement skipped): {error}")
    return "\n".join(lines)
