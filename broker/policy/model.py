"""Data the policy engine takes and returns: document kinds, problems, requests, policy sets, decisions.

Pure data, no behaviour beyond normalisation. The evaluation semantics live in ``evaluate.py``; the
shapes follow the AWS IAM User Guide:

- request context and its keys: "Policy evaluation logic", section "Processing the request context"
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
- condition key names are case-insensitive: "IAM JSON policy elements: Condition", section "The condition
  block" https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html
- single-valued vs multivalued keys: "Single-valued vs. multivalued context keys"
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html

``Decision`` and ``MatchedStatement`` are ``NamedTuple`` rather than frozen dataclasses: they are built on
the hot path and a tuple is the cheapest immutable record CPython offers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:
    from broker.policy.compile import CompiledPolicy

__all__ = [
    "ContextValue",
    "Decision",
    "Effect",
    "MatchedStatement",
    "PolicyKind",
    "PolicySet",
    "PrincipalRef",
    "PrincipalType",
    "Problem",
    "Request",
    "ResourceGrant",
    "SetName",
    "normalize_context",
]

PolicyKind = Literal["identity", "trust", "resource", "session", "boundary"]
"""The five document kinds; each has its own required/prohibited elements and size limit."""

Effect = Literal["Allow", "ExplicitDeny", "ImplicitDeny"]
SetName = Literal["identity", "resource", "boundary", "session"]
PrincipalType = Literal["AWS", "Federated", "Service", "CanonicalUser", "Anonymous"]
ResourceGrant = Literal["none", "account", "role", "direct"]
"""How a resource-based policy named the caller: not at all, by account, by role ARN (for a role session),
or directly (user ARN, session ARN, federated provider, service)."""

ContextScalar = str | bool | int | float | datetime
ContextValue = ContextScalar | Sequence[ContextScalar] | None


@dataclass(frozen=True, slots=True)
class Problem:
    """One validation finding.

    ``pointer`` is an RFC 6901 JSON pointer into the document ("" for the whole document), ``message`` is
    AWS's wording, ``code`` the AWS error code the problem maps to (``MalformedPolicyDocument``,
    ``LimitExceeded`` or ``PackedPolicyTooLarge``).
    """

    pointer: str
    message: str
    code: str = "MalformedPolicyDocument"


@dataclass(frozen=True, slots=True)
class PrincipalRef:
    """The caller as resource-based and trust policies see it.

    ``type`` is the ``Principal`` map key the caller can be named under. ``arn`` is the identifier:
    an IAM ARN (user, root, ``arn:…:sts::ACCOUNT:assumed-role/ROLE/SESSION``) for ``AWS``, the provider
    ARN or name (``cognito-identity.amazonaws.com``) for ``Federated``, the service principal
    (``ec2.amazonaws.com``) for ``Service``. ``role_arn`` is the role's ARN for a role session, so a
    policy naming the role matches the session ("AWS JSON policy elements: Principal", "Role session
    principals" https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html).
    """

    arn: str
    account: str | None = None
    type: PrincipalType = "AWS"
    role_arn: str | None = None


def _scalar(value: ContextScalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def normalize_context(context: Mapping[str, ContextValue]) -> dict[str, tuple[str, ...] | str]:
    """Lower-case key names and turn values into strings.

    Single values stay a ``str``; lists become a ``tuple`` (a multivalued key, possibly empty). ``None``
    values are dropped (the key is absent).
    """
    out: dict[str, tuple[str, ...] | str] = {}
    for key, value in context.items():
        if value.__class__ is str:  # the common case, first
            out[key.lower()] = value  # type: ignore[assignment,unused-ignore]
        elif value is None:
            continue
        elif value is True:  # aws:SecureTransport, aws:MultiFactorAuthPresent … as services pass them
            out[key.lower()] = "true"
        elif value is False:
            out[key.lower()] = "false"
        elif isinstance(value, (str, bool, int, float, datetime)):
            out[key.lower()] = _scalar(value)
        else:
            out[key.lower()] = tuple(v if v.__class__ is str else _scalar(v) for v in value)  # type: ignore[misc,unused-ignore]
    return out


_EMPTY: Mapping[str, ContextValue] = {}
_UNPLANNED: Mapping[str, object] = MappingProxyType({})  # ``PolicySet._runners`` before its plan is attached


class Request:
    """One authorization question: may ``principal`` perform ``action`` on ``resource`` with ``context``.

    ``action`` is ``service:Name`` (case-insensitive). ``resource`` is an ARN or ``"*"``. ``context`` maps
    condition keys (any case) to a value or a list of values (a multivalued key). ``principal`` is needed
    only when resource-based or trust policies are evaluated. ``resource_account`` is the account that
    owns the resource; ``None`` means the caller's own account (cross-account requests need both sides
    to allow: "Cross-account policy evaluation logic"
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic-cross-account.html).

    Immutable. A hand-written ``__slots__`` class rather than a dataclass: requests are built per call,
    and this is several times cheaper. ``ctx`` (lower-cased keys, string values) and ``action_key`` are
    derived once here.
    """

    __slots__ = ("action", "action_key", "context", "ctx", "principal", "resource", "resource_account")

    action: str
    resource: str
    context: Mapping[str, ContextValue]
    principal: PrincipalRef | None
    resource_account: str | None
    ctx: dict[str, tuple[str, ...] | str]
    action_key: str

    def __init__(
        self,
        action: str,
        resource: str = "*",
        context: Mapping[str, ContextValue] = _EMPTY,
        principal: PrincipalRef | None = None,
        resource_account: str | None = None,
    ) -> None:
        # The slots' own setters: ``__setattr__`` refuses, and ``object.__setattr__`` would look each name up.
        _set_action(self, action)
        _set_resource(self, resource)
        _set_context(self, context)
        _set_principal(self, principal)
        _set_resource_account(self, resource_account)
        _set_ctx(self, normalize_context(context))
        _set_action_key(self, action.lower())

    @classmethod
    def from_normalized(
        cls,
        action: str,
        resource: str,
        ctx: dict[str, tuple[str, ...] | str],
        principal: PrincipalRef | None = None,
        resource_account: str | None = None,
    ) -> Request:
        """A request whose context is already in :func:`normalize_context`'s form (the hot path).

        ``ctx`` must map lower-case key names to a ``str`` or a ``tuple`` of ``str`` (what
        ``normalize_context`` returns); it is taken over as is, not copied, and is also ``context``.
        Equal to ``Request(action, resource, ctx, …)`` for such a ``ctx`` (unit-tested), without the
        per-key normalisation: callers that keep a principal's keys normalised (``broker.pdp``) add only
        the per-call keys.
        """
        self = _new_request(cls)
        _set_action(self, action)
        _set_resource(self, resource)
        _set_context(self, ctx)
        _set_principal(self, principal)
        _set_resource_account(self, resource_account)
        _set_ctx(self, ctx)
        _set_action_key(self, action.lower())
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Request is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Request is immutable: cannot delete {name!r}")

    def _key(self) -> tuple[object, ...]:
        return (self.action, self.resource, dict(self.context), self.principal, self.resource_account)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Request):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Request(action={self.action!r}, resource={self.resource!r}, context={dict(self.context)!r}, "
            f"principal={self.principal!r}, resource_account={self.resource_account!r})"
        )


_slots = Request.__dict__
_set_action = _slots["action"].__set__
_set_resource = _slots["resource"].__set__
_set_context = _slots["context"].__set__
_set_principal = _slots["principal"].__set__
_set_resource_account = _slots["resource_account"].__set__
_set_ctx = _slots["ctx"].__set__
_set_action_key = _slots["action_key"].__set__
_new_request = object.__new__


class MatchedStatement(NamedTuple):
    """A statement that applied to a request: which policy, which Sid, where, with what effect."""

    policy_id: str
    sid: str | None
    pointer: str
    effect: Literal["Allow", "Deny"]
    set: SetName


class Decision(NamedTuple):
    """The answer, with its reasons.

    ``matched`` lists the statements that decided: the matching Deny statements for ``ExplicitDeny``,
    the matching Allow statements of every set for ``Allow``, and the Allow statements that matched
    but were not enough for ``ImplicitDeny``. ``identity_allowed``, ``resource_grant``,
    ``boundary_allowed`` (``None``: no boundary) and ``session_allowed`` (``None``: no session policy)
    are the per-set results the simulator reports (e.g. ``PermissionsBoundaryDecisionDetail``).
    ``reason`` is one short English sentence for logs and ``explain``.
    """

    effect: Effect
    matched: tuple[MatchedStatement, ...]
    missing_context_keys: tuple[str, ...]
    errors: tuple[str, ...]
    identity_allowed: bool
    resource_grant: ResourceGrant
    boundary_allowed: bool | None
    session_allowed: bool | None
    reason: str

    @property
    def allowed(self) -> bool:
        return self.effect == "Allow"


@dataclass(frozen=True, eq=False)
class PolicySet:
    """The policies one principal is subject to for one request.

    ``identity``: a user's own and its groups' policies, or a role's inline and attached ones.
    ``resource``: resource-based policies (the role's trust policy for ``sts:AssumeRole*``).
    ``boundary``: the permissions boundary, ``None`` when none is set.
    ``session``: session policies (inline ``Policy`` and ``PolicyArns``), ``None`` when the session has none.
    ``resource_must_allow``: the resource policy must allow explicitly (trust policies, KMS key policies);
    ``None`` means "yes for ``sts:AssumeRole*``, no otherwise" ("Policy evaluation logic", "Resource-based
    policies": "role trust policies and KMS key policies" must always allow).

    A ``PolicySet`` caches its evaluation plan (an action index over all its statements); keep and reuse
    it for a principal whose policies have not changed.
    """

    identity: Sequence[CompiledPolicy] = ()
    resource: Sequence[CompiledPolicy] = ()
    boundary: Sequence[CompiledPolicy] | None = None
    session: Sequence[CompiledPolicy] | None = None
    resource_must_allow: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_plan", None)  # the evaluation plan, attached on first use (plan.py)
        object.__setattr__(self, "_runners", _UNPLANNED)  # its decision functions by action, attached with it
        # Freeze the sequences: the evaluation plan cached on this object must not go stale.
        object.__setattr__(self, "identity", tuple(self.identity))
        object.__setattr__(self, "resource", tuple(self.resource))
        if self.boundary is not None:
            object.__setattr__(self, "boundary", tuple(self.boundary))
        if self.session is not None:
            object.__setattr__(self, "session", tuple(self.session))
