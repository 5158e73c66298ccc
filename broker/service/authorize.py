"""broker authorizes its own API with its policy engine (issue 3, item 6).

Every IAM and STS call by a principal other than root is decided by :func:`broker.policy.evaluate` over the
caller's identity policies (a user's own and its groups'), its permissions boundary, and — for role
sessions — its session policies. The request context carries the global condition keys AWS documents
("AWS global condition context keys",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html).

A denial is ``AccessDenied`` with AWS's message shape ("User: ARN is not authorized to perform: ACTION on
resource: ARN because …", IAM User Guide "Troubleshoot access denied error messages",
https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html).

Role sessions are evaluated over the role's policies, its boundary and the session policies (inline
``Policy`` and ``PolicyArns``: the intersection, "Session policies",
https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session), with
``aws:TokenIssueTime`` in the context so an ``AWSRevokeOlderSessions`` inline deny applies.
Credentials from ``GetSessionToken`` keep the user's permissions with AWS's two documented limits
("Comparing the AWS STS API operations",
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_request.html#stsapi_comparison):
no IAM API call unless MFA was used, and of STS only ``AssumeRole`` and ``GetCallerIdentity``.
:meth:`PolicyAuthorizer.decide_with_resource_policy` evaluates a role's trust policy as a resource
policy with the caller as principal (AssumeRole's two-sided check).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from broker import policy
from broker.errors import AccessDenied
from broker.principal import CallContext, Principal
from broker.service.ports import Store

__all__ = ["PolicyAuthorizer", "check_session_token_limits", "denial_message", "principal_ref", "request_context"]

_SESSION_TOKEN_STS = frozenset({"sts:assumerole", "sts:getcalleridentity"})


def check_session_token_limits(principal: Principal, action: str) -> None:
    """Refuse what ``GetSessionToken`` credentials may not do (module docstring)."""
    if not principal.temporary or principal.kind not in ("user", "root"):
        return
    lowered = action.lower()
    if lowered.startswith("iam:") and not principal.mfa_present:
        raise AccessDenied(
            f"User: {principal.arn} is not authorized to perform: {action} because temporary credentials "
            "from GetSessionToken can call IAM only when MFA was used",
            detail="GetSessionToken credentials without MFA called IAM",
        )
    if lowered.startswith("sts:") and lowered not in _SESSION_TOKEN_STS:
        raise AccessDenied(
            f"User: {principal.arn} is not authorized to perform: {action} because temporary credentials "
            "from GetSessionToken can call only sts:AssumeRole and sts:GetCallerIdentity",
            detail="GetSessionToken credentials called a restricted STS action",
        )


def principal_ref(principal: Principal) -> policy.PrincipalRef:
    """The caller as trust and resource policies see it (a role session also matches its role's ARN)."""
    role_arn = principal.identity_arn if principal.kind == "assumed-role" else None
    return policy.PrincipalRef(principal.arn, principal.account, "AWS", role_arn)

_MAX_SETS = 4096


def request_context(call: CallContext, principal: Principal, tags: Mapping[str, str]) -> dict[str, Any]:
    """The global condition keys broker knows for one call; for a web-identity session also
    ``aws:FederatedProvider`` and the ID token's carried keys (``PREFIX:sub``, ``:aud``, ``:amr``, ``:id``; IAM User
    Guide, "Available keys for AWS OIDC federation",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#condition-keys-wif)."""
    ctx: dict[str, Any] = {
        "aws:CurrentTime": call.now,
        "aws:EpochTime": str(int(call.now.timestamp())),
        "aws:SourceIp": call.source_ip,
        "aws:SecureTransport": call.secure_transport,
        "aws:PrincipalArn": principal.identity_arn,
        "aws:PrincipalAccount": principal.account,
        "aws:PrincipalType": {
            "root": "Account",
            "user": "User",
            "assumed-role": "AssumedRole",
            "federated-user": "FederatedUser",
            "anonymous": "Anonymous",
        }[principal.kind],
        "aws:userid": principal.user_id,
        "aws:RequestedRegion": call.region,
        "aws:MultiFactorAuthPresent": principal.mfa_present,
        "aws:ViaAWSService": False,
    }
    if call.user_agent:
        ctx["aws:UserAgent"] = call.user_agent
    if principal.kind == "user":
        ctx["aws:username"] = principal.name
    if principal.mfa_authenticated_at is not None:
        ctx["aws:MultiFactorAuthAge"] = str(max(0, int((call.now - principal.mfa_authenticated_at).total_seconds())))
    if principal.token_issued_at is not None:
        ctx["aws:TokenIssueTime"] = principal.token_issued_at
    if principal.source_identity:
        ctx["aws:SourceIdentity"] = principal.source_identity
    if principal.federated_keys:  # a web-identity session: the token's carried keys (session_token.py)
        if principal.federated_provider:
            ctx["aws:FederatedProvider"] = principal.federated_provider
        for key, value in principal.federated_keys.items():
            ctx[key] = value if isinstance(value, str) else list(value)
    for key, value in tags.items():
        ctx[f"aws:PrincipalTag/{key}"] = value
    if tags:
        ctx["aws:PrincipalTagKeys"] = list(tags)
    return ctx


def denial_message(principal_arn: str, action: str, resource: str, decision: policy.Decision) -> str:
    """AWS's AccessDenied wording, naming the kind of policy that denied (never its content)."""
    head = f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource}"
    if decision.effect == "ExplicitDeny":
        sets = {m.set for m in decision.matched if m.effect == "Deny"}
        where = {
            "boundary": "a permissions boundary",
            "session": "a session policy",
            "resource": "a resource-based policy",
        }
        kind = next((where[s] for s in ("boundary", "session", "resource") if s in sets), "an identity-based policy")
        return f"{head} with an explicit deny in {kind}"
    if decision.identity_allowed and decision.boundary_allowed is False:
        return f"{head} because no permissions boundary allows the {action} action"
    if decision.identity_allowed and decision.session_allowed is False:
        return f"{head} because no session policy allows the {action} action"
    return f"{head} because no identity-based policy allows the {action} action"


class PolicyAuthorizer:
    """The :class:`~broker.service.ports.Authorizer` that consults the policy engine."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.cache = policy.PolicyCache()
        self._sets: dict[tuple[Any, ...], policy.PolicySet] = {}
        self._lock = threading.Lock()

    def authorize(
        self,
        call: CallContext,
        action: str,
        resource: str,
        context: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        principal = call.principal
        if principal is not None:
            check_session_token_limits(principal, action)
        if principal is not None and principal.is_root:
            return
        if principal is None:
            raise AccessDenied(f"Anonymous is not authorized to perform: {action} on resource: {resource}")
        decision = self.decide(call, principal, action, resource, context)
        if decision.effect != "Allow":
            raise AccessDenied(
                denial_message(principal.arn, action, resource, decision),
                detail=f"{decision.reason}; matched={list(decision.matched)}; errors={list(decision.errors)}",
            )

    def decide(
        self,
        call: CallContext,
        principal: Principal,
        action: str,
        resource: str,
        context: Mapping[str, Sequence[str]] | None = None,
    ) -> policy.Decision:
        pset, tags = self._policy_set(principal)
        ctx = request_context(call, principal, _merge_tags(tags, principal.tags))
        if context:
            ctx.update(context)
        return policy.evaluate(policy.Request(action, resource, ctx), pset)

    def decide_with_resource_policy(
        self,
        call: CallContext,
        principal: Principal,
        action: str,
        resource: str,
        resource_policy: policy.CompiledPolicy,
        context: Mapping[str, Any] | None = None,
    ) -> policy.Decision:
        """``action`` on ``resource`` with the caller's policies and a resource (trust) policy that must allow.

        Same-account rule ("Policy evaluation logic", "Resource-based policies",
        https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policies_resource.html):
        a trust policy naming the caller directly (user ARN, session ARN) allows on its own; naming the
        caller's role still leaves its boundary and session policies to limit; naming the account
        delegates to the caller's identity policies.
        """
        base, tags = self._policy_set(principal)
        pset = policy.PolicySet(
            identity=base.identity,
            resource=[resource_policy],
            boundary=base.boundary,
            session=base.session,
            resource_must_allow=True,
        )
        ctx = request_context(call, principal, _merge_tags(tags, principal.tags))
        if context:
            ctx.update(context)
        return policy.evaluate(policy.Request(action, resource, ctx, principal_ref(principal)), pset)

    def compile_trust(self, document: str, role_arn: str) -> policy.CompiledPolicy:
        return self._compile(document, f"{role_arn}#trust", _digest(document), "trust")

    def _policy_set(self, principal: Principal) -> tuple[policy.PolicySet, Mapping[str, str]]:
        session_docs: list[tuple[str, str, str]] = []
        with self.store.transaction() as tx:
            if principal.kind == "user":
                found = tx.iam.policies_for_user(principal.name)
            elif principal.kind == "assumed-role":
                found = tx.iam.policies_for_role(principal.identity_arn.rsplit("/", 1)[-1])
            else:
                found = None
            for arn in principal.session_policy_arns:
                record = tx.iam.get_policy(arn)
                if record is not None:  # a deleted managed session policy grants nothing (fail closed)
                    doc = tx.iam.default_document(record.id)
                    session_docs.append((doc.policy_id, doc.version_key, doc.document))
        if principal.session_policy is not None:
            session_docs.insert(0, ("session:inline", _digest(principal.session_policy), principal.session_policy))
        has_session = principal.session_policy is not None or bool(principal.session_policy_arns)
        if found is None:
            return policy.PolicySet(), {}
        key = (
            tuple((d.policy_id, d.version_key) for d in found.identity),
            (found.boundary.policy_id, found.boundary.version_key) if found.boundary else None,
            tuple((pid, version) for pid, version, _ in session_docs) if has_session else None,
        )
        with self._lock:
            cached = self._sets.get(key)
        if cached is None:
            identity = [self._compile(d.document, d.policy_id, d.version_key, "identity") for d in found.identity]
            boundary = (
                [self._compile(b.document, b.policy_id, b.version_key, "boundary") for b in (found.boundary,)]
                if found.boundary
                else None
            )
            session = (
                [self._compile(doc, pid, version, "session") for pid, version, doc in session_docs]
                if has_session
                else None
            )
            cached = policy.PolicySet(identity=identity, boundary=boundary, session=session)
            with self._lock:
                if len(self._sets) >= _MAX_SETS:
                    self._sets.clear()
                self._sets[key] = cached
        return cached, found.tags

    def _compile(self, document: str, policy_id: str, version: str, kind: policy.PolicyKind) -> policy.CompiledPolicy:
        try:
            return self.cache.get(document, policy_id=policy_id, kind=kind, version=version)
        except (policy.PolicyDocumentError, policy.PolicySizeError) as exc:
            # Fail closed: a stored policy that no longer compiles might have held a Deny, so skipping it
            # could widen access. The caller is refused and the audit log gets the policy id.
            raise AccessDenied(
                "Access denied: a policy attached to the caller could not be evaluated",
                detail=f"policy {policy_id} ({version}) failed to compile: {exc}",
            ) from exc


def _digest(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def _merge_tags(entity_tags: Mapping[str, str], session_tags: Mapping[str, str]) -> dict[str, str]:
    """Principal tags: the IAM entity's tags, overridden case-insensitively by session tags ("Passing session
    tags in AWS STS", https://docs.aws.amazon.com/IAM/latest/UserGuide/id_session-tags.html)."""
    if not session_tags:
        return dict(entity_tags)
    overridden = {k.lower() for k in session_tags}
    merged = {k: v for k, v in entity_tags.items() if k.lower() not in overridden}
    merged.update(session_tags)
    return merged
