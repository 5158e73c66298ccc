"""The IAM policy simulator: SimulateCustomPolicy, SimulatePrincipalPolicy, GetContextKeysFor*Policy.

IAM API Reference: SimulateCustomPolicy (https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulateCustomPolicy.html),
SimulatePrincipalPolicy (…/API_SimulatePrincipalPolicy.html), GetContextKeysForCustomPolicy and
GetContextKeysForPrincipalPolicy (…/API_GetContextKeysForPrincipalPolicy.html); IAM User Guide "Testing IAM policies
with the IAM policy simulator" (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_testing-policies.html).

One ``EvaluationResult`` is returned per action and resource (``ResourceArns`` defaults to ``*``), each with its
``ResourceSpecificResults`` entry, ``MatchedStatements`` (source policy id, type and line/column span),
``MissingContextValues`` and, when a boundary is simulated, ``PermissionsBoundaryDecisionDetail``.
Context keys of the simulated principal (``aws:username``, ``aws:userid``, ``aws:PrincipalArn``,
``aws:PrincipalTag/*``) are filled in unless ``ContextEntries`` gives them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from broker import policy
from broker.arn import parse_arn
from broker.errors import InvalidInput, MalformedPolicyDocument, NoSuchEntity
from broker.policy.positions import statement_span
from broker.service.env import OpEnv, OpFunc
from broker.service.iam.pagination import paginate

__all__ = ["OPERATIONS"]

_DECISION = {"Allow": "allowed", "ExplicitDeny": "explicitDeny", "ImplicitDeny": "implicitDeny"}
_LIST_TYPES = {"stringList", "numericList", "booleanList", "ipList", "binaryList", "dateList"}


@dataclass(frozen=True)
class _Source:
    """One simulated policy document with how the simulator names it."""

    compiled: policy.CompiledPolicy
    display_id: str
    source_type: str
    text: str


def _compile(text: str, display_id: str, source_type: str, kind: policy.PolicyKind, internal_id: str) -> _Source:
    try:
        compiled = policy.compile_policy(text, policy_id=internal_id, kind=kind)
    except policy.PolicyDocumentError as exc:
        # SimulateCustomPolicy answers MalformedPolicyDocument for bad input; name the input that was bad.
        raise MalformedPolicyDocument(f"{display_id}: {exc.message}", detail=exc.detail) from exc
    return _Source(compiled, display_id, source_type, text)


def _inputs(params: Mapping[str, Any], member: str, kind: policy.PolicyKind) -> list[_Source]:
    return [
        _compile(str(text), f"{member}.{i}", "none", kind, f"{member}.{i}")
        for i, text in enumerate(params.get(member) or [], start=1)
    ]


def _context(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in entries:
        name = entry.get("ContextKeyName")
        if not name:
            raise InvalidInput("ContextKeyName is required in every ContextEntries member.")
        values = [str(v) for v in entry.get("ContextKeyValues") or []]
        kind = entry.get("ContextKeyType") or "string"
        if kind in _LIST_TYPES:
            out[str(name)] = values
        elif len(values) == 1:
            out[str(name)] = values[0]
        elif values:
            raise InvalidInput(f"Context key {name} of type {kind} takes exactly one value, got {len(values)}.")
    return out


def _statements(decision: policy.Decision, sources: Mapping[str, _Source], kinds: set[str]) -> list[dict[str, Any]]:
    out = []
    for m in decision.matched:
        if m.set not in kinds:
            continue
        src = sources.get(m.policy_id)
        if src is None:
            continue
        item: dict[str, Any] = {"SourcePolicyId": src.display_id, "SourcePolicyType": src.source_type}
        span = statement_span(src.text, m.pointer)
        if span is not None:
            (l1, c1), (l2, c2) = span
            item["StartPosition"] = {"Line": l1, "Column": c1}
            item["EndPosition"] = {"Line": l2, "Column": c2}
        out.append(item)
    return out


def _simulate(
    env: OpEnv,
    params: Mapping[str, Any],
    identity: list[_Source],
    boundary: list[_Source] | None,
    principal_context: Mapping[str, Any],
    caller_arn: str | None,
) -> dict[str, Any]:
    resource_policy = None
    if params.get("ResourcePolicy"):
        text = str(params["ResourcePolicy"])
        resource_policy = _compile(text, "ResourcePolicy", "resource", "resource", "ResourcePolicy")
    resource_account = None
    if params.get("ResourceOwner"):
        try:
            resource_account = parse_arn(str(params["ResourceOwner"])).account
        except ValueError as exc:
            raise InvalidInput(f"ResourceOwner {params['ResourceOwner']} is not a valid ARN.") from exc
    principal = None
    if caller_arn:
        try:
            account = parse_arn(caller_arn).account
        except ValueError as exc:
            raise InvalidInput(f"CallerArn {caller_arn} is not a valid ARN.") from exc
        principal = policy.PrincipalRef(arn=caller_arn, account=account)
    elif resource_policy is not None:
        raise InvalidInput("CallerArn is required when a ResourcePolicy is simulated.")

    sources = {s.compiled.policy_id: s for s in identity + (boundary or [])}
    if resource_policy is not None:
        sources[resource_policy.compiled.policy_id] = resource_policy
    pset = policy.PolicySet(
        identity=[s.compiled for s in identity],
        resource=[resource_policy.compiled] if resource_policy else (),
        boundary=[s.compiled for s in boundary] if boundary is not None else None,
        resource_must_allow=False,
    )
    context = {**principal_context, **_context(params.get("ContextEntries") or [])}
    resources = [str(r) for r in params.get("ResourceArns") or ["*"]]
    results = []
    for action in params["ActionNames"]:
        for resource in resources:
            decision = policy.evaluate(
                policy.Request(str(action), resource, context, principal=principal, resource_account=resource_account),
                pset,
            )
            # "the statements in the input policies that determine the result" (API_EvaluationResult): the Deny
            # for explicitDeny, the Allows for allowed, none for implicitDeny (nothing decided it).
            matched = (
                []
                if decision.effect == "ImplicitDeny"
                else _statements(decision, sources, {"identity", "resource", "boundary"})
            )
            missing = list(decision.missing_context_keys)
            specific: dict[str, Any] = {
                "EvalResourceName": resource,
                "EvalResourceDecision": _DECISION[decision.effect],
                "MatchedStatements": matched,
                "MissingContextValues": missing,
            }
            result: dict[str, Any] = {
                "EvalActionName": str(action),
                "EvalResourceName": resource,
                "EvalDecision": _DECISION[decision.effect],
                "MatchedStatements": matched,
                "MissingContextValues": missing,
                "ResourceSpecificResults": [specific],
            }
            if boundary is not None:
                detail = {"AllowedByPermissionsBoundary": bool(decision.boundary_allowed)}
                result["PermissionsBoundaryDecisionDetail"] = detail
                specific["PermissionsBoundaryDecisionDetail"] = detail
            if resource_policy is not None:
                result["EvalDecisionDetails"] = {"IAM Policy": _DECISION[decision.effect]}
            results.append(result)
    page, more = paginate(
        list(enumerate(results)), key=lambda pair: f"{pair[0]:08d}", params=params
    )
    return {"EvaluationResults": [r for _, r in page], **more}


def simulate_custom_policy(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    env.authorize("iam:SimulateCustomPolicy", "*")
    identity = _inputs(params, "PolicyInputList", "identity")
    boundary = _inputs(params, "PermissionsBoundaryPolicyInputList", "boundary") or None
    return _simulate(env, params, identity, boundary, {}, params.get("CallerArn"))


def _principal_sources(env: OpEnv, source_arn: str) -> tuple[list[_Source], list[_Source] | None, dict[str, Any]]:
    try:
        arn = parse_arn(source_arn)
    except ValueError as exc:
        raise InvalidInput(f"Invalid ARN: {source_arn}") from exc
    kind, name = arn.resource_type, arn.name
    repo = env.tx.iam
    if kind == "user":
        found = repo.policies_for_user(name)
        user = repo.get_user(name)
        if found is None or user is None:
            raise NoSuchEntity(f"The user with name {name} cannot be found.")
        ctx: dict[str, Any] = {
            "aws:username": user.name,
            "aws:userid": user.id,
            "aws:PrincipalArn": source_arn,
            "aws:PrincipalType": "User",
        }
    elif kind == "role":
        found = repo.policies_for_role(name)
        if found is None:
            raise NoSuchEntity(f"The role with name {name} cannot be found.")
        ctx = {"aws:PrincipalArn": source_arn, "aws:PrincipalType": "AssumedRole"}
    elif kind == "group":
        found = repo.policies_for_group(name)
        if found is None:
            raise NoSuchEntity(f"The group with name {name} cannot be found.")
        ctx = {}
    else:
        raise InvalidInput(f"PolicySourceArn must name a user, group or role, not {source_arn}.")
    ctx.update({f"aws:PrincipalTag/{k}": v for k, v in found.tags.items()})
    identity = [_stored(d, kind) for d in found.identity]
    boundary = [_stored(found.boundary, "boundary")] if found.boundary is not None else None
    return identity, boundary, ctx


def _stored(doc: Any, owner_kind: str) -> _Source:
    pid = str(doc.policy_id)
    if pid.startswith("inline:"):
        _, source_kind, _, name = pid.split(":", 3)
        display, source_type = name, source_kind
    else:
        arn = parse_arn(pid)
        display = arn.name
        source_type = "aws-managed" if arn.account == "aws" else "user-managed"
    kind: policy.PolicyKind = "boundary" if owner_kind == "boundary" else "identity"
    compiled = policy.compile_policy(doc.document, policy_id=pid, kind=kind)
    return _Source(compiled, display, source_type, doc.document)


def simulate_principal_policy(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    source_arn = str(params["PolicySourceArn"])
    env.authorize("iam:SimulatePrincipalPolicy", source_arn)
    identity, boundary, ctx = _principal_sources(env, source_arn)
    excluded = {str(x) for x in params.get("PolicyExclusionList") or []}
    identity = [s for s in identity if s.compiled.policy_id not in excluded and s.display_id not in excluded]
    identity += _inputs(params, "PolicyInputList", "identity")
    if params.get("PermissionsBoundaryPolicyInputList"):
        boundary = _inputs(params, "PermissionsBoundaryPolicyInputList", "boundary")
    caller = params.get("CallerArn") or (source_arn if parse_arn(source_arn).resource_type == "user" else None)
    return _simulate(env, params, identity, boundary, ctx, caller)


def _keys(texts: Sequence[str]) -> dict[str, Any]:
    keys: dict[str, str] = {}
    for text in texts:
        for key in policy.context_keys(text):
            keys.setdefault(key.lower(), key)
    return {"ContextKeyNames": sorted(keys.values(), key=str.lower)}


def get_context_keys_for_custom_policy(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    env.authorize("iam:GetContextKeysForCustomPolicy", "*")
    texts = [str(t) for t in params["PolicyInputList"]]
    for i, text in enumerate(texts, start=1):
        _compile(text, f"PolicyInputList.{i}", "none", "identity", f"PolicyInputList.{i}")
    return _keys(texts)


def get_context_keys_for_principal_policy(env: OpEnv, params: Mapping[str, Any]) -> dict[str, Any]:
    source_arn = str(params["PolicySourceArn"])
    env.authorize("iam:GetContextKeysForPrincipalPolicy", source_arn)
    identity, boundary, _ = _principal_sources(env, source_arn)
    texts = [s.text for s in identity + (boundary or [])] + [str(t) for t in params.get("PolicyInputList") or []]
    return _keys(texts)


OPERATIONS: dict[str, OpFunc] = {
    "SimulateCustomPolicy": simulate_custom_policy,
    "SimulatePrincipalPolicy": simulate_principal_policy,
    "GetContextKeysForCustomPolicy": get_context_keys_for_custom_policy,
    "GetContextKeysForPrincipalPolicy": get_context_keys_for_principal_policy,
}
