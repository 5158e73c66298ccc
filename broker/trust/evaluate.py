"""Trust policies for federated principals: who may assume a role with a web identity (pure).

The role's trust policy is a resource policy that must allow on its own ("Policy evaluation logic",
"Resource-based policies", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policies_resource.html;
"Role trust policies", https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_terms-and-concepts.html).
The caller is the principal ``{"Federated": PROVIDER_ARN}`` and the action
``sts:AssumeRoleWithWebIdentity``; ``sts:TagSession`` and ``sts:SetSourceIdentity`` are decided the same
way when the token carries session tags or a source identity ("Permissions required to add session
tags", https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html#id_session-tags_permissions-required).

Why denied (issue 5 item 5): when the answer is no, every Allow statement is re-examined on its own,
and each of its condition clauses alone, with the same policy engine (no second matcher). The caller
learns only the *names* of the clauses that failed ("condition HOST:sub StringLike did not match"),
never values or other statements; :func:`TrustDecision.trace` gives an administrator everything.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from broker import policy

__all__ = ["TrustDecision", "evaluate_trust", "federated_principal"]

_SET_LIMIT = 1024
_sets: dict[policy.CompiledPolicy, policy.PolicySet] = {}
_sets_lock = threading.Lock()


def _trust_set(trust: policy.CompiledPolicy) -> policy.PolicySet:
    """The one-policy set of ``trust``, kept per compiled policy object (bounded, oldest out first).

    A ``PolicySet`` carries its evaluation plan; building one per call cost a construction and the engine's
    plan-cache lookup every time. Compiled policies are immutable and compared by identity, so a changed trust
    policy (compiled anew) gets its own set; the set holds nothing but the policy.
    """
    pset = _sets.get(trust)
    if pset is None:
        pset = policy.PolicySet(resource=[trust], resource_must_allow=True)
        with _sets_lock:
            if len(_sets) >= _SET_LIMIT:
                del _sets[next(iter(_sets))]
            pset = _sets.setdefault(trust, pset)
    return pset


def federated_principal(provider_arn: str, account: str) -> policy.PrincipalRef:
    """The caller as a trust policy sees a federated identity."""
    return policy.PrincipalRef(provider_arn, account, "Federated")


@dataclass(frozen=True)
class TrustDecision:
    """The engine's decision for one action, and, when denied, which statements and clauses failed."""

    action: str
    decision: policy.Decision
    failed_conditions: tuple[str, ...]
    statement_notes: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return self.decision.effect == "Allow"

    def public_reason(self) -> str:
        """What the caller may be told: the failed clause names, nothing else of the policy."""
        if self.allowed:
            return ""
        if self.decision.effect == "ExplicitDeny":
            return "an explicit deny in the role's trust policy applies"
        if self.failed_conditions:
            return "; ".join(self.failed_conditions)
        return "no statement in the role's trust policy allows this identity provider and action"

    def trace(self) -> str:
        """The whole evaluation, for the audit log and ``broker explain``."""
        lines = [policy.explain(self.decision)]
        lines.extend(f"  {note}" for note in self.statement_notes)
        return "\n".join(lines)


def _statements(document: str) -> list[dict[str, Any]]:
    data = json.loads(document)
    raw = data.get("Statement", [])
    return [raw] if isinstance(raw, dict) else [s for s in raw if isinstance(s, dict)]


def _allows(version: str, statement: Mapping[str, Any], request: policy.Request, role_arn: str) -> bool:
    doc = json.dumps({"Version": version, "Statement": [statement]})
    try:
        compiled = policy.compile_policy(doc, policy_id=f"{role_arn}#trust-probe", kind="trust")
    except (policy.PolicyDocumentError, policy.PolicySizeError, policy.PackedPolicyError):
        return False
    pset = policy.PolicySet(resource=[compiled], resource_must_allow=True)
    return policy.evaluate(request, pset).effect == "Allow"


def _explain_denial(document: str, request: policy.Request, role_arn: str) -> tuple[list[str], list[str]]:
    version = str(json.loads(document).get("Version", "2012-10-17"))
    failed: list[str] = []
    notes: list[str] = []
    for index, statement in enumerate(_statements(document)):
        label = f"statement {index}" + (f" (Sid {statement['Sid']})" if statement.get("Sid") else "")
        if statement.get("Effect") != "Allow":
            continue
        bare = {k: v for k, v in statement.items() if k != "Condition"}
        if not _allows(version, bare, request, role_arn):
            notes.append(f"{label}: principal or action does not match")
            continue
        conditions = statement.get("Condition", {})
        for operator, clauses in conditions.items() if isinstance(conditions, dict) else ():
            for key, values in clauses.items() if isinstance(clauses, dict) else ():
                probe = dict(bare, Condition={operator: {key: values}})
                if not _allows(version, probe, request, role_arn):
                    failed.append(f"condition {key} {operator} did not match")
                    notes.append(f"{label}: condition {operator} {key} {json.dumps(values)} did not match "
                                 f"(request value: {json.dumps(request.ctx.get(key.lower()))})")
    return list(dict.fromkeys(failed)), notes


def evaluate_trust(
    trust: policy.CompiledPolicy,
    *,
    role_arn: str,
    principal: policy.PrincipalRef,
    actions: Sequence[str],
    context: Mapping[str, policy.ContextValue],
) -> list[TrustDecision]:
    """Decide each of ``actions`` (the first is the assume action) until one is refused.

    The returned list ends with the first refusal, if any; every decision carries its reasons.
    """
    out: list[TrustDecision] = []
    pset = _trust_set(trust)
    request: policy.Request | None = None
    for action in actions:
        # The context is normalised once, for the first action; the others reuse its normalised form.
        request = (
            policy.Request(action, role_arn, context, principal) if request is None
            else policy.Request.from_normalized(action, role_arn, request.ctx, principal)
        )
        decision = policy.evaluate(request, pset)
        if decision.effect == "Allow":
            out.append(TrustDecision(action, decision, (), ()))
            continue
        failed, notes = _explain_denial(trust.document, request, role_arn)
        out.append(TrustDecision(action, decision, tuple(failed), tuple(notes)))
        break
    return out
