"""Small builders shared by the policy engine tests."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from broker.policy import (
    CompiledPolicy,
    ContextValue,
    Decision,
    PolicyKind,
    PolicySet,
    PrincipalRef,
    Request,
    compile_policy,
    evaluate,
)

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/alice"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/app"
SESSION_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/s1"

# AWS IAM User Guide pages cited by the test tables.
DOC_EVAL = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html"
DOC_EVAL_RESOURCE = (
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policies_resource.html"
)
DOC_CROSS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html"
DOC_BOUNDARY = "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html"
DOC_SESSION = "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session"
DOC_OPERATORS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html"
DOC_CONDITION = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html"
DOC_MULTI = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html"
DOC_VARIABLES = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html"
DOC_ACTION = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html"
DOC_NOTACTION = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html"
DOC_RESOURCE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html"
DOC_NOTRESOURCE = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notresource.html"
DOC_PRINCIPAL = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html"
DOC_GRAMMAR = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html"
DOC_QUOTAS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"


def doc(*statements: Mapping[str, Any], version: str | None = "2012-10-17") -> str:
    body: dict[str, Any] = {}
    if version is not None:
        body["Version"] = version
    body["Statement"] = list(statements)
    return json.dumps(body)


def allow(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any = "*", resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


_counter = 0


def compiled(
    document: str, kind: PolicyKind = "identity", policy_id: str | None = None, max_size: int | None = None
) -> CompiledPolicy:
    global _counter
    _counter += 1
    return compile_policy(document, policy_id=policy_id or f"policy-{_counter}", kind=kind, max_size=max_size)


def decide(
    statements: Sequence[Mapping[str, Any]] | str,
    action: str = "s3:GetObject",
    resource: str = "*",
    context: Mapping[str, ContextValue] | None = None,
    *,
    version: str | None = "2012-10-17",
    principal: PrincipalRef | None = None,
) -> Decision:
    """Evaluate one identity policy made of ``statements``."""
    text = statements if isinstance(statements, str) else doc(*statements, version=version)
    return evaluate(Request(action, resource, context or {}, principal), PolicySet(identity=[compiled(text)]))


def condition_holds(operator: str, key: str, values: Any, context: Mapping[str, ContextValue]) -> bool:
    """Does an Allow guarded by one condition clause allow?"""
    statement = allow(Condition={operator: {key: values}})
    return decide([statement], context=context).effect == "Allow"
