"""broker's IAM policy engine: parse, validate, compile, evaluate, explain, lint.

Pure: standard library and ``broker.errors`` only, no I/O, no clock (DESIGN.md §1). The language and its
evaluation follow the AWS IAM User Guide; each rule cites its page where it is implemented.

Typical use::

    from broker import policy

    problems = policy.validate(text, "identity")                 # [] when valid
    compiled = policy.compile_policy(text, policy_id="arn:aws:iam::123456789012:policy/P", kind="identity")
    pset = policy.PolicySet(identity=[compiled])                 # keep and reuse per principal
    decision = policy.evaluate(
        policy.Request("iam:CreateRole", "arn:aws:iam::123456789012:role/R", {"aws:username": "alice"}),
        pset,
    )
    decision.effect              # "Allow" | "ExplicitDeny" | "ImplicitDeny"
    decision.matched             # (MatchedStatement(policy_id, sid, pointer, effect, set), ...)
    print(policy.explain(decision))

``compile_policy`` raises ``PolicyDocumentError`` (a ``broker.errors.MalformedPolicyDocument``) or
``PolicySizeError`` (a ``broker.errors.LimitExceeded``) carrying every ``Problem`` found.
``PolicyCache`` compiles each (policy id, version) once and is invalidated explicitly.
``statement_span(document, pointer)`` gives a matched statement's ``StartPosition``/``EndPosition`` for the
simulator; ``lint``/``format_findings``/``guess_kind`` back ``broker policy lint FILE``.
Wildcards are matched in linear time (``globmatch``): request values are caller-controlled.
"""

from broker.policy.compile import CompiledPolicy, PolicyCache, compile_policy
from broker.policy.evaluate import evaluate
from broker.policy.explain import explain
from broker.policy.keys import context_keys
from broker.policy.lint import Finding, Severity, format_findings, guess_kind, lint
from broker.policy.model import (
    ContextValue,
    Decision,
    Effect,
    MatchedStatement,
    PolicyKind,
    PolicySet,
    PrincipalRef,
    PrincipalType,
    Problem,
    Request,
    ResourceGrant,
    SetName,
)
from broker.policy.positions import Position, statement_span
from broker.policy.validate import (
    DEFAULT_MAX_SIZE,
    PackedPolicyError,
    PolicyDocumentError,
    PolicySizeError,
    policy_size,
    validate,
)

__all__ = [
    "DEFAULT_MAX_SIZE",
    "CompiledPolicy",
    "ContextValue",
    "Decision",
    "Effect",
    "Finding",
    "MatchedStatement",
    "PackedPolicyError",
    "PolicyCache",
    "PolicyDocumentError",
    "PolicyKind",
    "PolicySet",
    "PolicySizeError",
    "Position",
    "PrincipalRef",
    "PrincipalType",
    "Problem",
    "Request",
    "ResourceGrant",
    "SetName",
    "Severity",
    "compile_policy",
    "context_keys",
    "evaluate",
    "explain",
    "format_findings",
    "guess_kind",
    "lint",
    "policy_size",
    "statement_span",
    "validate",
]
