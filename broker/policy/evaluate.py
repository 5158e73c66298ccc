"""Decide one request against a principal's policy set, with the reasons.

"Policy evaluation logic", section "Determining whether a request is allowed or denied within an
account" (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policies_resource.html
and https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):

1. every request starts implicitly denied;
2. an explicit Deny in any applicable policy (identity, resource, boundary, session) wins;
3. a resource-based policy that allows and names the caller *directly* (user ARN, role session ARN,
   federated or service principal) allows on its own; naming the *role* ARN still leaves the boundary
   and session policies to limit it; naming the *account* delegates to identity-based policies;
   role trust policies must always allow (``sts:AssumeRole*``) — "Resource-based policies";
4. otherwise an identity-based policy must allow, and then
5. the permissions boundary, if any, must allow too — "Permissions boundaries for IAM entities", section
   "Evaluating effective permissions with boundaries"
   (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html);
6. and the session policies, if any — "Session policies"
   (https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies.html#policies_session).

Cross-account (``Request.resource_account`` differs from the caller's account): both the identity side
and the resource policy must allow ("Cross-account policy evaluation logic",
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).
Revocation needs no code here: AWS's "revoke active sessions" is an inline Deny on
``aws:TokenIssueTime`` and evaluates like any Deny. The root user is not special-cased: callers do not
evaluate requests by root. A statement that raises while being evaluated is recorded in ``errors``: an
Allow is skipped, a Deny counts as matching (fail closed).

The statement loop and the rule are one function on purpose: this is the hot path of every request.
"""

from __future__ import annotations

from broker.policy.model import Decision, Effect, MatchedStatement, PolicySet, Request, ResourceGrant
from broker.policy.plan import BOUNDARY, IDENTITY, RESOURCE, Plan, plan_for
from broker.policy.principals import DIRECT, NONE, ROLE

__all__ = ["evaluate"]

_GRANTS: tuple[ResourceGrant, ...] = ("none", "account", "role", "direct")
_NO_KEYS: tuple[str, ...] = ()
_NO_RECORDS: tuple[MatchedStatement, ...] = ()
_new = tuple.__new__


def evaluate(request: Request, policies: PolicySet) -> Decision:
    """Allow, ExplicitDeny or ImplicitDeny, with the statements that decided and the missing context keys."""
    plan: Plan = policies._plan or plan_for(policies)  # type: ignore[attr-defined]
    ctx, resource, principal = request.ctx, request.resource, request.principal
    entry = plan.memo.get(request.action_key) or plan.entry(request.action_key)
    units = entry if entry.__class__ is tuple else entry.select(resource)  # type: ignore[union-attr]
    missing: list[str] = []
    errors: list[str] | None = None
    denies: list[MatchedStatement] | None = None
    allows: list[MatchedStatement] | None = None
    identity_allow = boundary_allow = session_allow = False
    grant = NONE
    for statement, code, records, _rank in units:
        level = NONE
        try:
            if not statement.res_any:
                test = statement.res_test
                if not (test(resource) if test is not None else statement.resource_matches(resource, ctx)):
                    continue
            if statement.clauses:
                for clause in statement.clauses:  # AND across operators and keys
                    if not clause.holds(ctx, missing):
                        break
                else:
                    clause = None
                if clause is not None:
                    continue
            if statement.principal is not None:
                level = statement.principal.level(principal)
                if level == NONE:
                    continue
        except Exception as exc:  # a broken statement never raises out of evaluate
            errors = errors or []
            errors.append(f"{records[0].policy_id} {records[0].pointer}: {type(exc).__name__}: {exc}")
            if not statement.deny:
                continue
        if statement.deny:
            denies = [*denies, *records] if denies else list(records)
            continue
        allows = [*allows, *records] if allows else list(records)
        if code == IDENTITY:
            identity_allow = True
        elif code == RESOURCE:
            grant = max(grant, level)
        elif code == BOUNDARY:
            boundary_allow = True
        else:
            session_allow = True

    # The combining rule (module docstring, steps 1-6).
    boundary = boundary_allow if plan.has_boundary else None
    session = session_allow if plan.has_session else None
    cross = (
        request.resource_account is not None and principal is not None and principal.account != request.resource_account
    )
    effect: Effect
    if denies:
        effect, reason = "ExplicitDeny", "an explicit Deny statement applies"
    elif cross and not (identity_allow and grant != NONE):
        effect, reason = "ImplicitDeny", "cross-account access needs both an identity-based and a resource-based allow"
    elif grant == DIRECT and not cross:
        effect, reason = "Allow", "a resource-based policy allows and names the principal directly"
    elif grant == NONE and (
        plan.must_allow if plan.must_allow is not None else request.action_key.startswith("sts:assumerole")
    ):
        effect, reason = "ImplicitDeny", "the resource-based (trust) policy does not allow the principal"
    elif not (identity_allow or (grant == ROLE and not cross)):
        effect, reason = "ImplicitDeny", "no identity-based policy allows the action"
    elif boundary is False:
        effect, reason = "ImplicitDeny", "the permissions boundary does not allow the action"
    elif session is False:
        effect, reason = "ImplicitDeny", "no session policy allows the action"
    elif identity_allow:
        effect, reason = "Allow", "identity-based policies allow the action"
    else:
        effect, reason = "Allow", "a resource-based policy naming the role allows the action"
    return _new(
        Decision,
        (
            effect,
            tuple(denies) if denies else tuple(allows) if allows else _NO_RECORDS,
            tuple(dict.fromkeys(missing)) if missing else _NO_KEYS,
            tuple(errors) if errors else _NO_KEYS,
            identity_allow,
            _GRANTS[grant],
            boundary,
            session,
            reason,
        ),
    )
