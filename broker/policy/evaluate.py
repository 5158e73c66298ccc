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

``evaluate`` dispatches: the common case — a plan entry with only identity-based statements (no
Principal) and neither boundary nor session policies, where no resource grant is possible and steps 3, 5
and 6 drop out — runs a decision function generated for that entry's units (``fastpath.py``): the units'
tests straight-line, the answer a ``Decision`` built once per set of matching units. ``_evaluate_all`` is
the complete rule, one function with its statement loop, for everything else; unit tests hold the two in
step (``test_policy_fastpath.py``, ``test_policy_differential.py``).
"""

from __future__ import annotations

from functools import partial

from broker.policy import reasons
from broker.policy.fastpath import ByResource, build_runner
from broker.policy.model import Decision, Effect, MatchedStatement, PolicySet, Request, ResourceGrant
from broker.policy.plan import BOUNDARY, IDENTITY, RESOURCE, Entry, IndexedEntry, Plan, Runner, plan_for
from broker.policy.principals import DIRECT, NONE, ROLE

__all__ = ["evaluate"]

_GRANTS: tuple[ResourceGrant, ...] = ("none", "account", "role", "direct")
_NO_KEYS: tuple[str, ...] = ()
_NO_RECORDS: tuple[MatchedStatement, ...] = ()
_new = tuple.__new__
_RUNNER_LIMIT = 8192


def evaluate(request: Request, policies: PolicySet) -> Decision:
    """Allow, ExplicitDeny or ImplicitDeny, with the statements that decided and the missing context keys."""
    run: Runner | ByResource
    try:  # the plan's runners, attached to the set by ``plan_for`` (an empty mapping before the first call)
        run = policies._runners[request.action_key]  # type: ignore[attr-defined]
    except KeyError:  # once per action (and after the bounded memo is emptied)
        run = _runner(policies, request.action_key)
    if run.__class__ is ByResource:  # an indexed entry: one decision function per merged unit list
        return (run.functions.get(request.resource) or run.miss(request.resource))(request)
    return run(request)  # type: ignore[operator]


def _runner(policies: PolicySet, action: str) -> Runner | ByResource:
    """What ``evaluate`` calls for ``action`` (lower-cased), remembered in ``plan.runners``."""
    plan: Plan = policies._plan or plan_for(policies)  # type: ignore[attr-defined]
    entry, simple, trust, nothing = plan.program(action)
    run: Runner | ByResource
    if not simple:
        run = partial(_evaluate_all, plan, entry, trust)
    elif nothing is None:  # never: a simple program has its "nothing applies" decision
        raise AssertionError("identity-only program without its default decision")
    elif isinstance(entry, IndexedEntry):
        run = ByResource(entry, trust, nothing, plan)
    else:
        run = build_runner(entry, trust, nothing)
    if len(plan.runners) >= _RUNNER_LIMIT:
        plan.forget_runners()
    plan.runners[action] = run
    return run


def _evaluate_all(plan: Plan, entry: Entry, trust: bool, request: Request) -> Decision:
    """The complete rule: every policy type, resource grants, boundaries and session policies."""
    ctx, resource, principal = request.ctx, request.resource, request.principal
    units = entry if entry.__class__ is tuple else entry.select(resource)  # type: ignore[union-attr]
    missing: list[str] = []
    errors: list[str] | None = None
    denies: list[MatchedStatement] | None = None
    allows: list[MatchedStatement] | None = None
    identity_allow = boundary_allow = session_allow = False
    grant = NONE
    for _statement, code, records, _rank, exact, heads, call, _key, _test, cond, deny, matcher, _solo in units:
        level = NONE
        try:
            if exact is not None:
                if resource not in exact and (heads is None or not resource.startswith(heads)):
                    continue
            elif call is not None and not call(resource, ctx):
                continue
            if cond is not None and not cond(ctx, missing):
                continue
            if matcher is not None:
                level = matcher.level(principal)
                if level == NONE:
                    continue
        except Exception as exc:  # a broken statement never raises out of evaluate
            errors = errors or []
            errors.append(f"{records[0].policy_id} {records[0].pointer}: {type(exc).__name__}: {exc}")
            if not deny:
                continue
        if deny:
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
        effect, reason = "ExplicitDeny", reasons.EXPLICIT_DENY
    elif cross and not (identity_allow and grant != NONE):
        effect, reason = "ImplicitDeny", reasons.CROSS_ACCOUNT
    elif grant == DIRECT and not cross:
        effect, reason = "Allow", reasons.RESOURCE_DIRECT
    elif grant == NONE and trust:
        effect, reason = "ImplicitDeny", reasons.TRUST_DENIES
    elif not (identity_allow or (grant == ROLE and not cross)):
        effect, reason = "ImplicitDeny", reasons.NO_IDENTITY_ALLOW
    elif boundary is False:
        effect, reason = "ImplicitDeny", reasons.BOUNDARY_DENIES
    elif session is False:
        effect, reason = "ImplicitDeny", reasons.NO_SESSION_ALLOW
    elif identity_allow:
        effect, reason = "Allow", reasons.IDENTITY_ALLOWS
    else:
        effect, reason = "Allow", reasons.RESOURCE_ROLE
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
