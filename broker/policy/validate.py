"""Validate a policy document for its kind, collecting every problem with a JSON pointer.

Grammar: "IAM JSON policy grammar" (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html)
and "IAM JSON policy elements reference"
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html). Messages are AWS's
``MalformedPolicyDocument`` wording as returned by IAM (and mirrored by moto's validator):

- not JSON, duplicate key, wrong JSON type, X and NotX together, unknown operator: ``Syntax errors in policy.``
- an element not in the grammar: ``Unknown field X``
- ``"Effect": "allow"`` (wrong case): ``The policy failed legacy parsing``
- no Action/NotAction, or an empty list: ``Policy statement must contain actions.``
- no Resource/NotResource (identity, boundary, session, resource): ``Policy statement must contain resources.``
- Resource in a trust policy: ``Has prohibited field Resource``
- Principal in an identity policy or boundary: ``Has prohibited field Principal``
- Principal in a session policy: ``Policy document should not specify a principal.``
- no Principal in a trust or resource policy: ``Missing required field Principal``
- a bad principal value: ``Invalid principal in policy``
- an action or condition key without ``vendor:``:
  ``Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.``
- two colons in an action: ``Actions/Condition can contain only one colon.``
- a trust policy action that is not an ``sts:`` role action: ``Policy has invalid action``
- a repeated Sid: ``Statement IDs (SID) in a single policy must be unique.``
- a Sid that is not alphanumeric (IAM policies): ``Statement IDs (SID) must be alpha-numeric. …``

Resource ARN checks follow the same source ('Resource X must be in ARN format or "*".', "Resource vendor
must be fully qualified and cannot contain regexes.", "IAM resource X cannot contain region
information."). Sizes: see ``size.py``. Condition values the operator cannot take (a bad date, CIDR,
number, base64, Bool) are refused here so that nothing is found out at evaluation time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from broker.errors import LimitExceeded, MalformedPolicyDocument, PackedPolicyTooLarge
from broker.policy.conditions.clause import Clause
from broker.policy.elements import SYNTAX, action_problem, condition_clauses, resource_problem
from broker.policy.model import PolicyKind, Problem
from broker.policy.parse import child_pointer, parse_document
from broker.policy.principals import check_principal
from broker.policy.size import DEFAULT_MAX_SIZE, policy_size, size_problem_code, size_problem_message

__all__ = [
    "DEFAULT_MAX_SIZE",
    "SYNTAX",
    "PackedPolicyError",
    "PolicyDocumentError",
    "PolicySizeError",
    "PolicySpec",
    "StatementSpec",
    "check",
    "policy_size",
    "raise_for",
    "validate",
]

LEGACY = "The policy failed legacy parsing"
NO_ACTIONS = "Policy statement must contain actions."
NO_RESOURCES = "Policy statement must contain resources."
SID_UNIQUE = "Statement IDs (SID) in a single policy must be unique."
SID_ALNUM = (
    "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"
)
VERSIONS = ("2012-10-17", "2008-10-17")
TOP_ELEMENTS = ("Version", "Id", "Statement")
STATEMENT_ELEMENTS = (
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
)
_HARD_CAP = 131072  # never parse more than this many characters
_ALLOWED_CHARS = re.compile(r"^[\t\n\r\u0020-\u00ff]*$")
_SID = re.compile(r"^[0-9A-Za-z]*$")


@dataclass(frozen=True, slots=True)
class StatementSpec:
    """A validated statement, normalised: every element a tuple; ``pointer`` locates it."""

    pointer: str
    sid: str | None
    effect: str
    principal: dict[str, tuple[str, ...]] | None
    not_principal: bool
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...] | None
    not_resource: bool
    clauses: tuple[Clause, ...]


@dataclass(frozen=True, slots=True)
class PolicySpec:
    version: str
    id: str | None
    statements: tuple[StatementSpec, ...]

    @property
    def variables(self) -> bool:
        """Policy variables are substituted only under 2012-10-17."""
        return self.version == "2012-10-17"


class PolicyDocumentError(MalformedPolicyDocument):
    """``MalformedPolicyDocument`` carrying every problem found (``problems``)."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].message, detail="; ".join(f"{p.pointer or '/'}: {p.message}" for p in problems))
        self.problems = tuple(problems)


class PolicySizeError(LimitExceeded):
    """``LimitExceeded``: the document is larger than its quota."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].message)
        self.problems = tuple(problems)


class PackedPolicyError(PackedPolicyTooLarge):
    """``PackedPolicyTooLarge``: a session policy is larger than its quota."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].message)
        self.problems = tuple(problems)


def raise_for(problems: list[Problem]) -> None:
    """Raise the error that fits ``problems`` (malformed first, then size); return if there are none."""
    if not problems:
        return
    malformed = [p for p in problems if p.code == "MalformedPolicyDocument"]
    if malformed:
        raise PolicyDocumentError(malformed)
    if problems[0].code == "PackedPolicyTooLarge":
        raise PackedPolicyError(problems)
    raise PolicySizeError(problems)


def validate(document: str, kind: PolicyKind, *, max_size: int | None = None) -> list[Problem]:
    """Every problem in ``document`` as a ``kind`` policy, in document order; ``[]`` when valid."""
    return check(document, kind, max_size=max_size)[0]


def check(document: str, kind: PolicyKind, *, max_size: int | None = None) -> tuple[list[Problem], PolicySpec | None]:
    """Problems, and the normalised policy when there are none."""
    problems: list[Problem] = []
    limit = DEFAULT_MAX_SIZE[kind] if max_size is None else max_size
    if policy_size(document) > limit:
        problems.append(Problem("", size_problem_message(kind, limit), size_problem_code(kind)))
    if len(document) > _HARD_CAP:
        return problems, None
    if not _ALLOWED_CHARS.match(document):
        problems.append(Problem("", SYNTAX))
    parsed = parse_document(document)
    if parsed is None or not isinstance(parsed.value, dict):
        problems.append(Problem("", SYNTAX))
        return problems, None
    problems.extend(Problem(pointer, SYNTAX) for pointer in parsed.duplicate_pointers)
    doc: dict[str, Any] = parsed.value
    for key in doc:
        if key not in TOP_ELEMENTS:
            problems.append(Problem(child_pointer("", key), f"Unknown field {key}"))
    version = doc.get("Version", "2008-10-17")
    if version not in VERSIONS:
        problems.append(Problem("/Version", SYNTAX))
    policy_id = doc.get("Id")
    if policy_id is not None and not isinstance(policy_id, str):
        problems.append(Problem("/Id", SYNTAX))
    raw = doc.get("Statement")
    entries: list[tuple[str, Any]] = []
    if raw is None:
        problems.append(Problem("", "Missing required field Statement"))
    elif isinstance(raw, dict):
        entries.append(("/Statement", raw))
    elif isinstance(raw, list) and raw:
        entries.extend((child_pointer("/Statement", i), s) for i, s in enumerate(raw))
    else:
        problems.append(Problem("/Statement", SYNTAX))
    sids: set[str] = set()
    statements = []
    for pointer, statement in entries:
        spec = _statement(statement, pointer, kind, version == "2012-10-17", sids, problems)
        if spec is not None:
            statements.append(spec)
    if problems:
        return problems, None
    return problems, PolicySpec(str(version), policy_id, tuple(statements))


def _strings(value: Any) -> list[str] | None:
    """A string or a list of strings, as a list; ``None`` for any other JSON type."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _pick(st: dict[str, Any], name: str, pointer: str, problems: list[Problem]) -> tuple[str | None, bool]:
    """Which of ``name`` / ``Not<name>`` the statement uses; both at once is a syntax error."""
    has, has_not = name in st, f"Not{name}" in st
    if has and has_not:
        problems.append(Problem(pointer, SYNTAX))
    if has:
        return name, False
    if has_not:
        return f"Not{name}", True
    return None, False


def _statement(
    st: Any, pointer: str, kind: PolicyKind, variables: bool, sids: set[str], problems: list[Problem]
) -> StatementSpec | None:
    before = len(problems)
    if not isinstance(st, dict):
        problems.append(Problem(pointer, SYNTAX))
        return None
    for key in st:
        if key not in STATEMENT_ELEMENTS:
            problems.append(Problem(child_pointer(pointer, key), f"Unknown field {key}"))
    sid = st.get("Sid")
    if sid is not None:
        at = child_pointer(pointer, "Sid")
        if not isinstance(sid, str):
            problems.append(Problem(at, SYNTAX))
        elif kind != "resource" and not _SID.match(sid):
            problems.append(Problem(at, SID_ALNUM))
        elif sid and sid in sids:
            problems.append(Problem(at, SID_UNIQUE))
        elif sid:
            sids.add(sid)
    effect = st.get("Effect")
    if effect is None:
        problems.append(Problem(pointer, "Missing required field Effect"))
    elif effect not in ("Allow", "Deny"):
        legacy = isinstance(effect, str) and effect.lower() in ("allow", "deny")
        problems.append(Problem(child_pointer(pointer, "Effect"), LEGACY if legacy else SYNTAX))
    principal, not_principal = _principal(st, pointer, kind, problems)
    actions, not_action = _actions(st, pointer, kind, problems)
    resources, not_resource = _resources(st, pointer, kind, variables, problems)
    clauses = condition_clauses(st.get("Condition"), child_pointer(pointer, "Condition"), variables, problems)
    if len(problems) > before:
        return None
    return StatementSpec(
        pointer,
        sid or None,
        str(effect),
        principal,
        not_principal,
        actions,
        not_action,
        resources,
        not_resource,
        clauses,
    )


def _principal(
    st: dict[str, Any], pointer: str, kind: PolicyKind, problems: list[Problem]
) -> tuple[dict[str, tuple[str, ...]] | None, bool]:
    name, negated = _pick(st, "Principal", pointer, problems)
    if name is not None and kind in ("identity", "boundary"):
        problems.append(Problem(child_pointer(pointer, name), f"Has prohibited field {name}"))
        return None, False
    if name is not None and kind == "session":
        problems.append(Problem(child_pointer(pointer, name), "Policy document should not specify a principal."))
        return None, False
    if name == "NotPrincipal" and kind == "trust":
        problems.append(Problem(child_pointer(pointer, name), "Has prohibited field NotPrincipal"))
        return None, False
    if name is None:
        if kind in ("trust", "resource"):
            problems.append(Problem(pointer, "Missing required field Principal"))
        return None, False
    return check_principal(st[name], child_pointer(pointer, name), problems), negated


def _actions(
    st: dict[str, Any], pointer: str, kind: PolicyKind, problems: list[Problem]
) -> tuple[tuple[str, ...], bool]:
    name, negated = _pick(st, "Action", pointer, problems)
    if name is None:
        problems.append(Problem(pointer, NO_ACTIONS))
        return (), False
    at = child_pointer(pointer, name)
    values = _strings(st[name])
    if values is None:
        problems.append(Problem(at, SYNTAX))
        return (), False
    if not values:
        problems.append(Problem(at, NO_ACTIONS))
    for index, action in enumerate(values):
        message = action_problem(action, kind)
        if message is not None:
            problems.append(Problem(at if isinstance(st[name], str) else child_pointer(at, index), message))
    return tuple(values), negated


def _resources(
    st: dict[str, Any], pointer: str, kind: PolicyKind, variables: bool, problems: list[Problem]
) -> tuple[tuple[str, ...] | None, bool]:
    name, negated = _pick(st, "Resource", pointer, problems)
    if kind == "trust":
        if name is not None:
            problems.append(Problem(child_pointer(pointer, name), f"Has prohibited field {name}"))
        return None, False
    if name is None:
        problems.append(Problem(pointer, NO_RESOURCES))
        return None, False
    at = child_pointer(pointer, name)
    values = _strings(st[name])
    if values is None:
        problems.append(Problem(at, SYNTAX))
        return None, False
    if not values:
        problems.append(Problem(at, NO_RESOURCES))
    for index, resource in enumerate(values):
        message = resource_problem(resource, variables)
        if message is not None:
            problems.append(Problem(at if isinstance(st[name], str) else child_pointer(at, index), message))
    return tuple(values), negated
